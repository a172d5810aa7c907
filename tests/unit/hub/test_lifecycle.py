"""Workflow lifecycle: scheduling, phases, pause/resume/cancel and refused transitions."""

from __future__ import annotations

from typing import Any

import pytest

from baton_hub.errors import InvalidInputError, InvalidTransition, UnknownItemError
from baton_hub.workflow import (
    assign_agents,
    cancel,
    checkpoint,
    on_allocation,
    on_external_event,
    on_task_started,
    pause,
    resume,
    start_phase,
    start_phase_reply,
)
from tests.unit.hub.helpers import Run, of_type, types
from tests.unit.hub.test_definition import BUG_FIX_002, FEATURE_DEV_001

THREE_PHASES: dict[str, Any] = {
    "workflow_id": "wf_001",
    "name": "Three phases",
    "priority": "high",
    "phases": ["research", "planning", "implementation"],
    "resource_requirements": {"agents": 2, "memory": "2GB", "duration": "3h"},
}


def test_create_emits_workflow_created() -> None:
    run = Run(THREE_PHASES)
    assert run.workflow_status == "CREATED"
    assert run.state.state_version == 1
    (event,) = run.log
    assert event.event_type == "WORKFLOW_CREATED"
    assert (event.workflow_id, event.phase) == ("wf_001", "research")
    assert event.data["estimated_duration"] == "3h"
    assert event.data["workflow_definition"]["workflow_id"] == "wf_001"


def test_three_phase_happy_path_emits_events_in_order() -> None:
    run = Run(THREE_PHASES)
    events = run.start("agent_001", "agent_002")
    assert types(events) == [
        "WORKFLOW_SCHEDULED",
        "WORKFLOW_STARTED",
        "PHASE_STARTED",
        "TASK_ASSIGNED",
    ]
    assert run.workflow_status == "STARTED"
    assigned = events[-1].data
    assert (assigned["task_id"], assigned["agent_id"], assigned["fencing_token"]) == (
        "research",
        "agent_001",
        1,
    )
    assert assigned["role"] == "research"
    assert assigned["estimated_duration"] == "1h"
    run.tick(minutes=5)
    started = run.do(on_task_started, task_id="research", agent_id="agent_001", fencing_token=1)
    assert types(started) == ["TASK_STARTED"]
    assert run.status("research") == "running"
    run.tick(minutes=40)
    events = run.complete("research")
    assert types(events) == ["TASK_COMPLETED", "PHASE_COMPLETED", "PHASE_STARTED", "TASK_ASSIGNED"]
    assert events[0].data["duration"] == "40m"
    assert events[1].data["actual_duration"] == "45m"
    assert events[1].data["success_metrics"]["tasks_completed"] == 1
    assert [e.phase for e in events] == ["research", "research", "planning", "planning"]
    # Round-robin: the next assignment goes to the other agent.
    assert events[-1].data["agent_id"] == "agent_002"
    run.tick(minutes=30)
    run.complete("planning")
    run.tick(minutes=30)
    events = run.complete("implementation")
    assert types(events) == ["TASK_COMPLETED", "PHASE_COMPLETED", "WORKFLOW_COMPLETED"]
    assert run.workflow_status == "COMPLETED"
    final = events[-1].data["final_metrics"]
    assert final["tasks_completed"] == 3
    assert final["total_duration"] == "1h45m"
    assert [p.status for p in run.state.phases] == ["completed"] * 3
    assert run.state.state_version == 1 + 5
    assert types(run.log)[0] == "WORKFLOW_CREATED"
    assert types(run.log)[-1] == "WORKFLOW_COMPLETED"


def test_seed_002_scenario_schedules_one_and_queues_the_other() -> None:
    feature = Run(FEATURE_DEV_001)
    bug = Run(BUG_FIX_002)
    events = feature.start("agent_001", "agent_002", "agent_003")
    # External dependencies are tracked but do not hold the start back by default.
    assert feature.workflow_status == "STARTED"
    assert types(events)[:2] == ["WORKFLOW_SCHEDULED", "WORKFLOW_STARTED"]
    assert events[0].data["start_time"] == "2025-01-15T12:00:00Z"
    assert events[0].data["estimated_completion"] == "2025-01-15T16:00:00Z"
    queued = bug.do(on_allocation, status="queued", queue_position=1, estimated_start="30m")
    assert types(queued) == ["WORKFLOW_QUEUED"]
    assert queued[0].data == {"queue_position": 1, "estimated_start": "30m"}
    assert bug.workflow_status == "QUEUED"
    # A later approval starts the queued workflow.
    bug.tick(minutes=30)
    bug.start("agent_004")
    assert bug.workflow_status == "STARTED"
    assert bug.state.queue is None


