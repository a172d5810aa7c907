"""What to do about a failure, and restoring a checkpoint while keeping completed work.

:func:`decide` turns a classified failure into one :class:`Decision`: the best-ranked
suggestion of :func:`~baton_recovery.suggestions.suggest` under the policy's limits, so the
action taken is the first suggestion of the error report. An error that is not recoverable
goes straight to the policy's fallback (``fail`` by default, as the hub fails a task no rule
retries; or ``escalate``). A retry gets its delay from the policy's backoff, a reassignment
names the agent to avoid, a restore names the checkpoint.

:func:`merge_restore` rebuilds a workflow state from a checkpoint and the current state, on
the neutral shape ``{"tasks": {task_id: {"status": ..., ...}}, ...}``:

- everything but the tasks comes from the checkpoint;
- a task done now (``completed`` or ``skipped``) stays as it is now, results included
  (counters aside, below): completed work is kept, and a skip decided since stays decided;
- every other task comes from the checkpoint, and one that was in flight (``assigned``,
  ``running``) or ``failed`` there goes back to ``pending``, its agent, times, results and
  failure cleared (keys present are set to None, none added); a task only the current state
  has, not done, is added as ``pending`` likewise;
- counters never go backwards: ``attempts``, ``error_count`` and ``fencing_token`` keep the
  larger of both states (a report from before the restore stays stale, and a task that
  keeps failing still runs out of attempts), and a top-level ``state_version`` becomes one
  more than the larger of both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeGuard

from baton_recovery.backoff import BackoffPolicy, RandomSource
from baton_recovery.breaker import BreakerState
from baton_recovery.classify import Classification
from baton_recovery.delta import copy_json
from baton_recovery.impact import DONE, IN_FLIGHT
from baton_recovery.suggestions import CostModel, Strategy, Suggestion, suggest

__all__ = [
    "MONOTONIC_KEYS",
    "RUNTIME_KEYS",
    "Decision",
    "DecisionKind",
    "RecoveryPolicy",
    "RestoreResult",
    "decide",
    "merge_restore",
]

DecisionKind = Literal["retry", "reassign", "restore", "skip", "escalate", "fail"]
"""The action to take."""

RUNTIME_KEYS: Final = (
    "agent_id",
    "agent",
    "assigned_at",
    "started_at",
    "completed_at",
    "failure_reason",
    "results",
    "progress",
)
"""Task fields cleared when a task goes back to pending."""
MONOTONIC_KEYS: Final = ("attempts", "error_count", "fencing_token")
"""Task counters that keep the larger value of both states."""

_KIND: Final[dict[Strategy, DecisionKind]] = {
    "retry": "retry",
    "agent_reallocation": "reassign",
    "checkpoint_rollback": "restore",
    "skip": "skip",
    "escalate": "escalate",
    "fail": "fail",
}


@dataclass(frozen=True, slots=True)
class RecoveryPolicy:
    """Limits on recovery.

    Attributes:
        backoff: Retry delays and the attempts allowed in all.
        fallback: What to do when nothing else applies: ``fail`` or ``escalate``.
        allow_skip: Optional tasks may be skipped automatically.
        allow_restore: Checkpoints may be restored automatically.
        costs: Times and penalties of the ranking.
    """

    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    fallback: Literal["escalate", "fail"] = "fail"
    allow_skip: bool = True
    allow_restore: bool = True
    costs: CostModel = field(default_factory=CostModel)


@dataclass(frozen=True, slots=True)
class Decision:
    """The action chosen for a failure.

    Attributes:
        kind: retry, reassign, restore, skip, escalate or fail.
        reason: Why, for people.
        attempt: The attempt the action starts (retry, reassign, restore), else the last one.
        delay_seconds: Wait before a retry.
        avoid_agents: Agents a reassignment must not choose.
        checkpoint_id: The checkpoint a restore goes back to.
        suggestions: Every suggestion considered, best first (the chosen one first).
    """

    kind: DecisionKind
    reason: str
    attempt: int
    delay_seconds: float = 0.0
    avoid_agents: tuple[str, ...] = ()
    checkpoint_id: str | None = None
    suggestions: tuple[Suggestion, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data of the decision (suggestions as seed 001 items)."""
        return {
            "kind": self.kind,
            "reason": self.reason,
            "attempt": self.attempt,
            "delay_seconds": self.delay_seconds,
            "avoid_agents": list(self.avoid_agents),
            "checkpoint_id": self.checkpoint_id,
            "suggestions": [s.to_dict() for s in self.suggestions],
        }


