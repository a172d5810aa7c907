"""What to do about a failure.

:func:`decide` turns a classified failure into one :class:`Decision`: the best-ranked
suggestion of :func:`~baton_recovery.failures.suggestions.suggest` under the policy's limits, so the
action taken is the first suggestion of the error report. An error that is not recoverable
goes straight to the policy's fallback (``fail`` by default, as the hub fails a task no rule
retries; or ``escalate``). A retry or a reassignment waits the policy's backoff for the
failed attempt (growing attempt by attempt, with jitter): the next attempt of a task that
keeps failing comes later each time whether it stays on its agent or moves; a reassignment
also names the agent to avoid, a restore names the checkpoint. ``delay_seconds`` is the
wait the action is scheduled with, and the reason says it.

Restoring a checkpoint is the hub's (``baton_hub.recovery.restore``): it owns the state
and its rules for what a restore keeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

from baton.backoff import BackoffPolicy, RandomSource
from baton_recovery.failures.breaker import BreakerState
from baton_recovery.failures.classify import Classification
from baton_recovery.failures.suggestions import CostModel, Strategy, Suggestion, suggest

__all__ = [
    "Decision",
    "DecisionKind",
    "RecoveryPolicy",
    "decide",
]

DecisionKind = Literal["retry", "reassign", "restore", "skip", "escalate", "fail"]
"""The action to take."""

_KIND: Final[dict[Strategy, DecisionKind]] = {
    "retry": "retry",
    "agent_reallocation": "reassign",
    "checkpoint_rollback": "restore",
    "skip": "skip",
    "escalate": "escalate",
    "fail": "fail",
}

_BACKED_OFF: Final[frozenset[DecisionKind]] = frozenset({"retry", "reassign"})
"""Decisions that try the failed task again, after the backoff of the failed attempt."""


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
        delay_seconds: Wait before a retry or reassignment (the action is due then).
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
        """JSON-ready data of the decision (suggestions as the protocol's items)."""
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
        rand: Random source of the backoff's jitter.
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
    if kind in _BACKED_OFF:
        delay = policy.backoff.delay(attempt=attempts, rand=rand, previous=previous_delay) or 0.0
        reason += f"; next attempt in {delay:.3f}s"
    return Decision(
        kind=kind,
        reason=reason,
        attempt=attempts + 1 if starts_attempt else attempts,
        delay_seconds=delay,
        avoid_agents=(agent_id,) if kind == "reassign" and agent_id is not None else (),
        checkpoint_id=checkpoint_id if kind == "restore" else None,
        suggestions=tuple(ranked),
    )