def test_denied_allocation_fails_the_workflow() -> None:
    run = Run(THREE_PHASES)
    events = run.do(on_allocation, status="denied", reason="no agents free")
    assert types(events) == ["WORKFLOW_FAILED"]
    assert run.workflow_status == "FAILED"
    assert "no agents free" in events[0].data["failure_reason"]


def test_blocking_dependencies_hold_the_start_until_satisfied() -> None:
    run = Run({**FEATURE_DEV_001, "block_on_dependencies": True})
    events = run.start("agent_001")
    assert types(events) == ["WORKFLOW_SCHEDULED"]
    assert events[0].data["waiting_for"] == ["database_migration", "security_review"]
    assert run.workflow_status == "SCHEDULED"
    events = run.do(on_external_event, dependency="database_migration")
    assert types(events) == ["EXTERNAL_DEPENDENCY_RESOLVED"]
    assert run.do(on_external_event, dependency="database_migration") == []
    events = run.do(on_external_event, dependency="security_review")
    assert types(events)[:3] == [
        "EXTERNAL_DEPENDENCY_RESOLVED",
        "WORKFLOW_STARTED",
        "PHASE_STARTED",
    ]
    with pytest.raises(UnknownItemError, match="no external dependency 'nope'"):
        run.do(on_external_event, dependency="nope")


def test_task_waits_for_an_external_dependency_it_lists() -> None:
    run = Run(
        {
            "workflow_id": "w",
            "dependencies": ["database_migration"],
            "tasks": [
                {"task_id": "prepare"},
                {"task_id": "migrate", "dependencies": ["database_migration", "prepare"]},
            ],
        }
    )
    run.start("a1", "a2")
    run.complete("prepare")
    assert run.status("migrate") == "pending"
    events = run.do(on_external_event, dependency="database_migration")
    assert of_type(events, "TASK_ASSIGNED")[0].data["task_id"] == "migrate"


def test_manual_phases_wait_for_start_phase() -> None:
    run = Run({**THREE_PHASES, "auto_advance": False})
    events = run.start("agent_001")
    assert types(events) == ["WORKFLOW_SCHEDULED", "WORKFLOW_STARTED"]
    events = run.do(start_phase, phase=1)
    assert types(events) == ["PHASE_STARTED", "TASK_ASSIGNED"]
    assert run.do(start_phase, phase="research") == []  # running already: idempotent
    events = run.complete("research")
    assert types(events) == ["TASK_COMPLETED", "PHASE_COMPLETED"]
    assert run.state.phase_name == "planning"
    with pytest.raises(UnknownItemError, match="no phase 9"):
        run.do(start_phase, phase=9)
    # Jumping ahead skips the phase in between.
    events = run.do(start_phase, phase="3")
    assert types(events) == ["TASK_SKIPPED", "PHASE_SKIPPED", "PHASE_STARTED", "TASK_ASSIGNED"]
    assert run.status("planning") == "skipped"
    with pytest.raises(InvalidTransition, match="behind the current phase"):
        run.do(start_phase, phase=1)


def test_starting_the_running_phase_is_an_idempotent_success() -> None:
    # Seed 002: create, then start-phase 1 on a phase that started by itself.
    run = Run(THREE_PHASES)
    run.start("agent_001")
    assert run.state.phases[0].status == "running"
    before = run.state
    for phase in (1, "1", "research"):
        assert run.do(start_phase, phase=phase) == []
        assert run.state is before
    reply = start_phase_reply(run.state, phase=1, already_running=True)
    assert reply == {
        "phase": "research",
        "phase_number": 1,
        "phase_status": "running",
        "already_running": True,
        "message": "phase 1 (research) of wf_001 is already running; nothing to do",
    }
    # A phase behind, or a paused workflow, is still refused.
    run.complete("research")
    with pytest.raises(InvalidTransition, match="behind the current phase"):
        run.do(start_phase, phase=1)
    run.do(pause, reason="operator")
    with pytest.raises(InvalidTransition, match="PAUSED"):
        run.do(start_phase, phase=2)


def test_assign_agents_gives_roles_and_steers_assignment() -> None:
    # Seed 002: start-phase 1, checkpoint, assign-agents, on a workflow with manual phases.
    run = Run(
        {
            "workflow_id": "workflow_123",
            "name": "Database Migration",
            "phases": ["database", "verify"],
            "auto_advance": False,
            "state_sync": {"enabled": True, "frequency": "realtime"},
        }
    )
    run.start()
    run.do(start_phase, phase=1)
    assert run.status("database") == "ready"
    events = run.do(checkpoint, label="pre_migration_validation")
    assert types(events) == ["CHECKPOINT_REQUESTED"]
    assert run.state.checkpoint_id == "pre_migration_validation"
    events = run.do(assign_agents, assignments=[{"agent_id": "agent_001", "role": "database"}])
    assert types(events) == ["AGENT_ALLOCATED", "TASK_ASSIGNED"]
    assert events[0].data["role"] == "database"
    assert events[1].data["agent_id"] == "agent_001"
    # Repeating the same assignment changes nothing.
    assert run.do(assign_agents, assignments=[{"agent_id": "agent_001", "role": "database"}]) == []
    with pytest.raises(InvalidInputError, match="label"):
        run.do(checkpoint, label="not an id")


