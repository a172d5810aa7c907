"""What makes the monitor correct with several replicas, without I/O: windows counted per
partition and summed, one evaluation state whichever replica evaluates, faust figures summed
over partitions, and a catch-up point moved for one partition taken over."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from baton.bus import MemoryTransport
from baton_monitor import sketch, streamviews
from baton_monitor.catchup import CatchUp
from baton_monitor.evaluation import EvaluationState, judge
from baton_monitor.health import Registry, observe_presence
from baton_monitor.metrics import Metrics, combine, observe, record_lag, report, values
from baton_monitor.rules import ThresholdRule
from baton_monitor.saturation import SaturationLimits
from baton_monitor.state import MetricsConfig, Position
from tests.unit.monitor.support import at, event

CONFIG = MetricsConfig(min_samples=1, exact_cap=10_000)


def _run(workflow_id: str, start: float) -> list[tuple[Any, float]]:
    """A small workflow's events and the moments they are processed."""
    return [
        (event("WORKFLOW_CREATED", workflow_id, "a", sent=start), start + 0.5),
        (
            event("TASK_ASSIGNED", workflow_id, "a", sent=start + 1, task_id="t", agent_id="x"),
            start + 1.2,
        ),
        (
            event("TASK_COMPLETED", workflow_id, "a", sent=start + 4, task_id="t", agent_id="x"),
            start + 4.1,
        ),
        (event("TASK_FAILED", workflow_id, "a", sent=start + 5, agent_id="y"), start + 5.5),
        (event("WORKFLOW_COMPLETED", workflow_id, "a", sent=start + 9), start + 9.3),
    ]


def test_windows_summed_over_partitions_are_those_of_one_monitor_seeing_everything() -> None:
    whole, parts = Metrics(config=CONFIG), [Metrics(config=CONFIG), Metrics(config=CONFIG)]
    runs = {"bug_fix_001": 0.0, "bug_fix_002": 40.0, "feature_dev_001": 70.0, "bug_fix_003": 130}
    for n, (workflow_id, start) in enumerate(runs.items()):
        for offset, (item, now) in enumerate(_run(workflow_id, start)):
            position = Position(partition=n % 2, offset=offset + 10 * n)
            observe(whole, item, now=at(now), position=position)
            observe(parts[n % 2], item, now=at(now), position=position)
    record_lag(parts[0], group="g", lag=7, now=at(100))
    record_lag(whole, group="g", lag=7, now=at(100))
    summed = combine(parts, config=CONFIG)
    assert summed.observed == whole.observed == 20
    assert summed.applied == {0: 24, 1: 34}
    for moment in (60.0, 140.0, 200.0):
        mine = report(summed, now=at(moment))
        theirs = report(whole, now=at(moment))
        assert mine["tumbling"] == theirs["tumbling"]
        assert mine["hopping"] == theirs["hopping"]
        assert mine["consumer_lag"] == theirs["consumer_lag"]
        assert values(summed, now=at(moment)) == values(whole, now=at(moment))
    assert values(summed, now=at(140))["error_rate"] == 50.0


def _registry(*beats: tuple[str, float]) -> Registry:
    registry = Registry()
    for component, seconds in beats:
        status = {"component_id": component, "status": "healthy"}
        observe_presence(
            registry,
            event("COMPONENT_HEARTBEAT", phase=component, health_status=status),
            now=at(seconds),
        )
    return registry


def _turn(state: EvaluationState, *, now: float, latency: float, announce: bool) -> Any:
    """One replica's turn on the state the last one committed (as read from PostgreSQL)."""
    loaded = EvaluationState.model_validate_json(state.model_dump_json())
    judged = judge(
        loaded,
        rules=[ThresholdRule(metric="latency_p95", threshold=3, clear_at=1, cooldown=0)],
        values={"latency_p95": latency},
        registry=_registry(("hub", now - 1)),
        interval=2,
        limits=SaturationLimits(latency_p95=4),
        now=at(now),
        announce=announce,
    )
    return loaded, judged


