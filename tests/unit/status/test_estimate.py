"""Completion estimates learned from past durations, and the history they learn from."""

from __future__ import annotations

import random
import statistics
from datetime import timedelta
from typing import Any

import pytest

from baton_hub import workflow as wf
from baton_status.estimate import estimate
from baton_status.history import (
    SAMPLE_LIMIT,
    History,
    observe,
    phase_durations,
    record_phase,
    record_workflow,
    relative_spread,
    workflow_durations,
)
from baton_status.progress import progress
from baton_status.projection import apply
from baton_status.views import WorkflowView
from tests.unit.status.helpers import FEATURE_DEV, T0, Sim, project, simulate

RELEASE: dict[str, Any] = {
    "workflow_id": "release_001",
    "phases": ["design", "build", "review", "test", "deploy"],
    "resource_requirements": {"agents": 3, "duration": "6h"},
    "tasks": [
        {"task_id": "design", "phase": "design"},
        {"task_id": "build_api", "phase": "build"},
        {"task_id": "build_ui", "phase": "build"},
        {"task_id": "build_db", "phase": "build"},
        {"task_id": "review", "phase": "review"},
        {"task_id": "unit", "phase": "test"},
        {"task_id": "integration", "phase": "test", "dependencies": ["unit"]},
        {"task_id": "deploy", "phase": "deploy"},
    ],
}
"""A type with parallel and chained tasks; its phase durations come from its tasks'."""

TYPICAL = {
    "design": 3600.0,
    "build_api": 7200.0,
    "build_ui": 5400.0,
    "build_db": 3600.0,
    "review": 1800.0,
    "unit": 3600.0,
    "integration": 1800.0,
    "deploy": 2700.0,
}


def _draw(rng: random.Random) -> dict[str, float]:
    """Task durations with 10 % Gaussian noise (so each phase varies by about 10 %)."""
    return {task: seconds * max(0.5, rng.gauss(1.0, 0.1)) for task, seconds in TYPICAL.items()}


def _past_runs(rng: random.Random, count: int) -> History:
    history = History()
    for i in range(count):
        definition = {**RELEASE, "workflow_id": f"release_{i:03d}"}
        run = simulate(definition, _draw(rng), start=T0 + timedelta(days=i))
        project(run.events, history=history)
    return history


def _at_half(seed: int) -> tuple[float, float, float, int, float]:
    """Error, error bound, confidence, samples and progress of the estimate at 50 %."""
    rng = random.Random(seed)
    history = _past_runs(rng, 30)
    run = simulate({**RELEASE, "workflow_id": "release_100"}, _draw(rng), start=T0)
    end = run.events[-1].timestamp
    view: WorkflowView | None = None
    for e in run.events:
        view = apply(view, e)
        assert view is not None
        if progress(view, history=history) >= 50:
            break
    assert view is not None
    guess = estimate(view, history=history, now=e.timestamp)
    assert guess.remaining_s is not None
    assert guess.error_bound is not None
    truth = (end - e.timestamp).total_seconds()
    error = (guess.remaining_s - truth) / truth
    return (
        error,
        guess.error_bound,
        guess.confidence,
        guess.samples,
        progress(view, history=history),
    )


def test_estimate_at_half_way_is_within_15_percent_of_the_truth() -> None:
    results = [_at_half(seed) for seed in range(10)]
    errors = [r[0] for r in results]
    print(
        "\nestimate error at 50 % progress (30 past runs, 10 % noise), per seed:",
        ", ".join(f"{e:+.1%}" for e in errors),
        f"\nmean |error| {statistics.mean(abs(e) for e in errors):.1%}, "
        f"max {max(abs(e) for e in errors):.1%}; "
        f"error bound {statistics.mean(r[1] for r in results):.1%}, "
        f"confidence {statistics.mean(r[2] for r in results):.2f}",
    )
    for error, bound, confidence, samples, done in results:
        assert abs(error) <= 0.15
        assert samples == 30
        assert 50 <= done <= 65  # the first event at or past half way (phases move in steps)
        # The spread of 10 % noise over the remaining phases: a bound of some percent.
        assert 0.03 < bound < 0.2
        assert 0.4 < confidence < 0.9
    # The bound is a ~90 % bound: most errors fall inside it.
    assert sum(abs(e) <= r[1] for e, r in zip(errors, results, strict=True)) >= 7


def test_without_history_the_plan_is_used_with_low_confidence() -> None:
    sim = Sim(RELEASE)
    sim.start("a1", "a2", "a3")
    view = project(sim.events)
    guess = estimate(view, history=History(), now=T0)
    assert guess.remaining_s == 6 * 3600
    assert guess.completion_at == "2025-01-15T18:00:00Z"
    assert "planned duration from the definition" in guess.method
    assert guess.samples == 0
    assert guess.confidence < 0.1
    assert guess.error_bound is not None
    assert guess.error_bound > 0.3


