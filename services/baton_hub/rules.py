"""Conditional routing rules (``ConditionalRule``): a condition on state → a decision.

A rule compares one context value (``condition_key``) with ``condition_value``; the first
matching rule in order of ``priority`` (higher first, ties in definition order) decides.

When rules are evaluated:

- A task failure (an agent's report, an execution timeout, a dependency wait that timed
  out, a quality gate never met). Context keys: ``workflow_id``, ``task_id``, ``phase``,
  ``phase_number``, ``role``, ``agent_id``, ``attempts``, ``error_count`` (failures of this
  task so far, this one included), ``retry_count``, ``failure_type`` (``error``,
  ``execution_timeout``, ``dependency_timeout``, ``quality_gate``), ``failure_reason``,
  ``quality_score``, ``priority``; for a dependency timeout also ``dependency`` (the task id
  or external dependency waited for) and ``dependency_kind`` (``agent_completion``,
  ``quality_gate``, ``external``). Every decision applies; for a dependency timeout
  ``retry`` means wait longer (see :mod:`baton_hub.failures`).
- Scheduling, when a ready task finds no free agent. The same keys (``failure_type`` is
  ``none``) plus ``ready_tasks``, ``free_agents`` and ``busy_agents``; only ``parallelize``
  rules are considered there, and a match lets the task share an agent that is busy.

A key missing from the context, or values that cannot be compared (a number with a string),
never match: a rule about ``quality_score`` does not fire for a task without a score.
``in`` means "is one of" when ``condition_value`` is a list and "is a substring of" when it
is a string.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator

__all__ = ["ConditionalRule", "Operator", "RoutingDecision", "evaluate_rules"]

RoutingDecision = Literal["retry", "skip", "fail", "escalate", "parallelize"]
"""What a matching rule decides (definitions may write them upper-case; both are accepted)."""

Operator = Literal[">", ">=", "<", "<=", "==", "!=", "in"]
"""Comparison of the context value (left) with the rule's value (right)."""

_COMPARE: Final[dict[str, Callable[[Any, Any], Any]]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


class ConditionalRule(BaseModel):
    """One routing rule.

    Attributes:
        rule_id: Unique id of the rule.
        name: Human-readable name.
        condition_key: Context key compared, e.g. ``error_count``.
        condition_operator: One of ``> >= < <= == != in``.
        condition_value: Value compared with (a list or string for ``in``).
        decision: ``retry``, ``skip``, ``fail``, ``escalate`` or ``parallelize``.
        priority: Higher is evaluated first.
        max_attempts: For retry and parallelize: attempts allowed in all; unset means the
            task's ``max_retries`` + 1.
    """

    model_config = ConfigDict(extra="forbid")

    rule_id: str = Field(min_length=1)
    name: str = ""
    condition_key: str = Field(min_length=1)
    condition_operator: Operator
    condition_value: Any = None
    decision: RoutingDecision
    priority: int = 0
    max_attempts: PositiveInt | None = None

    @field_validator("decision", mode="before")
    @classmethod
    def _lower_decision(cls, value: Any) -> Any:
        # Definitions may write RoutingDecision.RETRY; JSON definitions say "RETRY" or "retry".
        return value.lower() if isinstance(value, str) else value

    def matches(self, context: Mapping[str, Any]) -> bool:
        """True when the rule's condition holds in ``context``."""
        if self.condition_key not in context:
            return False
        left = context[self.condition_key]
        right = self.condition_value
        if self.condition_operator == "in":
            if isinstance(right, str):
                return isinstance(left, str) and left in right
            return isinstance(right, list) and left in right
        if left is None or right is None:
            return self.condition_operator in {"==", "!="} and (
                (left is right) == (self.condition_operator == "==")
            )
        try:
            return bool(_COMPARE[self.condition_operator](left, right))
        except TypeError:
            return False


def evaluate_rules(
    rules: Sequence[ConditionalRule],
    *,
    context: Mapping[str, Any],
    decisions: Collection[RoutingDecision] | None = None,
) -> ConditionalRule | None:
    """The first rule, by priority, whose condition holds, or None.

    Args:
        rules: Rules in definition order.
        context: Values the conditions are checked against.
        decisions: Only rules with one of these decisions are considered (all when None).
    """
    ordered = sorted(enumerate(rules), key=lambda pair: (-pair[1].priority, pair[0]))
    for _, rule in ordered:
        if decisions is not None and rule.decision not in decisions:
            continue
        if rule.matches(context):
            return rule
    return None
