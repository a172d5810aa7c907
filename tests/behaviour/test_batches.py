"""Batch subscriptions (group commit), against the in-memory bus and real Kafka."""

from __future__ import annotations

from collections import defaultdict

from baton.bus import Bus
from baton.bus.deadletters import read_dead_letters
from baton.errors import DependencyUnavailableError, HandlerError
from baton.protocol.event import Event
from tests.behaviour.helpers import eventually, settle
from tests.conftest import BusFactory

WORKFLOWS = ("wf_a", "wf_b", "wf_c")


async def backlog(make_bus: BusFactory, count: int, *, bad: int | None = None) -> None:
    """``count`` task events spread over three workflows, published before any consumer
    runs, so that the consumer's first fetches bring many at once."""
    publisher = await make_bus()
    await publisher.start()
    for n in range(count):
        data = {"n": n, "bad": n == bad}
        event_type = "TASK_PROGRESS" if n % 10 else "WORKFLOW_PAUSED"
        await publisher.send(
            Event(event_type=event_type, workflow_id=WORKFLOWS[n % 3], phase="p", data=data)
        )
    await publisher.transport.flush()
    await publisher.stop()


def per_workflow(events: list[Event]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    for e in events:
        out[e.workflow_id].append(e.data["n"])
    return out


async def test_events_in_a_row_come_as_one_list_in_order_beside_plain_subscriptions(
    make_bus: BusFactory,
) -> None:
    await backlog(make_bus, 60)
    bus = await make_bus()
    lists: list[list[Event]] = []
    paused: list[int] = []

    async def tasks(events: list[Event]) -> None:
        lists.append(events)

    async def on_paused(e: Event) -> None:
        paused.append(e.data["n"])

    bus.subscribe_batches("task.#", tasks, group="g-batch")
    bus.subscribe("workflow.#", on_paused, group="g-batch")  # breaks the runs
    await bus.start()
    await eventually(lambda: sum(map(len, lists)) >= 54, what="54 task events")
    await settle()
    handled = [e for batch in lists for e in batch]
    assert len(handled) == 54  # each once
    expected = per_workflow(
        [
            Event(event_type="X", workflow_id=WORKFLOWS[n % 3], phase="p", data={"n": n})
            for n in range(60)
            if n % 10
        ]
    )
    assert per_workflow(handled) == expected  # per-workflow order kept
    assert max(map(len, lists)) > 1  # several at once
    assert sorted(paused) == list(range(0, 60, 10))
    assert bus.stats["batches"] >= 1


async def test_a_bad_event_in_a_batch_fails_alone(make_bus: BusFactory) -> None:
    await backlog(make_bus, 30, bad=7)
    bus = await make_bus()
    stored: list[Event] = []
    calls: list[int] = []

    async def store(events: list[Event]) -> None:
        calls.append(len(events))
        if any(e.data["bad"] for e in events):  # all or nothing, as one transaction
            raise HandlerError("task 7 is broken", retriable=False)
        stored.extend(events)

    bus.subscribe_batches("#", store, group="g-bad-batch")
    await bus.start()
    await eventually(lambda: len(stored) >= 29, what="the 29 good events")
    dlq = bus.topics.dlq(bus.topics.events)

    async def letters() -> list[bytes]:
        found = await read_dead_letters(transport=bus.transport, topic=dlq)
        return [d.record.value or b"" for d in found]

    for _ in range(100):
        if await letters():
            break
        await settle(0.2)
    await settle()
    assert sorted(e.data["n"] for e in stored) == [n for n in range(30) if n != 7]
    [letter] = await letters()
    assert b'"n":7' in letter
    assert max(calls) > 1  # a batch was tried before the events went one by one
    assert bus.stats["dead_lettered"] == 1


async def test_an_outage_during_a_batch_is_waited_out_in_order(make_bus: BusFactory) -> None:
    await backlog(make_bus, 30)
    bus: Bus = await make_bus()
    stored: list[Event] = []
    outage = {"left": 3}

    async def store(events: list[Event]) -> None:
        if outage["left"] > 0:
            outage["left"] -= 1
            raise DependencyUnavailableError("PostgreSQL restarting")
        stored.extend(events)

    bus.subscribe_batches("#", store, group="g-outage-batch")
    await bus.start()
    await eventually(lambda: len(stored) >= 30, what="all 30 after the outage")
    await settle()
    assert len(stored) == 30
    assert per_workflow(stored) == {w: list(range(i, 30, 3)) for i, w in enumerate(WORKFLOWS)}
    assert bus.stats["retried"] == 0
    assert bus.stats["dead_lettered"] == 0


async def test_patterns_of_one_batch_handler_share_a_run(make_bus: BusFactory) -> None:
    await backlog(make_bus, 60)
    bus = await make_bus()
    lists: list[list[Event]] = []

    async def apply(events: list[Event]) -> None:
        lists.append(events)

    bus.subscribe_batches("task.#", apply, group="g-shared-batch", name="tasks")
    bus.subscribe_batches("workflow.#", apply, group="g-shared-batch", name="workflows")
    await bus.start()
    await eventually(lambda: sum(map(len, lists)) >= 60, what="all 60 events")
    await settle()
    handled = [e for batch in lists for e in batch]
    assert len(handled) == 60  # each once
    assert per_workflow(handled) == per_workflow(
        [
            Event(event_type="X", workflow_id=WORKFLOWS[n % 3], phase="p", data={"n": n})
            for n in range(60)
        ]
    )  # per-workflow order kept across the two patterns
    mixed = [b for b in lists if len({e.event_type for e in b}) == 2]
    assert mixed, "a list holding both patterns' events"


async def test_events_no_subscription_wants_do_not_break_a_run(make_bus: BusFactory) -> None:
    await backlog(make_bus, 60)  # every tenth a WORKFLOW_PAUSED, which nobody here wants
    bus = await make_bus()
    lists: list[list[Event]] = []

    async def tasks(events: list[Event]) -> None:
        lists.append(events)

    bus.subscribe_batches("task.#", tasks, group="g-run-past")
    await bus.start()
    await eventually(lambda: sum(map(len, lists)) >= 54, what="54 task events")
    await settle()
    assert sum(map(len, lists)) == 54
    # A workflow's task events between two of its pauses are nine: a longer list went past one.
    assert max(map(len, lists)) > 9
