"""Error classification: event types, error text, stated severity, attempts, scope."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton.protocol.messages.error_report import ErrorClassification
from baton_recovery.failures.classify import RULES, SEVERITY_ORDER, Rule, classify, error_text


@pytest.mark.parametrize(
    ("event_type", "data", "expected"),
    [
        ("AGENT_TIMEOUT", {"agent_id": "a3", "timeout_duration": "15m"},
         ("execution", "timeout", "high", "agent", True, "agent_timeout")),
        ("TASK_TIMEOUT", {"task_id": "t1", "agent_id": "a1", "timeout_duration": "10m"},
         ("execution", "timeout", "medium", "task", True, "task_timeout")),
        ("DEPENDENCY_TIMEOUT", {"task_id": "t1", "kind": "external"},
         ("dependency", "timeout", "medium", "task", True, "dependency_timeout")),
        ("DEPENDENCY_FAILED", {"task_id": "t2", "dependency": "t1"},
         ("dependency", "unavailable", "high", "task", False, "dependency_failed")),
        ("RESOURCE_CONFLICT", {"conflict_id": "c1", "conflicting_requests": ["r1", "r2"]},
         ("resource", "conflict", "medium", "workflow", True, "resource_conflict")),
        ("RESOURCE_THRESHOLD", {"resource_type": "memory"},
         ("resource", "limit_exceeded", "medium", "system", True, "resource_threshold")),
        ("AGENT_PERFORMANCE_ALERT", {"agent_id": "a1"},
         ("execution", "limit_exceeded", "low", "agent", True, "agent_performance")),
        ("STATE_CONFLICT", {},
         ("state", "conflict", "high", "workflow", True, "state_conflict_event")),
        ("TASK_FAILED", {"task_id": "t1", "failure_reason": "assertion failed in test"},
         ("execution", "unavailable", "medium", "task", True, "task_failed")),
        ("AGENT_ERROR", {"agent_id": "a1", "error_type": "tool_error"},
         ("execution", "unavailable", "medium", "agent", True, "agent_error")),
        ("PHASE_FAILED", {"phase_id": "p1", "failure_reason": "task failed"},
         ("execution", "unavailable", "high", "phase", True, "phase_failed")),
        ("WORKFLOW_FAILED", {"failure_reason": "task failed"},
         ("execution", "unavailable", "critical", "workflow", False, "workflow_failed")),
        ("SYSTEM_ERROR", {"error_type": "panic"},
         ("system", "unavailable", "high", "system", True, "system_error")),
        ("SOMETHING_ODD", {},
         ("execution", "unavailable", "medium", "workflow", True, "default")),
    ],
)  # fmt: skip
def test_event_types(event_type: str, data: dict[str, Any], expected: tuple[Any, ...]) -> None:
    c = classify(event_type=event_type, data=data)
    assert (c.category, c.type, c.severity, c.scope, c.retriable, c.rule) == expected
    assert c.recoverable


@pytest.mark.parametrize(
    ("text", "category", "kind", "rule"),
    [
        ("checkpoint hash mismatch", "state", "corruption", "corruption"),
        ("Corrupted state file", "state", "corruption", "corruption"),
        ("stale version 14 < 15", "state", "conflict", "state_conflict"),
        ("OOM killed", "resource", "limit_exceeded", "limit_exceeded"),
        ("HTTP 429 Too Many Requests", "resource", "limit_exceeded", "limit_exceeded"),
        ("resource_exhaustion", "resource", "limit_exceeded", "limit_exceeded"),
        ("file config.nix is locked by wf_002", "resource", "conflict", "resource_busy"),
        ("connection_timeout", "execution", "timeout", "timeout"),
        ("Request timed out", "execution", "timeout", "timeout"),
        ("upstream task produced no output", "dependency", "unavailable", "dependency"),
        ("network_partition", "system", "unavailable", "system_unavailable"),
        ("Connection refused", "system", "unavailable", "system_unavailable"),
        ("503 service unavailable", "system", "unavailable", "system_unavailable"),
        ("worker crashed with exit code 137", "execution", "unavailable", "agent_crash"),
    ],
)
def test_error_text_of_a_task_failure(text: str, category: str, kind: str, rule: str) -> None:
    c = classify(event_type="TASK_FAILED", data={"task_id": "t1", "failure_reason": text})
    assert (c.category, c.type, c.rule) == (category, kind, rule)
    assert c.scope == "task"


def test_corruption_is_not_retriable_but_recoverable() -> None:
    c = classify(event_type="AGENT_ERROR", data={"agent_id": "a1", "error": "checksum failed"})
    assert (c.category, c.type, c.severity) == ("state", "corruption", "critical")
    assert c.scope == "agent"
    assert not c.retriable
    assert c.recoverable


def test_seed_examples() -> None:
    # Seed 001: ERROR_ENCOUNTERED:wf_001:testing:{'error_type':'timeout',...}
    c = classify(
        event_type="ERROR_ENCOUNTERED",
        data={"error_type": "timeout", "agent": "agent_003", "task": "test_integration"},
    )
    assert (c.category, c.type, c.severity, c.scope) == ("execution", "timeout", "medium", "task")
    # Seed 002: {"error":"connection_timeout","impact":"critical"}
    c = classify(
        event_type="ERROR_ENCOUNTERED", data={"error": "connection_timeout", "impact": "critical"}
    )
    assert (c.type, c.severity, c.scope) == ("timeout", "critical", "workflow")


@pytest.mark.parametrize(
    ("stated", "severity"),
    [("warning", "medium"), ("critical", "critical"), ("error", "high"), ("FATAL", "critical"),
     ("info", "info"), ("bogus", "medium")],
)  # fmt: skip
def test_stated_severity_overrides_the_rule(stated: str, severity: str) -> None:
    c = classify(event_type="SYSTEM_THRESHOLD", data={"metric": "memory", "severity": stated})
    assert c.severity == severity
    assert (c.category, c.type) == ("system", "limit_exceeded")


def test_resource_conflict_severity_follows_the_resource_manager() -> None:
    data = {"conflict_id": "c", "severity": "high", "resolution": "denied"}
    assert classify(event_type="RESOURCE_CONFLICT", data=data).severity == "high"


def test_severity_rises_one_level_from_escalate_after_attempts() -> None:
    data = {"task_id": "t1", "failure_reason": "boom"}
    assert classify(event_type="TASK_FAILED", data=data, attempts=2).severity == "medium"
    assert classify(event_type="TASK_FAILED", data=data, attempts=3).severity == "high"
    assert classify(event_type="TASK_FAILED", data=data, attempts=9).severity == "high"
    assert classify(event_type="TASK_FAILED", data=data, attempts=1, escalate_after=1).severity == (
        "high"
    )
    crit = classify(event_type="WORKFLOW_FAILED", data={}, attempts=5)
    assert crit.severity == "critical"  # already the top


def test_a_classification_the_sender_made_is_kept() -> None:
    given_ = {"category": "resource", "type": "limit_exceeded", "severity": "low", "scope": "agent"}
    c = classify(event_type="TASK_FAILED", data={"classification": given_, "error": "timeout"})
    assert (c.category, c.type, c.severity, c.scope, c.rule) == (
        "resource", "limit_exceeded", "low", "agent", "reported",
    )  # fmt: skip
    unrecoverable = {"category": "state", "type": "corruption", "recoverable": False}
    c = classify(event_type="TASK_FAILED", data={"classification": unrecoverable})
    assert not c.recoverable
    assert not c.retriable
    assert c.scope == "task"
    invalid = {"category": "nonsense", "type": "timeout"}
    assert (
        classify(event_type="TASK_FAILED", data={"classification": invalid}).rule == "task_failed"
    )


def test_error_text_reads_the_known_fields_nested_one_level() -> None:
    data = {
        "error_type": "IOError",
        "error_code": 503,
        "error_details": {"message": "Disk Full", "retries": 2, "nested": {"x": "ignored"}},
        "other": "not read",
    }
    assert error_text(data) == "ioerror | 503 | disk full | 2"
    assert error_text({"details": ["a", "B"]}) == "a | b"


def test_scope_falls_back_to_the_data() -> None:
    assert classify(event_type="ERROR_ENCOUNTERED", data={"agent_id": "a1"}).scope == "agent"
    assert classify(event_type="ERROR_ENCOUNTERED", data={"task_id": "t"}).scope == "task"
    assert classify(event_type="ERROR_ENCOUNTERED", data={}).scope == "workflow"


def test_custom_rules_are_tried_first_match_wins() -> None:
    rules = (Rule("quota", "resource", "limit_exceeded", "low", pattern=re.compile("q")),)
    assert classify(event_type="TASK_FAILED", data={"error": "quota"}, rules=rules).rule == "quota"
    assert classify(event_type="TASK_FAILED", data={"error": "x"}, rules=rules).rule == "default"


def test_the_rules_end_with_a_catch_all() -> None:
    assert RULES[-1].events == frozenset()
    assert RULES[-1].pattern is None
    assert len({r.name for r in RULES}) == len(RULES)


@given(
    st.sampled_from(
        ["TASK_FAILED", "AGENT_TIMEOUT", "TASK_TIMEOUT", "RESOURCE_CONFLICT", "DEPENDENCY_FAILED",
         "SYSTEM_ERROR", "X_Y", "WORKFLOW_FAILED", "AGENT_ERROR", "ERROR_ENCOUNTERED"]
    ),
    st.dictionaries(
        st.sampled_from(["error", "failure_reason", "severity", "impact", "task_id", "agent_id"]),
        st.text(max_size=30) | st.integers() | st.none(),
    ),
    st.integers(min_value=0, max_value=10),
)  # fmt: skip
def test_every_signal_gets_a_valid_seed_classification(
    event_type: str, data: dict[str, Any], attempts: int
) -> None:
    c = classify(event_type=event_type, data=data, attempts=attempts)
    model = ErrorClassification.model_validate(c.to_dict())
    assert model.category == c.category
    assert model.type == c.type
    assert c.severity in SEVERITY_ORDER
