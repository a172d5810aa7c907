"""The read model: a workflow's events, from the hub's own state machine, projected."""

from __future__ import annotations

from datetime import timedelta

from baton.protocol.event import Event
from baton_hub import workflow as wf
from baton_status.history import History
from baton_status.projection import apply, detail, summary
from baton_status.views import TIMELINE_LIMIT, WorkflowView
from tests.unit.status.helpers import FEATURE_DEV, T0, Sim, event, project, simulate

DURATIONS = {
    "research": 1800.0,
    "plan": 1200.0,
    "backend": 5400.0,
    "frontend": 4800.0,
    "api": 3600.0,
    "unit_tests": 1800.0,
    "integration_tests": 1200.0,
}


def test_definition_becomes_phases_tasks_and_dependencies() -> None:
    sim = Sim(FEATURE_DEV)
    view = project(sim.events)
    assert view.status == "CREATED"
    assert (view.workflow_type, view.priority, view.planned_s) == ("feature_dev", "high", 14400)
    assert [p.name for p in view.phases] == ["research", "planning", "implementation", "testing"]
    assert view.phases[2].tasks == ["backend", "frontend", "api"]
    assert view.tasks["integration_tests"].dependencies == ["unit_tests"]
    # The gate of unit_tests is what integration_tests must see reached.
    assert view.tasks["integration_tests"].min_scores == {"unit_tests": 0.8}
    assert view.tasks["backend"].estimated_s == 5400
    assert set(view.external) == {"database_migration", "security_review"}
    assert view.resources["agents"] == 3


def test_a_whole_run_is_projected_step_by_step() -> None:
    sim = Sim(FEATURE_DEV)
    sim.start("agent_1", "agent_2", "agent_3")
    view = project(sim.events)
    assert view.status == "STARTED"
    assert view.phase is not None
    assert view.phase.name == "research"
    assert view.tasks["research"].status == "assigned"
    assert view.tasks["research"].agent_id == "agent_1"
    assert view.agents["agent_1"].current_tasks == ["research"]
    assert view.allocation is not None
    assert view.allocation.agents == [
        "agent_1",
        "agent_2",
        "agent_3",
    ]

    sim.tick(1800)
    sim.complete("research")
    view = project(sim.events)
    assert view.phases[0].status == "completed"
    assert view.phases[0].duration_s == 1800
    assert view.phase is not None
    assert view.phase.name == "planning"
    assert view.tasks["research"].duration_s == 1800
    assert view.agents["agent_1"].tasks_done == 1
    assert view.agents["agent_1"].current_tasks == []

    finished = simulate(FEATURE_DEV, DURATIONS)
    view = project(finished.events)
    assert view.status == "COMPLETED"
    assert [p.duration_s for p in view.phases] == [1800, 1200, 5400, 3000]
    assert all(t.status == "completed" for t in view.tasks.values())
    assert view.finished_at == T0 + timedelta(seconds=11400)
    assert len(view.timeline) == len(finished.events) == view.events_applied
    assert view.timeline[-1].event_type == "WORKFLOW_COMPLETED"


def test_summary_and_detail_render_the_view() -> None:
    sim = simulate(FEATURE_DEV, DURATIONS)
    half = T0 + timedelta(seconds=5000)
    view = project(sim.events, until=half)
    line = summary(view, history=History(), now=half)
    assert (line.status, line.current_phase, line.phases_done, line.phases_total) == (
        "STARTED",
        "implementation",
        2,
        4,
    )
    assert line.created_at == "2025-01-15T12:00:00Z"
    full = detail(view, history=History(), now=half, include_dependencies=True, detailed=True)
    assert [t.task_id for t in full.tasks][:2] == ["research", "plan"]
    assert full.phases[2].status == "running"
    assert full.phases[2].duration_s == 2000  # running: measured up to now
    assert full.dependencies["tasks"]["integration_tests"] == ["unit_tests"]
    assert full.dependencies["external"] == {"database_migration": False, "security_review": False}
    assert {a.agent_id: a.status for a in full.agents} == {
        "agent_1": "active",
        "agent_2": "active",
        "agent_3": "active",
    }
    assert full.critical_path.tasks[-1] == "integration_tests"
    brief = detail(view, history=History(), now=half, include_dependencies=False, detailed=False)
    assert brief.tasks == []
    assert brief.dependencies == {}
    assert len(brief.timeline) <= 20


def test_a_repeated_event_is_applied_once() -> None:
    events = simulate(FEATURE_DEV, DURATIONS).events
    once = project(events)
    twice = project(e for pair in zip(events, events, strict=True) for e in pair)
    assert twice == once
    # A whole replay after the fact changes nothing either.
    again: WorkflowView | None = once.model_copy(deep=True)
    for e in events:
        again = apply(again, e)
    assert again == once


def test_events_of_unknown_or_other_workflows_are_ignored() -> None:
    assert apply(None, event("TASK_ASSIGNED", "nope", {"task_id": "t", "agent_id": "a"})) is None
    view = project(Sim(FEATURE_DEV).events)
    before = view.model_copy(deep=True)
    assert apply(view, event("WORKFLOW_STARTED", "other_001")) == before


