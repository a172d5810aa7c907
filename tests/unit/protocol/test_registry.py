"""The Event Types Registry of seed 001: findings, strict mode, type checks, custom types."""

from __future__ import annotations

from typing import Any

import pytest

from baton.config import BatonSettings
from baton.errors import ProtocolError
from baton.protocol.registry import DEFAULT_EVENTS, EventRegistry

SEED_001_TABLE = {
    "WORKFLOW_CREATED": "workflow_definition, estimated_duration",
    "WORKFLOW_STARTED": "start_time, resource_allocation",
    "WORKFLOW_PAUSED": "pause_reason, current_state",
    "WORKFLOW_RESUMED": "resume_time, state_validation",
    "WORKFLOW_COMPLETED": "completion_time, final_metrics",
    "WORKFLOW_FAILED": "failure_reason, recovery_options",
    "WORKFLOW_CANCELLED": "cancellation_reason, cleanup_status",
    "PHASE_STARTED": "phase_id, estimated_duration, resource_allocation",
    "PHASE_COMPLETED": "phase_id, actual_duration, success_metrics",
    "PHASE_FAILED": "phase_id, failure_reason, partial_results",
    "PHASE_SKIPPED": "phase_id, skip_reason, impact_assessment",
    "PHASE_PROGRESS": "phase_id, progress_percentage, eta_update",
    "TASK_ASSIGNED": "task_id, agent_id, estimated_duration",
    "TASK_STARTED": "task_id, agent_id, start_time",
    "TASK_COMPLETED": "task_id, agent_id, duration, results",
    "TASK_FAILED": "task_id, agent_id, failure_reason, retry_count",
    "TASK_TIMEOUT": "task_id, agent_id, timeout_duration",
    "TASK_REASSIGNED": "task_id, old_agent, new_agent, reason",
    "AGENT_ALLOCATED": "agent_id, workflow_id, role, capabilities",
    "AGENT_DEALLOCATED": "agent_id, workflow_id, reason",
    "AGENT_PERFORMANCE_ALERT": "agent_id, performance_metric, threshold",
    "AGENT_ERROR": "agent_id, error_type, error_details",
    "AGENT_TIMEOUT": "agent_id, timeout_duration, last_response",
    "RESOURCE_ALLOCATED": "allocation_id, resource_details, requester",
    "RESOURCE_DEALLOCATED": "allocation_id, release_reason",
    "RESOURCE_CONFLICT": "conflict_id, conflicting_requests, severity",
    "RESOURCE_THRESHOLD": "resource_type, current_usage, threshold",
    "RESOURCE_OPTIMIZED": "optimization_type, improvement_metrics",
    "SYSTEM_STARTUP": "component_name, version, capabilities",
    "SYSTEM_SHUTDOWN": "component_name, shutdown_reason",
    "SYSTEM_THRESHOLD": "metric_name, current_value, threshold",
    "SYSTEM_ERROR": "error_type, affected_components, severity",
    "SYSTEM_MAINTENANCE": "operation_type, estimated_duration, impact",
}

SAMPLE: dict[str, Any] = {
    "string": "x",
    "integer": 3,
    "number": 2.5,
    "boolean": True,
    "object": {"k": 1},
    "array": [1],
}

COMPLETE = {"phase_id": "impl", "actual_duration": "45m", "success_metrics": {"tests": 15}}


def _valid(kinds: tuple[str, ...]) -> Any:
    return SAMPLE[kinds[0]]


def test_registry_lists_exactly_the_seed_table() -> None:
    assert {n: ", ".join(s.required) for n, s in DEFAULT_EVENTS.items()} == SEED_001_TABLE
    assert EventRegistry().types() == tuple(SEED_001_TABLE)
    assert all(spec.description for spec in DEFAULT_EVENTS.values())
    assert {spec.category for spec in DEFAULT_EVENTS.values()} == {
        "workflow", "phase", "task", "agent", "resource", "system"
    }  # fmt: skip