def test_turns_of_different_replicas_on_one_state_raise_each_alert_once() -> None:
    state = EvaluationState()
    state, first = _turn(state, now=1, latency=5, announce=True)  # replica a
    assert [e.event_type for e in first.alerts] == ["SYSTEM_THRESHOLD"]
    changes = [
        (e.event_type, e.data.get("current", e.data.get("saturated"))) for e in first.changes
    ]
    assert changes == [("COMPONENT_HEALTH_CHANGED", "healthy"), ("SYSTEM_SATURATION", True)]
    state, second = _turn(state, now=2, latency=6, announce=True)  # replica b's first turn
    assert second.alerts == []
    assert [(e.event_type, e.data["saturated"]) for e in second.changes] == [
        ("SYSTEM_SATURATION", True)  # its verdict, restated once
    ]
    state, third = _turn(state, now=3, latency=0.5, announce=False)  # replica a again
    assert [e.data["cleared"] for e in third.alerts] == [True]
    assert state.health["hub"].health == "healthy"
    assert isinstance(state.health["hub"].since, datetime)


def test_faust_figures_of_every_partition_sum_into_one_snapshot() -> None:
    window = streamviews.window_key(600.0)
    older = streamviews.window_key(0.0)

    def figures(done: int, failed_agent: str, latency: float) -> streamviews.Figures:
        out = streamviews.empty()
        out["tumbling"][window] = {"TASK_COMPLETED": done, "malformed": 1}
        out["tumbling"][older] = {"TASK_COMPLETED": 100}
        out["steps"][window] = {"TASK_COMPLETED": done}
        out["steps"][streamviews.window_key(480.0)] = {"TASK_COMPLETED": 1}
        out["steps"][streamviews.window_key(420.0)] = {"TASK_COMPLETED": 100}
        out["errors"][window] = {failed_agent: 1}
        out["sketches"][window] = {"latency/all": sketch.add(None, latency)}
        out["sketches"][window]["task_duration/bug_fix/x"] = sketch.add(None, latency)
        return out

    merged = streamviews.merge(
        {0: figures(2, "x", 1.0), 1: figures(3, "y", 3.0)},
        at=630.0,
        tumbling_s=60,
        hopping_size_s=60,
        hopping_step_s=60,
    )
    assert merged["tumbling"]["counts"] == {"TASK_COMPLETED": 5}
    assert merged["tumbling"]["malformed"] == 2
    assert merged["tumbling"]["errors_by_agent"] == {"x": 1, "y": 1}
    assert merged["hopping"]["counts"] == {"TASK_COMPLETED": 5}
    assert merged["percentiles"]["latency"]["count"] == 2
    assert merged["percentiles"]["task_duration"]["bug_fix/x"]["count"] == 2
    assert merged["tumbling"]["start"].startswith("1970-01-01T00:10:00")
    # A hopping window is the sum of the steps it spans: 480-660 holds 480, 540 and 600.
    hopping = streamviews.merge(
        {0: figures(2, "x", 1.0), 1: figures(3, "y", 3.0)},
        at=630.0,
        tumbling_s=60,
        hopping_size_s=180,
        hopping_step_s=60,
    )["hopping"]
    assert hopping["counts"] == {"TASK_COMPLETED": 5 + 2}
    assert hopping["start"].startswith("1970-01-01T00:08:00")


async def test_a_partition_taken_over_gets_its_catch_up_point_again() -> None:
    transport = MemoryTransport(partitions=2)
    catch_up = CatchUp(group="unit.monitor", topic="unit.events")
    await transport.start()
    try:
        await catch_up.mark(transport)
        assert catch_up.partitions == [0, 1]
        for _ in range(4):  # two in each partition
            await transport.enqueue("unit.events", key=None, value=b"x", headers=[])
        assert not catch_up.replayed(Position(partition=1, offset=0))
        await catch_up.mark(transport, partitions=[1])
    finally:
        await transport.stop()
    assert catch_up.replayed(Position(partition=1, offset=1))
    assert not catch_up.replayed(Position(partition=0, offset=0))  # its point did not move
    assert not catch_up.replayed(None)