def test_whole_runs_stand_in_for_missing_phase_history() -> None:
    history = History()
    for i, hours in enumerate((3.0, 3.2, 2.8)):
        record_workflow(history, workflow_type="release", seconds=hours * 3600, workflow_id=str(i))
    view = project(Sim(RELEASE).events)
    guess = estimate(view, history=history, now=T0)
    assert guess.remaining_s == pytest.approx(3 * 3600)
    assert "whole runs of release" in guess.method
    assert guess.samples == 3


PHASE_HOURS = (("design", 1), ("build", 2), ("review", 0.5), ("test", 1.5), ("deploy", 0.75))


def test_confidence_grows_with_samples_and_progress_and_falls_with_spread() -> None:
    def learned(count: int, spread: float) -> History:
        rng = random.Random(7)
        history = History()
        for i in range(count):
            for phase, hours in PHASE_HOURS:
                seconds = hours * 3600 * (1 + rng.uniform(-spread, spread))
                record_phase(
                    history,
                    workflow_type="release",
                    phase=phase,
                    seconds=seconds,
                    workflow_id=str(i),
                )
        return history

    sim = Sim(RELEASE)
    sim.start("a1", "a2", "a3")
    early = project(sim.events)
    sim.tick(3600)
    sim.complete("design")
    later = project(sim.events)
    few, many, wide = learned(3, 0.1), learned(40, 0.1), learned(40, 0.4)
    c_few = estimate(early, history=few, now=T0).confidence
    c_many = estimate(early, history=many, now=T0).confidence
    c_later = estimate(later, history=many, now=sim.now).confidence
    assert c_few < c_many < c_later
    narrow_bound = estimate(early, history=many, now=T0).error_bound
    wide_bound = estimate(early, history=wide, now=T0).error_bound
    assert narrow_bound is not None
    assert wide_bound is not None
    assert wide_bound > 2 * narrow_bound
    assert estimate(early, history=wide, now=T0).confidence < c_many


def test_the_current_phase_counts_what_it_has_left() -> None:
    history = History()
    for phase, seconds in (("design", 1000), ("build", 2000), ("review", 500)):
        record_phase(history, workflow_type="release", phase=phase, seconds=seconds)
    sim = Sim(RELEASE)
    sim.start("a1", "a2", "a3")
    view = project(sim.events)
    # No history for test and deploy: their planned shares (6 h / 5 phases each).
    planned = 2 * 6 * 3600 / 5
    assert estimate(view, history=history, now=T0 + timedelta(seconds=400)).remaining_s == (
        600 + 2000 + 500 + planned
    )
    # Past its median, a phase is still expected to need 10 % of it.
    late = estimate(view, history=history, now=T0 + timedelta(seconds=5000))
    assert late.remaining_s == 100 + 2000 + 500 + planned
    assert "median of 1 past runs of release per phase (design, build, review)" in late.method
    assert "planned duration from the definition" in late.method


def test_queued_completed_and_failed_workflows() -> None:
    sim = Sim(RELEASE)
    sim.do(wf.on_allocation, status="queued", queue_position=2, estimated_start="1h")
    queued = estimate(project(sim.events), history=History(), now=T0)
    assert queued.remaining_s == 7 * 3600
    assert "until the estimated start" in queued.method
    done = project(simulate(RELEASE, TYPICAL).events)
    finished = estimate(done, history=History(), now=T0 + timedelta(days=1))
    assert (finished.remaining_s, finished.confidence) == (0.0, 1.0)
    assert finished.completion_at is not None
    sim = Sim(RELEASE)
    sim.do(wf.cancel, reason="not needed")
    cancelled = estimate(project(sim.events), history=History(), now=T0)
    assert cancelled.remaining_s is None
    assert "will not complete" in cancelled.method


def test_history_learns_each_run_once_and_keeps_the_newest() -> None:
    history = History()
    tasks = [t["task_id"] for t in FEATURE_DEV["tasks"]]
    events = simulate(FEATURE_DEV, dict.fromkeys(tasks, 600.0)).events
    view = project(events, history=history)
    for e in events:  # a replay learns nothing new
        observe(history, view=view, event=e)
    assert phase_durations(history, workflow_type="feature_dev", phase="research") == [600]
    assert phase_durations(history, workflow_type="feature_dev", phase="testing") == [1200]
    assert workflow_durations(history, workflow_type="feature_dev") == [
        3000
    ]  # the tests are a chain of two
    for i in range(SAMPLE_LIMIT + 10):
        record_phase(history, workflow_type="t", phase="p", seconds=i, workflow_id=f"w{i}")
    kept = phase_durations(history, workflow_type="t", phase="p")
    assert len(kept) == SAMPLE_LIMIT
    assert kept[0] == 10
    assert History.model_validate_json(history.model_dump_json()) == history


def test_relative_spread_is_robust() -> None:
    assert relative_spread([100.0]) is None
    assert relative_spread([90.0, 100.0, 110.0]) == pytest.approx(0.14826)
    # One wild run barely moves it.
    assert relative_spread([90.0, 100.0, 110.0, 100.0, 10_000.0]) == pytest.approx(0.0, abs=0.2)
