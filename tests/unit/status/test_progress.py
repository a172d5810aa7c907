"""Progress weighted by expected phase durations, and the critical path over the task DAG."""

from __future__ import annotations

from datetime import timedelta

from baton_status.history import History, record_phase
from baton_status.progress import critical_path, phase_progress, progress
from baton_status.projection import apply
from baton_status.views import WorkflowView
from tests.unit.status.helpers import FEATURE_DEV, MIXED, T0, Sim, project, simulate

DURATIONS = {
    "research": 1800.0,
    "plan": 1200.0,
    "backend": 5400.0,
    "frontend": 4800.0,
    "api": 3600.0,
    "unit_tests": 1800.0,
    "integration_tests": 1200.0,
}


def _learned(**phases: float) -> History:
    history = History()
    for name, seconds in phases.items():
        record_phase(history, workflow_type="feature_dev", phase=name, seconds=seconds)
    return history


def test_progress_rises_monotonically_from_0_to_100() -> None:
    events = simulate(FEATURE_DEV, DURATIONS).events
    learned = _learned(research=1500, planning=1500, implementation=6000, testing=3000)
    for history in (History(), learned):
        seen: list[float] = []
        view: WorkflowView | None = None
        for e in events:
            view = apply(view, e)
            assert view is not None
            seen.append(progress(view, history=history))
        assert seen[0] == 0.0
        assert seen[-1] == 100.0
        assert seen == sorted(seen), seen


def test_phases_weigh_by_planned_duration_whatever_the_history() -> None:
    sim = Sim(FEATURE_DEV)
    sim.start("agent_1", "agent_2", "agent_3")
    sim.tick(600)
    sim.complete("research")
    view = project(sim.events)
    # The plan: the longest chain of each phase's task estimates. A history that says
    # research usually takes 9 of 10 hours changes the estimate, not the progress bar,
    # which must never move backwards as the history learns.
    planned = round(100 * 30 / (30 + 20 + 90 + 50), 1)
    assert progress(view, history=History()) == planned
    history = _learned(research=9 * 3600, planning=1200, implementation=1200, testing=1200)
    assert progress(view, history=history) == planned
    # In the implementation phase, one task of three done counts a third of the phase.
    sim.tick(600)
    sim.complete("plan")
    sim.tick(600)
    sim.complete("api")
    view = project(sim.events)
    assert phase_progress(view) == [100.0, 100.0, 33.3, 0.0]
    assert progress(view, history=History()) == round(100 * (30 + 20 + 90 / 3) / 190, 1)


def test_critical_path_of_seed_003_mixed_pattern() -> None:
    sim = Sim(MIXED)
    view = project(sim.events)
    # One phase of the planned 1 h; the longest chain (a parser, then schema_gen) fills it.
    path = critical_path(view, history=History())
    assert path.tasks == ["parser_0", "schema_gen"]
    assert path.remaining_s == 3600
    history = History()
    record_phase(history, workflow_type="codegen", phase="generation", seconds=600)
    assert critical_path(view, history=history).remaining_s == 600

    sim.start("agent_1", "agent_2", "agent_3")
    sim.tick(200)
    sim.complete("parser_0")
    sim.complete("parser_1")
    view = project(sim.events)
    path = critical_path(view, history=history)
    assert path.tasks == ["parser_2", "schema_gen"]
    assert path.remaining_s == 600
    # Given the time, the running parser counts only what it has left (300 - 200 s).
    assert critical_path(view, history=history, now=sim.now).remaining_s == 400

    sim.tick(100)
    sim.complete("parser_2")
    view = project(sim.events)
    assert critical_path(view, history=history).tasks == ["schema_gen"]
    sim.tick(300)
    sim.complete("schema_gen")
    view = project(sim.events)
    assert view.status == "COMPLETED"
    assert critical_path(view, history=history).tasks == []


def test_critical_path_follows_phase_order_and_task_sizes() -> None:
    view = project(Sim(FEATURE_DEV).events)
    path = critical_path(view, history=History())
    # Each phase's longest chain: research, plan, backend (90m > 80m > 60m), then the tests.
    assert path.tasks == ["research", "plan", "backend", "unit_tests", "integration_tests"]
    assert path.remaining_s == (30 + 20 + 90 + 30 + 20) * 60
    half = T0 + timedelta(seconds=4000)
    view = project(simulate(FEATURE_DEV, DURATIONS).events, until=half)
    path = critical_path(view, history=History(), now=half)
    assert path.tasks == ["backend", "unit_tests", "integration_tests"]
    assert path.remaining_s == (5400 - 1000) + 1800 + 1200