def test_the_view_round_trips_through_json() -> None:
    sim = simulate(FEATURE_DEV, DURATIONS)
    for until in (T0, T0 + timedelta(seconds=4000), None):
        view = project(sim.events, until=until)
        again = WorkflowView.model_validate_json(view.model_dump_json())
        assert again == view
        assert again.model_dump(mode="json") == view.model_dump(mode="json")


def test_events_after_the_end_join_only_the_timeline() -> None:
    view = project(simulate(FEATURE_DEV, DURATIONS).events)
    before = view.model_dump()
    late = event(
        "TASK_FAILED",
        view.workflow_id,
        {"task_id": "backend", "agent_id": "agent_3", "failure_reason": "late"},
        at=T0 + timedelta(days=1),
    )
    after = apply(view, late)
    assert after is not None
    assert after.tasks["backend"].status == "completed"
    assert after.status == "COMPLETED"
    assert after.timeline[-1].event_type == "TASK_FAILED"
    assert len(after.timeline) == len(before["timeline"]) + 1
    # The release of its resources still counts.
    release = event(
        "RESOURCE_DEALLOCATED",
        view.workflow_id,
        {"allocation_id": "alloc_1", "release_reason": "workflow_completed"},
    )
    after = apply(after, release)
    assert after is not None
    assert after.allocation is not None
    assert after.allocation.released


def test_a_stale_report_does_not_count() -> None:
    sim = Sim(FEATURE_DEV)
    sim.start("agent_1", "agent_2", "agent_3")
    view = project(sim.events)
    stale = event(
        "TASK_COMPLETED",
        view.workflow_id,
        {"task_id": "research", "agent_id": "agent_1", "fencing_token": 0, "duration": "1m"},
    )
    wrong_agent = event(
        "TASK_COMPLETED", view.workflow_id, {"task_id": "research", "agent_id": "agent_9"}
    )
    for report in (stale, wrong_agent):
        after = apply(view, report)
        assert after is not None
        assert after.tasks["research"].status == "assigned"
    started = event(
        "TASK_STARTED",
        view.workflow_id,
        {"task_id": "research", "agent_id": "agent_1", "fencing_token": 1},
        at=T0 + timedelta(seconds=5),
    )
    after = apply(view, started)
    assert after is not None
    assert after.tasks["research"].status == "running"


def test_failure_without_rules_fails_the_workflow() -> None:
    sim = Sim(FEATURE_DEV)
    sim.start("agent_1", "agent_2", "agent_3")
    sim.tick(60)
    task = sim.state.tasks["research"]
    sim.do(
        wf.on_task_failed,
        task_id="research",
        agent_id=task.agent_id,
        fencing_token=task.fencing_token,
        reason="tool crashed",
    )
    view = project(sim.events)
    assert view.status == "FAILED"
    assert view.failure_reason is not None
    assert "tool crashed" in view.failure_reason
    assert view.tasks["research"].status == "failed"
    assert view.agents["agent_1"].tasks_failed == 1
    assert view.phases[0].status == "failed"


def test_queue_then_allocation() -> None:
    sim = Sim({**FEATURE_DEV, "workflow_id": "bug_fix_002"})
    sim.do(wf.on_allocation, status="queued", queue_position=1, estimated_start="30m")
    view = project(sim.events)
    assert (view.status, view.queue_position) == ("QUEUED", 1)
    assert view.estimated_start == "2025-01-15T12:30:00Z"
    sim.tick(1800)
    sim.start("agent_4", "agent_5")
    view = project(sim.events)
    assert (view.status, view.queue_position) == ("STARTED", None)
    assert view.scheduled_at == T0 + timedelta(seconds=1800)


def test_a_seed_line_without_definition_still_makes_a_view() -> None:
    created = Event.parse(
        "WORKFLOW_CREATED:feature_dev_001:setup:{'priority':'high','resources':{'agents':3}}",
        timestamp=T0,
    )
    view = apply(None, created)
    assert view is not None
    assert view.phases == []
    assert view.priority == "high"
    phase = Event.parse(
        'PHASE_COMPLETED:feature_dev_001:research:{"duration":"45m","deliverables":["x"]}',
        timestamp=T0 + timedelta(minutes=45),
    )
    view = apply(apply(view, phase), phase.replace(event_id="other"))
    assert view is not None
    assert [(p.name, p.status, p.duration_s) for p in view.phases] == [
        ("research", "completed", 2700)
    ]


def test_the_timeline_keeps_the_newest_entries() -> None:
    view = project(Sim(FEATURE_DEV).events)
    for i in range(TIMELINE_LIMIT + 50):
        # Applied in place: the same view comes back.
        assert apply(view, event("AGENT_SIGNAL", view.workflow_id, {"signal_id": f"s{i}"})) is view
    assert len(view.timeline) == TIMELINE_LIMIT
    assert view.timeline[0].event_type == "AGENT_SIGNAL"
    assert view.events_applied == TIMELINE_LIMIT + 51


def test_a_report_for_a_task_the_workflow_lacks_changes_nothing() -> None:
    sim = Sim(FEATURE_DEV)
    sim.start("agent_1", "agent_2", "agent_3")
    view = project(sim.events)
    typo = event("TASK_COMPLETED", view.workflow_id, {"task_id": "reserch", "agent_id": "agent_1"})
    after = apply(view, typo)
    assert after is not None
    assert "reserch" not in after.tasks
    assert after.timeline[-1].event_type == "TASK_COMPLETED"