def test_role_agents_take_their_role_first() -> None:
    run = Run(
        {
            "workflow_id": "w",
            "tasks": [{"task_id": "t1", "role": "coder"}, {"task_id": "t2", "role": "writer"}],
        }
    )
    run.do(assign_agents, assignments=[{"agent_id": "w1", "role": "writer"}])
    events = run.start("c1", "w1")
    assigned = {e.data["task_id"]: e.data["agent_id"] for e in of_type(events, "TASK_ASSIGNED")}
    assert assigned == {"t2": "w1", "t1": "c1"}


def test_pause_resume_cancel() -> None:
    run = Run(
        {"workflow_id": "w", "tasks": [{"task_id": "a"}, {"task_id": "b", "dependencies": ["a"]}]}
    )
    run.start("a1")
    events = run.do(pause, reason="operator request")
    assert types(events) == ["WORKFLOW_PAUSED"]
    assert events[0].data["pause_reason"] == "operator request"
    assert events[0].data["current_state"]["in_flight"] == ["a"]
    assert run.workflow_status == "PAUSED"
    # Completions are still recorded while paused, but nothing new is assigned.
    events = run.complete("a")
    assert types(events) == ["TASK_COMPLETED"]
    assert run.status("b") == "pending"
    events = run.do(resume)
    assert types(events) == ["WORKFLOW_RESUMED", "TASK_ASSIGNED"]
    assert events[0].data["state_validation"]["valid"] is True
    events = run.do(cancel, reason="no longer needed")
    assert types(events) == ["WORKFLOW_CANCELLED"]
    cleanup = events[0].data["cleanup_status"]
    assert cleanup == {
        "allocation_id": "alloc_1",
        "release_requested": True,
        "abandoned_tasks": ["b"],
        "agents_to_release": ["a1"],
    }
    assert run.workflow_status == "CANCELLED"


@pytest.mark.parametrize(
    ("operation", "kwargs", "named"),
    [
        (resume, {}, "cannot resume workflow w: it is COMPLETED"),
        (pause, {"reason": "x"}, "cannot pause workflow w: it is COMPLETED"),
        (cancel, {"reason": "x"}, "cannot cancel workflow w: it is COMPLETED"),
        (on_allocation, {"status": "approved"}, "cannot apply allocation approved"),
    ],
)
def test_invalid_transitions_name_status_and_operation(
    operation: Any, kwargs: dict[str, Any], named: str
) -> None:
    run = Run({"workflow_id": "w"})
    run.start("a1")
    run.complete("main")
    assert run.workflow_status == "COMPLETED"
    with pytest.raises(InvalidTransition) as caught:
        run.do(operation, **kwargs)
    assert named in str(caught.value)
    assert caught.value.status == "COMPLETED"
    assert caught.value.retriable is False
    assert caught.value.to_dict()["workflow_id"] == "w"


def test_resume_requires_paused_and_pause_requires_started() -> None:
    run = Run({"workflow_id": "w"})
    with pytest.raises(InvalidTransition, match="it is CREATED"):
        run.do(resume)
    with pytest.raises(InvalidTransition, match="it is CREATED"):
        run.do(pause, reason="x")
    run.do(cancel, reason="changed plans")
    assert run.workflow_status == "CANCELLED"


def test_start_phase_overrides_blocking_dependencies() -> None:
    run = Run({**THREE_PHASES, "dependencies": ["security_review"], "block_on_dependencies": True})
    run.start("agent_001")
    assert run.workflow_status == "SCHEDULED"
    events = run.do(start_phase, phase=1)
    assert types(events) == ["WORKFLOW_STARTED", "PHASE_STARTED", "TASK_ASSIGNED"]


def test_partial_allocation_without_agents_waits_for_assign_agents() -> None:
    run = Run(THREE_PHASES)
    events = run.do(on_allocation, status="partial", allocation_id="alloc_9", agents=[])
    assert types(events) == ["WORKFLOW_SCHEDULED", "WORKFLOW_STARTED", "PHASE_STARTED"]
    assert run.status("research") == "ready"
    events = run.do(assign_agents, assignments=[{"agent_id": "late", "role": "research"}])
    assert types(events) == ["AGENT_ALLOCATED", "TASK_ASSIGNED"]


def test_queue_position_updates_while_queued() -> None:
    run = Run(THREE_PHASES)
    run.do(on_allocation, status="queued", queue_position=3, estimated_start="1h")
    events = run.do(on_allocation, status="queued", queue_position=1, estimated_start="10m")
    assert events[0].data["queue_position"] == 1
    assert run.state.queue is not None
    assert run.state.queue.queue_position == 1
