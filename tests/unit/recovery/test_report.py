"""Seed 001 error reports assembled from classification, impact and suggestions."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from baton.protocol.messages.error_report import ErrorReportMessage
from baton_recovery.failures.classify import classify
from baton_recovery.failures.impact import assess_impact
from baton_recovery.failures.report import (
    context_from_signal,
    error_id_for,
    error_report,
    error_report_message,
    workflow_risk,
)
from baton_recovery.failures.suggestions import suggest
from tests.unit.recovery.support import T0


def node(status: str, minutes: int, *deps: str, **extra: Any) -> dict[str, Any]:
    return {"status": status, "depends_on": list(deps), "expected_duration": f"{minutes}m", **extra}


TASKS: dict[str, Any] = {
    "task_788": node("completed", 10),
    "task_789": node("running", 15, "task_788", agent_id="agent_003"),
    "task_790": node("pending", 5, "task_789"),
    "task_791": node("pending", 5, "task_789"),
    "task_792": node("pending", 5, "task_790", "task_791"),
}


def seed_example() -> dict[str, Any]:
    """The seed 001 example: an agent stops heartbeating in the middle of task_789."""
    data = {"agent_id": "agent_003", "timeout_duration": "15m", "task_id": "task_789"}
    classification = classify(event_type="AGENT_TIMEOUT", data=data)
    impact = assess_impact(tasks=TASKS, failed_task="task_789", recovery_seconds=300)
    suggestions = suggest(classification=classification, attempts=1, has_checkpoint=True)
    context = context_from_signal(
        event_type="AGENT_TIMEOUT", phase="implementation", data=data, component="workflow-recovery"
    )
    return error_report(
        error_id=error_id_for("01947f3e-aaaa-7bbb-8ccc-000000000001"),
        workflow_id="workflow_123",
        timestamp=T0,
        classification=classification,
        context=context,
        impact=impact,
        suggestions=suggestions,
        error_message="Task execution timeout after 15 minutes",
        technical_details="Agent agent_003 failed to respond to heartbeat for 15m",
        related_events=["EVENT_001", "EVENT_002"],
    )


def test_the_seed_example_validates_and_reads_as_the_seed_does() -> None:
    report = seed_example()
    model = ErrorReportMessage.model_validate(error_report_message(report)).error_report
    assert model.error_id == "err_01947f3e-aaaa-7bbb-8ccc-000000000001"
    assert model.timestamp == T0
    assert model.classification.category == "execution"
    assert model.classification.type == "timeout"
    assert model.classification.scope == "agent"
    assert model.context.operation == "task_execution"
    assert model.context.phase == "implementation"
    assert (model.context.task, model.context.agent) == ("task_789", "agent_003")
    assert model.details.related_events == ["EVENT_001", "EVENT_002"]
    impact = model.impact_assessment
    assert impact.affected_tasks == ["task_789", "task_790", "task_791", "task_792"]
    assert impact.blocking_dependencies == ["task_790", "task_791"]
    assert impact.affected_agents == ["agent_003"]
    assert impact.estimated_delay == "20m"  # 15m lost + 5m to recover, on the critical path
    strategies = [s.strategy for s in model.recovery_suggestions]
    assert strategies[0] == "agent_reallocation"
    assert "checkpoint_rollback" in strategies
    assert report["timestamp"] == "2025-01-15T12:00:00Z"


def test_a_message_is_written_when_none_is_given() -> None:
    c = classify(event_type="TASK_TIMEOUT", data={"task_id": "t1"})
    report = error_report(
        error_id="err_1",
        workflow_id="wf",
        timestamp=T0,
        classification=c,
        context={"task": "t1", "agent": "a3", "unknown": "dropped", "phase": None},
    )
    assert report["details"]["error_message"] == "execution timeout: task t1 on agent a3"
    assert report["context"] == {"task": "t1", "agent": "a3"}
    assert report["impact_assessment"] == {"workflow_risk": "low"}
    assert report["recovery_suggestions"] == []
    bare = error_report(error_id="err_2", workflow_id="global", timestamp=T0, classification=c)
    assert bare["details"]["error_message"] == "execution timeout"
    ErrorReportMessage.model_validate(error_report_message(bare))


def test_workflow_risk_is_raised_by_severity() -> None:
    corrupt = classify(event_type="TASK_FAILED", data={"failure_reason": "corrupt"})
    high = classify(event_type="AGENT_TIMEOUT", data={})
    low = classify(event_type="AGENT_PERFORMANCE_ALERT", data={})
    quiet = assess_impact(tasks={"a": {"status": "pending"}}, failed_task="a", lost_seconds=0)
    assert quiet.workflow_risk == "low"
    assert workflow_risk(corrupt, quiet) == "critical"
    assert workflow_risk(high, quiet) == "medium"
    assert workflow_risk(low, quiet) == "low"
    assert workflow_risk(low, None) == "low"
    busy = assess_impact(tasks={"a": {"status": "running", "duration": 60}}, failed_task="a")
    assert workflow_risk(low, busy) == "critical"


def test_context_from_signal() -> None:
    context = context_from_signal(event_type="RESOURCE_CONFLICT", phase="global", data={"task": 7})
    assert context == {
        "component": None,
        "operation": "resource_allocation",
        "phase": None,
        "task": "7",
        "agent": None,
    }
    assert context_from_signal(event_type="ERROR_ENCOUNTERED", phase="p", data={})["operation"] == (
        "error_encountered"
    )


def test_error_ids_are_derived_and_always_valid() -> None:
    assert error_id_for("abc") == "err_abc"
    assert error_id_for("abc") == error_id_for("abc")
    odd = error_id_for("has:colons and spaces")
    assert odd.startswith("err_")
    assert len(odd) == 44
    assert error_id_for("x" * 200) != error_id_for("x" * 201)


@given(
    event=st.sampled_from(["TASK_FAILED", "AGENT_TIMEOUT", "TASK_TIMEOUT", "RESOURCE_CONFLICT"]),
    reason=st.text(max_size=40),
    source=st.text(min_size=1, max_size=200),
    failed=st.sampled_from(sorted(TASKS)),
    attempts=st.integers(min_value=1, max_value=5),
)
def test_every_report_validates(
    event: str, reason: str, source: str, failed: str, attempts: int
) -> None:
    data = {"task_id": failed, "failure_reason": reason}
    classification = classify(event_type=event, data=data, attempts=attempts)
    report = error_report(
        error_id=error_id_for(source),
        workflow_id="wf_1",
        timestamp=T0,
        classification=classification,
        context=context_from_signal(event_type=event, phase="p", data=data),
        impact=assess_impact(tasks=TASKS, failed_task=failed),
        suggestions=suggest(classification=classification, attempts=attempts, skippable=True),
        error_message=reason or None,
    )
    ErrorReportMessage.model_validate(error_report_message(report))
