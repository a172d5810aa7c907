"""Ranked recovery suggestions for a classified failure.

Candidate strategies, each only where it applies:

- ``retry``: the same task again after a backoff delay, while attempts are left and the
  agent's breaker is not open;
- ``agent_reallocation``: the task to another agent after the same backoff (a failure that
  follows the task from agent to agent must not come back at once), while attempts are
  left and another agent is available;
- ``checkpoint_rollback``: restore the last checkpoint keeping completed work, when one
  exists and attempts are left (always for ``state`` errors, which a retry cannot fix);
- ``skip``: go on without the task, when it is optional;
- the fallback, always: ``escalate`` (a person decides) or ``fail``.

Each gets a success probability from :data:`SUCCESS` by error type, adjusted: a retry loses a
fifth of its chance per earlier attempt and two thirds when the error is not retriable; a
reallocation is likely (0.9) when the agent is the problem (agent scope, or its breaker not
closed) and less so for system or dependency errors, which another agent meets too; a
rollback is likely (0.9) for state errors; everything but the fallback keeps a fifth of its
chance when the error is not recoverable.

Suggestions are ranked by expected cost, in seconds: ``estimated time + resource_weight *
agent-seconds used + (1 - success probability) * failure_penalty``, plus ``skip_penalty``
for the output a skip gives up. ``fail`` costs exactly ``failure_penalty``. All the numbers
are in :class:`CostModel` and :data:`SUCCESS`; the protocol gives none but the example's
``estimated_time`` of a few minutes and probabilities around 0.9.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from baton.backoff import BackoffPolicy
from baton.protocol.duration import format_duration
from baton.protocol.messages.error_report import ErrorType
from baton_recovery.failures.breaker import BreakerState
from baton_recovery.failures.classify import Classification

__all__ = ["SUCCESS", "CostModel", "Strategy", "Suggestion", "suggest"]

Strategy = Literal["retry", "agent_reallocation", "checkpoint_rollback", "skip", "escalate", "fail"]
"""Recovery strategies, named as the protocol names them where it does."""

SUCCESS: Final[dict[str, dict[ErrorType, float]]] = {
    "retry": {"timeout": 0.6, "conflict": 0.7, "corruption": 0.05, "unavailable": 0.5,
              "limit_exceeded": 0.4},
    "agent_reallocation": {"timeout": 0.85, "conflict": 0.5, "corruption": 0.2,
                           "unavailable": 0.8, "limit_exceeded": 0.6},
    "checkpoint_rollback": {"timeout": 0.5, "conflict": 0.8, "corruption": 0.9,
                            "unavailable": 0.4, "limit_exceeded": 0.3},
    "skip": dict.fromkeys(("timeout", "conflict", "corruption", "unavailable",
                           "limit_exceeded"), 0.95),
    "escalate": dict.fromkeys(("timeout", "conflict", "corruption", "unavailable",
                               "limit_exceeded"), 0.8),
}  # fmt: skip
"""Base success probability of each strategy by error type."""

_ORDER: Final[tuple[Strategy, ...]] = (
    "retry",
    "agent_reallocation",
    "checkpoint_rollback",
    "skip",
    "escalate",
    "fail",
)


@dataclass(frozen=True, slots=True)
class CostModel:
    """Times and penalties of the ranking, in seconds (module doc)."""

    reassign_overhead: float = 60.0
    """Finding another agent and handing the task over."""
    restore_overhead: float = 180.0
    """Restoring a checkpoint (the protocol's example: 3m)."""
    escalate_seconds: float = 1800.0
    """Until a person has decided."""
    failure_penalty: float = 3600.0
    """Cost of a strategy that does not work, and of failing outright."""
    skip_penalty: float = 1800.0
    """Worth of the output a skipped task gives up."""
    resource_weight: float = 0.5
    """Cost of one agent-second relative to one second of delay."""


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One ranked way to recover."""

    strategy: Strategy
    description: str
    success_probability: float
    estimated_seconds: float
    """Until the task has a result again (or the workflow moves on)."""
    resource_cost: float
    """Agent-seconds it uses."""
    expected_cost: float
    """The ranking key (module doc); lower is better."""

    def to_dict(self) -> dict[str, Any]:
        """The protocol's ``recovery_suggestions`` item."""
        return {
            "strategy": self.strategy,
            "description": self.description,
            "estimated_time": format_duration(round(self.estimated_seconds)),
            "success_probability": round(self.success_probability, 4),
        }


def _probability(
    strategy: Strategy, c: Classification, *, attempts: int, breaker: BreakerState
) -> float:
    if strategy == "fail":
        return 0.0
    p = SUCCESS[strategy][c.type]
    if strategy == "retry":
        p *= 0.8 ** max(0, attempts - 1)
        if not c.retriable:
            p /= 3
    elif strategy == "agent_reallocation":
        if c.scope == "agent" or breaker != "closed":
            p = max(p, 0.9)
        if c.category in {"system", "dependency"}:
            p *= 0.5
    elif strategy == "checkpoint_rollback" and c.category == "state":
        p = max(p, 0.9)
    if not c.recoverable and strategy != "escalate":
        p /= 5
    return min(1.0, max(0.0, p))


def suggest(
    *,
    classification: Classification,
    attempts: int,
    max_attempts: int | None = 3,
    breaker: BreakerState = "closed",
    has_checkpoint: bool = False,
    skippable: bool = False,
    spare_agents: bool = True,
    task_seconds: float = 300.0,
    rollback_seconds: float | None = None,
    backoff: BackoffPolicy | None = None,
    fallback: Literal["escalate", "fail"] = "escalate",
    costs: CostModel | None = None,
) -> list[Suggestion]:
    """Applicable recovery strategies, best (lowest expected cost) first (module doc).

    Args:
        classification: The failure's classification.
        attempts: Attempts of the task so far, the failed one included.
        max_attempts: Attempts allowed in all; None for no limit.
        breaker: State of the failed agent's circuit breaker.
        has_checkpoint: A checkpoint of the workflow exists to roll back to.
        skippable: The task is optional.
        spare_agents: Another agent is available to take the task.
        task_seconds: Expected duration of the task.
        rollback_seconds: Work to redo after a rollback; default ``task_seconds``.
        backoff: Retry delays; default :class:`BackoffPolicy` with ``max_attempts``.
        fallback: The last resort: ``escalate`` or ``fail``.
        costs: Times and penalties; default :class:`CostModel`.
    """
    costs = costs or CostModel()
    backoff = backoff or BackoffPolicy(max_attempts=max_attempts)
    left = max_attempts is None or attempts < max_attempts
    of_max = f" of {max_attempts}" if max_attempts is not None else ""
    delay = backoff.expected_delay(max(1, attempts)) if left else 0.0
    redo = task_seconds if rollback_seconds is None else rollback_seconds
    plans: dict[Strategy, tuple[bool, float, float, str]] = {
        "retry": (
            left and breaker != "open",
            delay + task_seconds,
            task_seconds,
            f"Retry the task after a {format_duration(round(delay, 3))} backoff "
            f"(attempt {attempts + 1}{of_max})",
        ),
        "agent_reallocation": (
            left and spare_agents,
            delay + costs.reassign_overhead + task_seconds,
            task_seconds + costs.reassign_overhead,
            f"Reassign the task to another available agent after a "
            f"{format_duration(round(delay, 3))} backoff",
        ),
        "checkpoint_rollback": (
            has_checkpoint and (left or classification.category == "state"),
            costs.restore_overhead + redo,
            redo,
            "Roll back to the last stable checkpoint, keeping completed work",
        ),
        "skip": (
            skippable,
            0.0,
            0.0,
            "Skip the optional task; its dependants go on without its output",
        ),
        "escalate": (
            fallback == "escalate",
            costs.escalate_seconds,
            0.0,
            "Escalate to an operator; the workflow pauses until they decide",
        ),
        "fail": (fallback == "fail", 0.0, 0.0, "Fail the task and its workflow"),
    }
    out: list[Suggestion] = []
    for strategy, (applies, seconds, agent_seconds, text) in plans.items():
        if not applies:
            continue
        p = _probability(strategy, classification, attempts=attempts, breaker=breaker)
        cost = seconds + costs.resource_weight * agent_seconds + (1 - p) * costs.failure_penalty
        if strategy == "skip":
            cost += costs.skip_penalty
        out.append(Suggestion(strategy, text, p, seconds, agent_seconds, cost))
    out.sort(key=lambda s: (s.expected_cost, _ORDER.index(s.strategy)))
    return out
