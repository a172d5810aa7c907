"""Odd data never breaks the read model: an observer must not crash on what it observes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from baton_status.history import History, observe
from baton_status.projection import (
    SystemView,
    WorkflowView,
    apply,
    apply_system,
    detail,
    overview,
)
from baton_status.system import SYSTEM_TYPES
from tests.unit.status.helpers import FEATURE_DEV, T0, Sim, event, project

TYPES = sorted(
    {
        "WORKFLOW_CREATED",
        "WORKFLOW_SCHEDULED",
        "WORKFLOW_QUEUED",
        "WORKFLOW_STARTED",
        "WORKFLOW_PAUSED",
        "WORKFLOW_RESUMED",
        "WORKFLOW_COMPLETED",
        "WORKFLOW_FAILED",
        "WORKFLOW_CANCELLED",
        "WORKFLOW_RESTORED",
        "PHASE_STARTED",
        "PHASE_COMPLETED",
        "PHASE_SKIPPED",
        "PHASE_FAILED",
        "TASK_ASSIGNED",
        "TASK_REASSIGNED",
        "TASK_STARTED",
        "TASK_COMPLETED",
        "TASK_FAILED",
        "TASK_TIMEOUT",
        "TASK_SKIPPED",
        "TASK_RESULT_REJECTED",
        "QUALITY_GATE_BLOCKED",
        "QUALITY_SCORE_UPDATED",
        "DEPENDENCY_TIMEOUT",
        "EXTERNAL_DEPENDENCY_RESOLVED",
        "ESCALATION_REQUIRED",
        "AGENT_ALLOCATED",
        "AGENT_DEALLOCATED",
        *SYSTEM_TYPES,
    }
)
KEYS = [
    "task_id",
    "agent_id",
    "fencing_token",
    "attempt",
    "phase_id",
    "tasks",
    "duration",
    "actual_duration",
    "quality_score",
    "score",
    "queue_position",
    "estimated_start",
    "estimated_completion",
    "waiting_for",
    "resource_allocation",
    "state_validation",
    "dependency",
    "allocation_id",
    "agent_ids",
    "resource_details",
    "resource_type",
    "capacity",
    "files",
    "failure_reason",
    "decision",
    "old_agent",
    "role",
    "workflow_definition",
    "kept_tasks",
    "reset_tasks",
    "current_phase",
]
NAMES = st.sampled_from(["research", "backend", "agent_1", "alloc_1", "unit_tests", "x", ""])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False),  # data comes from JSON lines
    NAMES,
    st.sampled_from(["45m", "2h 30m", "-1s", "2025-01-15T13:00:00Z"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)
    ),
    max_leaves=8,
)
EVENTS = st.lists(
    st.tuples(
        st.sampled_from(TYPES),
        st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6),
        st.integers(-3600, 36000),
        st.sampled_from(["research", "global", "testing"]),
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(EVENTS)
def test_any_data_is_applied_without_error(
    items: list[tuple[str, dict[str, Any], int, str]],
) -> None:
    sim = Sim(FEATURE_DEV)
    sim.start("agent_1", "agent_2", "agent_3")
    view: WorkflowView | None = project(sim.events)
    system, history = SystemView(), History()
    for kind, data, offset, phase in items:
        e = event(kind, "feature_dev_001", data, phase=phase, at=T0 + timedelta(seconds=offset))
        view = apply(view, e)
        assert view is not None
        observe(history, view=view, event=e)
        apply_system(system, e)
    assert view is not None
    now = T0 + timedelta(hours=2)
    detail(view, history=history, now=now, include_dependencies=True, detailed=True)
    overview([view], system, history=history, now=now)
    assert WorkflowView.model_validate_json(view.model_dump_json()) == view
    assert SystemView.model_validate_json(system.model_dump_json()) == system
    assert History.model_validate_json(history.model_dump_json()) == history