@pytest.mark.parametrize("spec", list(DEFAULT_EVENTS.values()), ids=lambda s: s.name)
def test_complete_data_of_every_type_passes_strict(spec: Any) -> None:
    data = {f.name: _valid(f.kinds) for f in spec.fields}
    assert EventRegistry(strict=True, refuse_unregistered=True).check(spec.name, data) == ()


def test_default_mode_records_missing_fields_in_registry_order() -> None:
    registry = EventRegistry()
    assert registry.check("PHASE_COMPLETED", {"duration": "45m"}) == (
        "missing:phase_id",
        "missing:actual_duration",
        "missing:success_metrics",
    )
    assert registry.check("PHASE_COMPLETED", {**COMPLETE, "extra": 1}) == ()
    assert registry.check("RESOURCE_DEALLOCATED", {"allocation_id": 7}) == (
        "missing:release_reason",
    )


def test_strict_mode_names_all_missing_fields() -> None:
    with pytest.raises(ProtocolError) as info:
        EventRegistry(strict=True).check("PHASE_COMPLETED", {"phase_id": "impl"})
    error = info.value
    assert error.part == "data"
    assert error.fields["missing"] == ["actual_duration", "success_metrics"]
    assert "actual_duration, success_metrics" in error.message
    assert "PHASE_COMPLETED" in error.message


def test_strict_types_apply_to_the_listed_types_only() -> None:
    registry = EventRegistry(strict_types=frozenset({"PHASE_COMPLETED"}))
    with pytest.raises(ProtocolError):
        registry.check("PHASE_COMPLETED", {})
    assert registry.check("PHASE_STARTED", {}) == (
        "missing:phase_id",
        "missing:estimated_duration",
        "missing:resource_allocation",
    )


@pytest.mark.parametrize(
    ("event_type", "data", "part"),
    [
        ("PHASE_COMPLETED", {"phase_id": True}, "data.phase_id"),
        ("PHASE_COMPLETED", {"phase_id": 1.5}, "data.phase_id"),
        ("PHASE_COMPLETED", {"phase_id": None}, "data.phase_id"),
        ("PHASE_COMPLETED", {"actual_duration": [1]}, "data.actual_duration"),
        ("PHASE_COMPLETED", {"success_metrics": "good"}, "data.success_metrics"),
        ("PHASE_PROGRESS", {"progress_percentage": "50%"}, "data.progress_percentage"),
        ("PHASE_PROGRESS", {"progress_percentage": False}, "data.progress_percentage"),
        ("TASK_FAILED", {"retry_count": 1.0}, "data.retry_count"),
        ("SYSTEM_STARTUP", {"capabilities": "all"}, "data.capabilities"),
        ("WORKFLOW_RESUMED", {"state_validation": 1}, "data.state_validation"),
        ("AGENT_ALLOCATED", {"workflow_id": 12}, "data.workflow_id"),
    ],
)
@pytest.mark.parametrize("strict", [False, True])
def test_present_fields_are_type_checked_in_both_modes(
    event_type: str, data: dict[str, Any], part: str, strict: bool
) -> None:
    with pytest.raises(ProtocolError) as info:
        EventRegistry(strict=strict).check(event_type, data)
    assert info.value.part == part
    assert event_type in info.value.message


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        ("PHASE_COMPLETED", {"phase_id": 3, "actual_duration": 2700, "success_metrics": {}}),
        ("PHASE_PROGRESS", {"phase_id": "p", "progress_percentage": 50, "eta_update": "10m"}),
        ("SYSTEM_THRESHOLD", {"metric_name": "m", "current_value": 1, "threshold": "5s"}),
        ("TASK_COMPLETED", {"task_id": 1, "agent_id": "a", "duration": 1.5, "results": []}),
        ("WORKFLOW_RESUMED", {"resume_time": "now", "state_validation": True}),
        ("AGENT_ALLOCATED", {"agent_id": "a", "workflow_id": "w", "role": "r",
                             "capabilities": ("x",)}),
    ],
)  # fmt: skip
def test_lenient_kinds(event_type: str, data: dict[str, Any]) -> None:
    assert EventRegistry(strict=True).check(event_type, data) == ()


