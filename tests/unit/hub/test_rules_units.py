"""Rule conditions, unit parsing, and the hub's catalogue of custom event types."""

from __future__ import annotations

import re
from typing import Any

import pytest

from baton.protocol.registry import EventRegistry
from baton_hub.events import CUSTOM_EVENT_TYPES
from baton_hub.rules import ConditionalRule, evaluate_rules
from baton_hub.units import iso, parse_memory_gb
from tests.unit.hub.helpers import T0


def make(op: str, value: Any, *, decision: str = "retry", priority: int = 0) -> ConditionalRule:
    return ConditionalRule.model_validate(
        {
            "rule_id": f"r_{op}_{priority}",
            "condition_key": "k",
            "condition_operator": op,
            "condition_value": value,
            "decision": decision,
            "priority": priority,
        }
    )


@pytest.mark.parametrize(
    ("op", "value", "actual", "expected"),
    [
        (">", 0, 1, True),
        (">", 0, 0, False),
        (">=", 3, 3, True),
        ("<", 0.8, 0.5, True),
        ("<=", 3, 4, False),
        ("==", "parser", "parser", True),
        ("!=", "parser", "writer", True),
        ("in", ["a", "b"], "b", True),
        ("in", ["a", "b"], "c", False),
        ("in", "connection timeout", "timeout", True),
        ("<", 0.8, None, False),
        ("==", None, None, True),
        ("!=", None, 1, True),
        (">", 1, "text", False),
    ],
)
def test_conditions(op: str, value: Any, actual: Any, expected: bool) -> None:
    assert make(op, value).matches({"k": actual}) is expected


def test_missing_key_never_matches() -> None:
    assert make("!=", 1).matches({}) is False


def test_priority_order_and_decision_filter() -> None:
    rules = [make(">", 0, decision="retry", priority=1), make(">", 0, decision="skip", priority=5)]
    chosen = evaluate_rules(rules, context={"k": 1})
    assert chosen is not None
    assert chosen.decision == "skip"
    only = evaluate_rules(rules, context={"k": 1}, decisions={"retry"})
    assert only is not None
    assert only.decision == "retry"
    assert evaluate_rules(rules, context={"k": 0}) is None
    tie = [make(">", 0, decision="fail"), make(">", 0, decision="escalate")]
    first = evaluate_rules(tie, context={"k": 1})
    assert first is not None
    assert first.decision == "fail"


def test_memory_and_time_helpers() -> None:
    assert parse_memory_gb("2048MB") == 2.0
    with pytest.raises(ValueError, match="not a memory size"):
        parse_memory_gb("2 bananas")
    assert iso(T0) == "2025-01-15T12:00:00Z"


def test_custom_event_types_are_well_formed_and_not_registered() -> None:
    registry = EventRegistry()
    for name in CUSTOM_EVENT_TYPES:
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name)
        assert not registry.is_registered(name), name