def decide(
    *,
    classification: Classification,
    attempts: int,
    policy: RecoveryPolicy,
    rand: RandomSource,
    agent_id: str | None = None,
    breaker: BreakerState = "closed",
    checkpoint_id: str | None = None,
    skippable: bool = False,
    spare_agents: bool = True,
    task_seconds: float = 300.0,
    previous_delay: float | None = None,
) -> Decision:
    """The action to take for a failure (module doc).

    Args:
        classification: The failure's classification.
        attempts: Attempts of the task so far, the failed one included (at least 1).
        policy: Limits on recovery.
        rand: Random source of the retry jitter.
        agent_id: Agent that failed, if any.
        breaker: State of that agent's circuit breaker.
        checkpoint_id: Latest checkpoint of the workflow, if any.
        skippable: The task is optional.
        spare_agents: Another agent is available.
        task_seconds: Expected duration of the task.
        previous_delay: Delay before the failed attempt (decorrelated jitter).
    """
    attempts = max(1, attempts)
    if not classification.recoverable:
        return Decision(
            kind=policy.fallback,
            reason=f"{policy.fallback}: the error is not recoverable ({classification.rule})",
            attempt=attempts,
        )
    ranked = suggest(
        classification=classification,
        attempts=attempts,
        max_attempts=policy.backoff.max_attempts,
        breaker=breaker,
        has_checkpoint=checkpoint_id is not None and policy.allow_restore,
        skippable=skippable and policy.allow_skip,
        spare_agents=spare_agents,
        task_seconds=task_seconds,
        backoff=policy.backoff,
        fallback=policy.fallback,
        costs=policy.costs,
    )
    best = ranked[0]  # the fallback always applies
    kind = _KIND[best.strategy]
    reason = (
        f"{best.strategy}: {best.description} (success {best.success_probability:.0%}, "
        f"expected cost {best.expected_cost:.0f}s; {classification.category}/"
        f"{classification.type} after {attempts} attempt{'s' if attempts != 1 else ''})"
    )
    starts_attempt = kind in {"retry", "reassign", "restore"}
    delay = 0.0
    if kind == "retry":
        delay = policy.backoff.delay(attempt=attempts, rand=rand, previous=previous_delay) or 0.0
    return Decision(
        kind=kind,
        reason=reason,
        attempt=attempts + 1 if starts_attempt else attempts,
        delay_seconds=delay,
        avoid_agents=(agent_id,) if kind == "reassign" and agent_id is not None else (),
        checkpoint_id=checkpoint_id if kind == "restore" else None,
        suggestions=tuple(ranked),
    )


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """A restored state and what the merge did to its tasks."""

    state: dict[str, Any]
    kept: tuple[str, ...]
    """Tasks done since the checkpoint, kept done."""
    reset: tuple[str, ...]
    """Tasks set back to pending."""


def _tasks(state: Mapping[str, Any]) -> Mapping[str, Any]:
    tasks = state.get("tasks")
    return tasks if isinstance(tasks, Mapping) else {}


def _status(task: Any) -> Any:
    return task.get("status") if isinstance(task, Mapping) else None


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _to_pending(task: dict[str, Any]) -> None:
    task["status"] = "pending"
    for key in RUNTIME_KEYS:
        if key in task:
            task[key] = None


def merge_restore(*, checkpoint: Mapping[str, Any], current: Mapping[str, Any]) -> RestoreResult:
    """The state after restoring ``checkpoint``, keeping the work done since (module doc).

    Neither input is changed; the result shares nothing with them.
    """
    state: dict[str, Any] = copy_json(dict(checkpoint))
    then = _tasks(checkpoint)
    now = _tasks(current)
    tasks: dict[str, Any] = copy_json(dict(then))
    kept: list[str] = []
    reset: list[str] = []
    for task_id, task in now.items():
        if _status(task) in DONE:
            tasks[task_id] = copy_json(dict(task))
            if _status(then.get(task_id)) != _status(task):
                kept.append(task_id)
        elif task_id not in then and isinstance(task, Mapping):
            tasks[task_id] = copy_json(dict(task))
            _to_pending(tasks[task_id])
            reset.append(task_id)
    for task_id, task in tasks.items():
        if not isinstance(task, dict):
            continue
        if _status(task) in IN_FLIGHT | {"failed"}:
            _to_pending(task)
            reset.append(task_id)
        sides = [s for s in (then.get(task_id), now.get(task_id)) if isinstance(s, Mapping)]
        for key in MONOTONIC_KEYS:
            values = [v for s in sides if _is_int(v := s.get(key))]
            if values:
                task[key] = max(values)
    state["tasks"] = tasks
    versions = [
        v for v in (checkpoint.get("state_version"), current.get("state_version")) if _is_int(v)
    ]
    if versions:
        state["state_version"] = max(versions) + 1
    return RestoreResult(state=state, kept=tuple(kept), reset=tuple(dict.fromkeys(reset)))