def test_unregistered_types() -> None:
    assert EventRegistry().check("RESEARCH_STARTED", {}) == ()
    assert EventRegistry(strict=True).check("RESEARCH_STARTED", {}) == ()
    assert EventRegistry(refuse_unregistered=True).check("RESEARCH_STARTED", {}) == ()
    with pytest.raises(ProtocolError) as info:
        EventRegistry(strict=True, refuse_unregistered=True).check("RESEARCH_STARTED", {})
    assert info.value.part == "event_type"
    per_type = EventRegistry(strict_types=frozenset({"PLAN_STARTED"}), refuse_unregistered=True)
    with pytest.raises(ProtocolError):
        per_type.check("PLAN_STARTED", {})
    assert per_type.check("RESEARCH_STARTED", {}) == ()


def test_register_custom_types() -> None:
    registry = EventRegistry()
    spec = registry.register(
        "RESEARCH_STARTED",
        fields={"agents": "integer", "estimated_duration": ("string", "number")},
        description="Research began",
    )
    assert spec.required == ("agents", "estimated_duration")
    assert registry.is_registered("RESEARCH_STARTED")
    assert registry.get("RESEARCH_STARTED") is spec
    assert registry.check("RESEARCH_STARTED", {"agents": 2}) == ("missing:estimated_duration",)
    with pytest.raises(ProtocolError) as info:
        registry.check("RESEARCH_STARTED", {"agents": "two"})
    assert info.value.part == "data.agents"
    assert not EventRegistry().is_registered("RESEARCH_STARTED")
    assert len(registry) == len(DEFAULT_EVENTS) + 1
    assert [s.name for s in registry][-1] == "RESEARCH_STARTED"


def test_register_refuses_bad_input_and_duplicates() -> None:
    registry = EventRegistry()
    with pytest.raises(ProtocolError) as info:
        registry.register("research_started", fields={})
    assert info.value.part == "event_type"
    with pytest.raises(ProtocolError) as info:
        registry.register("PHASE_COMPLETED", fields={})
    assert info.value.part == "event_type"
    with pytest.raises(ProtocolError) as info:
        registry.register("X", fields={"a": "text"})  # type: ignore[dict-item]
    assert info.value.part == "fields.a"
    with pytest.raises(ProtocolError):
        registry.register("X", fields={"a": ()})
    replaced = registry.register("PHASE_COMPLETED", fields={"phase_id": "string"}, replace=True)
    assert registry.check("PHASE_COMPLETED", {"phase_id": "p"}) == ()
    assert replaced.description == ""
    assert EventRegistry().get("PHASE_COMPLETED") == DEFAULT_EVENTS["PHASE_COMPLETED"]
    assert registry.get("NOPE") is None


def test_from_settings() -> None:
    settings = BatonSettings.from_env(
        {"BATON_STRICT_TYPES": "PHASE_COMPLETED, TASK_STARTED", "BATON_REFUSE_UNREGISTERED": "1"}
    )
    registry = EventRegistry.from_settings(settings)
    with pytest.raises(ProtocolError):
        registry.check("TASK_STARTED", {})
    with pytest.raises(ProtocolError):
        registry.check("PHASE_COMPLETED", {})
    assert registry.check("TASK_FAILED", {"task_id": "t"})
    assert registry.check("CUSTOM", {}) == ()
    strict = EventRegistry.from_settings(BatonSettings(strict=True, refuse_unregistered=True))
    with pytest.raises(ProtocolError):
        strict.check("CUSTOM", {})
