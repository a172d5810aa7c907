"""A restarted monitor's backlog is not latency, and no record is counted twice."""

from __future__ import annotations

from baton.bus import Bus, MemoryTransport
from baton.config import BatonSettings
from baton.protocol.event import Event
from baton_monitor.catchup import CatchUp, Observed
from baton_monitor.metrics import Metrics, adopt, observe, report, values
from baton_monitor.state import MetricsConfig, Position, WorkflowStats
from tests.behaviour.helpers import eventually
from tests.unit.monitor.support import at, event

WF = "bug_fix_001"


def _metrics() -> Metrics:
    return Metrics(config=MetricsConfig(min_samples=1))


def test_a_replayed_event_is_counted_but_its_age_is_not_latency() -> None:
    metrics = _metrics()
    now = at(600)
    for i in range(10):  # waiting in the topic for ten minutes while the monitor was down
        observe(metrics, event("TASK_PROGRESS", WF, "fix", sent=i), now=now, replayed=True)
    observe(metrics, event("TASK_PROGRESS", WF, "fix", sent=599.5), now=now)
    current = values(metrics, now=now)
    assert current["latency_p95"] == 0.5  # the live one only
    [window] = report(metrics, now=now)["tumbling"]["windows"]
    assert window["throughput"]["by_type"] == {"TASK_PROGRESS": 11}
    stats = report(metrics, now=now, workflow_id=WF)
    assert stats["events"] == {"TASK_PROGRESS": 11}
    assert stats["latency"]["count"] == 1


def test_a_record_handled_again_in_the_same_process_is_not_counted_twice() -> None:
    metrics = _metrics()
    done = event("TASK_COMPLETED", WF, "fix", sent=1, task_id="t1", agent_id="a1", duration=2)
    for _ in range(2):  # a batch handled again after its save failed
        observe(metrics, done, now=at(2), position=Position(partition=1, offset=7))
    observe(metrics, done, now=at(2))  # a copy from a retry topic: counted already
    stats = report(metrics, now=at(3), workflow_id=WF)
    assert stats["events"] == {"TASK_COMPLETED": 1}
    assert stats["task_durations"]["a1"]["count"] == 1
    # A record goes to a retry topic when its batch was not saved: nothing of it was kept.
    retried = _metrics()
    observe(retried, done, now=at(2))
    assert report(retried, now=at(3), workflow_id=WF)["events"] == {"TASK_COMPLETED": 1}


async def test_an_event_sent_twice_is_counted_once_and_the_records_between_are_counted() -> None:
    """An outbox whose sender died before noting a row sent sends it again: two records, one
    event id, other records between them. Each record has its own place in the topic."""
    settings = BatonSettings(topic_prefix="unit")
    transport = MemoryTransport(partitions=1)
    publisher = Bus(settings=settings, transport=transport)
    monitor = Bus(settings=settings, transport=transport)
    catch_up = CatchUp(group="unit.monitor", topic=settings.topics.events)
    metrics = _metrics()
    batches: list[int] = []

    async def handle(events: list[Event]) -> None:
        batches.append(len(events))
        for e in events:
            observed = catch_up.observed(e)
            observe(metrics, e, now=at(5), position=observed.position)

    sent_twice = event("PHASE_COMPLETED", WF, "fix", sent=1)
    async with publisher:
        await publisher.publish(sent_twice)
        await publisher.publish(event("TASK_PROGRESS", WF, "fix", sent=2))
        await publisher.publish(sent_twice)
        await catch_up.mark(transport)
        monitor.middleware.insert(0, catch_up)
        monitor.subscribe_batches("#", handle, group="unit.monitor", name="metrics")
        async with monitor:
            await eventually(lambda: sum(batches) == 3, timeout=5, what="three records")
    assert batches == [3]  # one batch: the copies are handled side by side
    stats = report(metrics, now=at(6), workflow_id=WF)
    assert stats["events"] == {"PHASE_COMPLETED": 1, "TASK_PROGRESS": 1}
    [window] = report(metrics, now=at(6))["tumbling"]["windows"]
    assert window["throughput"]["by_type"] == {"PHASE_COMPLETED": 1, "TASK_PROGRESS": 1}


def test_saved_figures_skip_the_records_they_counted_before_a_restart() -> None:
    before = _metrics()
    first = event("TASK_COMPLETED", WF, "fix", sent=1, task_id="t1", agent_id="a1", duration=2)
    second = event("TASK_COMPLETED", WF, "fix", sent=5, task_id="t2", agent_id="a1", duration=3)
    observe(before, first, now=at(2), position=Position(partition=0, offset=3))
    saved = WorkflowStats.model_validate_json(before.workflows[WF].model_dump_json())
    after = _metrics()  # a new process: redelivered from the last commit, before `first`
    adopt(after, workflow_id=WF, stats=saved)
    observe(after, first, now=at(10), position=Position(partition=0, offset=3), replayed=True)
    observe(after, second, now=at(10), position=Position(partition=0, offset=4), replayed=True)
    stats = report(after, now=at(10), workflow_id=WF)
    assert stats["events"] == {"TASK_COMPLETED": 2}
    assert stats["task_durations"]["a1"]["count"] == 2
    # Nor is it counted again in this process's windows (the saved panes hold it).
    [window] = report(after, now=at(10))["tumbling"]["windows"]
    assert window["throughput"]["by_type"] == {"TASK_COMPLETED": 1}


def test_adopt_keeps_the_figures_already_in_memory() -> None:
    metrics = _metrics()
    observe(metrics, event("TASK_PROGRESS", WF, "fix", sent=1), now=at(1))
    adopt(
        metrics,
        workflow_id=WF,
        stats=WorkflowStats(workflow_type="x", first_seen=at(0), last_seen=at(0)),
    )
    assert metrics.workflows[WF].workflow_type == "bug_fix"


async def test_records_below_the_end_at_start_are_replayed_and_later_ones_live() -> None:
    settings = BatonSettings(topic_prefix="unit")
    transport = MemoryTransport(partitions=1)
    publisher = Bus(settings=settings, transport=transport)
    monitor = Bus(settings=settings, transport=transport)
    catch_up = CatchUp(group="unit.monitor", topic=settings.topics.events)
    seen: list[Observed] = []

    async def handle(events: list[Event]) -> None:
        seen.extend(catch_up.observed(e) for e in events)

    async with publisher:
        for i in range(3):  # published while the monitor was down
            await publisher.publish(event("PROBE_TICK", f"wf_{i:03d}", "load"))
        await catch_up.mark(transport)
        monitor.middleware.insert(0, catch_up)
        monitor.subscribe_batches("#", handle, group="unit.monitor", name="metrics")
        async with monitor:
            for i in range(3, 5):
                await publisher.publish(event("PROBE_TICK", f"wf_{i:03d}", "load"))
            await eventually(lambda: len(seen) == 5, timeout=5, what="five events")
    assert [(o.position.offset if o.position else None, o.replayed) for o in seen] == [
        (0, True),
        (1, True),
        (2, True),
        (3, False),
        (4, False),
    ]
    assert catch_up.observed(seen[0].event).position is None  # not being handled any more
