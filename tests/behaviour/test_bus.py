"""Bus behaviour, run against the in-memory transport (unit) and real Kafka (integration)."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from baton.bus import TracingMiddleware
from baton.bus.deadletters import DeadLetter, read_dead_letters, replay_dead_letters
from baton.errors import DependencyUnavailableError, HandlerError, RemoteError
from baton.protocol.event import Event
from baton.protocol.headers import H
from tests.behaviour.helpers import eventually, settle
from tests.conftest import BusFactory


def ev(line: str) -> Event:
    return Event.parse(line)


async def test_pattern_subscriber_receives_exactly_matching_events(make_bus: BusFactory) -> None:
    bus = await make_bus()
    allocated: list[str] = []
    workflow: list[str] = []

    async def on_allocated(e: Event) -> None:
        allocated.append(f"{e.event_type}:{e.workflow_id}")

    async def on_workflow(e: Event) -> None:
        workflow.append(f"{e.event_type}:{e.workflow_id}")

    bus.subscribe("resource.*.allocated", on_allocated, group="g-alloc")
    bus.subscribe("workflow.#", on_workflow, group="g-wf")
    await bus.start()
    lines = [
        "RESOURCE_ALLOCATED:wf_1:setup:{'allocation_id':'a1','resource_details':{},'requester':'hub'}",
        "RESOURCE_DEALLOCATED:wf_1:setup:{}",
        "WORKFLOW_STARTED:wf_2:research:{}",
        "RESOURCE_ALLOCATED:wf_2:setup:{}",
        "PHASE_STARTED:wf_2:research:{}",
        "WORKFLOW_COMPLETED:wf_1:final:{}",
        "RESOURCE_ALLOCATED_EXTRA:wf_3:setup:{}",
    ]
    for line in lines:
        await bus.publish(line)
    await eventually(lambda: len(allocated) >= 2 and len(workflow) >= 2, what="deliveries")
    await settle()
    assert sorted(allocated) == ["RESOURCE_ALLOCATED:wf_1", "RESOURCE_ALLOCATED:wf_2"]
    assert sorted(workflow) == ["WORKFLOW_COMPLETED:wf_1", "WORKFLOW_STARTED:wf_2"]


async def test_per_workflow_order_is_kept_across_partitions(make_bus: BusFactory) -> None:
    bus = await make_bus()
    seen: dict[str, list[int]] = defaultdict(list)

    async def record(e: Event) -> None:
        seen[e.workflow_id].append(int(e.data["seq"]))

    bus.subscribe("task.#", record, group="g-order")
    await bus.start()
    workflows = [f"wf_{i}" for i in range(8)]
    for seq in range(40):
        for wf in workflows:
            await bus.send(f'TASK_PROGRESS:{wf}:impl:{{"seq":{seq}}}')
    await bus.transport.flush()
    await eventually(lambda: sum(map(len, seen.values())) >= 320, what="320 events")
    for wf in workflows:
        assert seen[wf] == list(range(40)), wf


async def test_malformed_lines_are_dead_lettered_and_good_ones_keep_flowing(
    make_bus: BusFactory,
) -> None:
    bus = await make_bus(strict_types=frozenset({"PHASE_COMPLETED"}))
    good: list[str] = []

    async def handle(e: Event) -> None:
        good.append(e.data.get("n", "?"))

    bus.subscribe("#", handle, group="g-bad")
    await bus.start()
    events = bus.topics.events
    bad = {
        b"this is not a baton line": "event_type",
        b"NO_FIELDS": "workflow_id",
        b"WORKFLOW_STARTED:wf_1:research:{not json": "data",
        b"WORKFLOW_STARTED:wf 1:research:{}": "workflow_id",
        b"workflow_started:wf_1:research:{}": "event_type",
        b"PHASE_COMPLETED:wf_1:impl:{'duration':'45m'}": "data",
    }
    await bus.publish('WORKFLOW_STARTED:wf_0:research:{"n":"before"}')
    for value in bad:
        await bus.send_raw(events, key=b"wf_1", value=value, headers=[])
    await bus.publish('WORKFLOW_STARTED:wf_1:research:{"n":"after"}')
    await eventually(lambda: {"before", "after"} <= set(good), what="good events")

    async def letters_arrived() -> list[bytes]:
        found = await read_dead_letters(transport=bus.transport, topic=bus.topics.dlq(events))
        return [d.record.value or b"" for d in found]

    deadline = time.monotonic() + 30
    while len(await letters_arrived()) < len(bad) and time.monotonic() < deadline:
        await settle(0.2)
    letters = await read_dead_letters(transport=bus.transport, topic=bus.topics.dlq(events))
    by_value = {d.record.value: d for d in letters}
    assert set(by_value) == set(bad)
    for value, part in bad.items():
        letter = by_value[value]
        assert letter.record.key == b"wf_1"
        assert letter.headers[H.ERROR_CLASS] == "ProtocolError"
        assert letter.headers[H.ERROR_PART] == part, letter.headers
        assert letter.headers[H.ORIGINAL_TOPIC] == events
        assert letter.headers[H.CONSUMER_GROUP] == "g-bad"
        assert letter.headers[H.ERROR_MESSAGE]
    missing = by_value[b"PHASE_COMPLETED:wf_1:impl:{'duration':'45m'}"].headers[H.ERROR_MESSAGE]
    assert "phase_id" in missing
    assert "actual_duration" in missing


async def test_retriable_error_is_retried_with_backoff_then_dead_lettered(
    make_bus: BusFactory,
) -> None:
    bus = await make_bus()
    attempts: list[float] = []

    async def flaky(e: Event) -> None:
        attempts.append(time.monotonic())
        raise HandlerError("downstream busy", retriable=True)

    bus.subscribe("task.*.started", flaky, group="g-retry")
    await bus.start()
    await bus.publish("TASK_STARTED:wf_r:impl:{}")
    dlq = bus.topics.dlq(bus.topics.events)
    await eventually(lambda: len(attempts) >= 3, what="3 attempts")
    letters: list[DeadLetter] = []
    deadline = time.monotonic() + 30
    while not letters and time.monotonic() < deadline:
        letters = await read_dead_letters(transport=bus.transport, topic=dlq)
        await settle(0.1)
    await settle()
    assert len(attempts) == 3  # first try + one per retry topic (delays 0.3 s, 0.6 s)
    assert attempts[1] - attempts[0] >= 0.3
    assert attempts[2] - attempts[1] >= 0.6
    assert len(letters) == 1
    headers = letters[0].headers
    assert headers[H.ATTEMPTS] == "3"
    assert headers[H.ERROR_CLASS] == "HandlerError"
    assert headers[H.ERROR_MESSAGE] == "downstream busy"
    assert letters[0].record.value == b"TASK_STARTED:wf_r:impl:{}"


async def test_an_outage_is_waited_out_in_place_keeping_order_and_nothing_dead_lettered(
    make_bus: BusFactory,
) -> None:
    """A dependency outage is not the record's fault: the partition waits, then goes on."""
    bus = await make_bus()
    seen: list[int] = []
    outage = {"left": 3}

    async def handler(e: Event) -> None:
        if e.data["n"] == 0 and outage["left"] > 0:
            outage["left"] -= 1
            raise DependencyUnavailableError("PostgreSQL restarting")
        seen.append(e.data["n"])

    bus.subscribe("task.#", handler, group="g-outage")
    await bus.start()
    for n in range(5):
        await bus.publish(
            Event(event_type="TASK_PROGRESS", workflow_id="wf_o", phase="p", data={"n": n})
        )
    await eventually(lambda: len(seen) == 5, what="all five after the outage")
    assert seen == [0, 1, 2, 3, 4]  # order kept: later events waited behind the first
    assert bus.stats["outage_waits"] == 3
    assert bus.stats["retried"] == 0
    assert bus.stats["dead_lettered"] == 0
    await settle()
    dlq = bus.topics.dlq(bus.topics.events)
    assert await read_dead_letters(transport=bus.transport, topic=dlq) == []


async def test_stopping_during_an_outage_leaves_the_record_for_the_next_consumer(
    make_bus: BusFactory,
) -> None:
    first = await make_bus()
    calls: list[str] = []

    async def down(e: Event) -> None:
        calls.append("first")
        raise DependencyUnavailableError("PostgreSQL down")

    first.subscribe("task.#", down, group="g-abandon")
    await first.start()
    await first.publish("TASK_STARTED:wf_a:impl:{}")
    await eventually(lambda: len(calls) >= 1, what="the first attempt")
    await first.stop()  # abandons the batch: nothing committed
    second = await make_bus()
    got: list[Event] = []

    async def up(e: Event) -> None:
        got.append(e)

    second.subscribe("task.#", up, group="g-abandon")
    await second.start()
    await eventually(lambda: len(got) == 1, what="redelivery to the next consumer")
    assert got[0].event_type == "TASK_STARTED"


async def test_non_retriable_error_goes_straight_to_dead_letters_and_replays(
    make_bus: BusFactory,
) -> None:
    bus = await make_bus()
    calls: list[str] = []
    broken = True

    async def handler(e: Event) -> None:
        calls.append(e.event_id)
        if broken:
            raise HandlerError("bad agent id", retriable=False)

    bus.subscribe("agent.#", handler, group="g-replay")
    await bus.start()
    ack = await bus.publish("AGENT_ERROR:wf_x:impl:{}")
    assert ack.topic == bus.topics.events
    dlq = bus.topics.dlq(bus.topics.events)
    letters: list[DeadLetter] = []
    deadline = time.monotonic() + 30
    while not letters and time.monotonic() < deadline:
        letters = await read_dead_letters(transport=bus.transport, topic=dlq)
        await settle(0.1)
    assert len(calls) == 1
    assert len(letters) == 1
    assert letters[0].headers[H.ATTEMPTS] == "1"
    broken = False
    await replay_dead_letters(bus=bus, letters=letters)
    await eventually(lambda: len(calls) == 2, what="replayed delivery")
    assert calls[0] == calls[1]  # same event id: consumers can tell a redelivery


async def test_one_bad_record_is_one_dead_letter_naming_every_group_and_replays_once(
    make_bus: BusFactory,
) -> None:
    """Several groups, each with two replicas, meet one malformed line: each group keeps
    its own copy (none depends on another), and the copies read as ONE dead letter."""
    groups = ("g-hub", "g-status", "g-monitor")
    replicas = [await make_bus(component=f"replica-{n}") for n in range(2)]

    async def never(e: Event) -> None:
        raise AssertionError(f"a malformed line was handled: {e}")

    for bus in replicas:
        for group in groups:
            bus.subscribe("#", never, group=group)
        await bus.start()
    bus = replicas[0]
    events, dlq = bus.topics.events, bus.topics.dlq(bus.topics.events)
    bad = b"WORKFLOW_STARTED:wf_bad:{'not':'a line'}"
    await bus.send_raw(events, key=b"wf_bad", value=bad, headers=[])

    async def copies() -> int:
        return sum((await bus.transport.end_offsets(dlq)).values())

    deadline = time.monotonic() + 30
    while await copies() < len(groups) and time.monotonic() < deadline:
        await settle(0.2)
    await settle()
    assert await copies() == len(groups)  # one copy per group, none lost, none repeated
    letters = await read_dead_letters(transport=bus.transport, topic=dlq)
    assert len(letters) == 1
    (letter,) = letters
    assert letter.record.value == bad
    assert letter.groups == tuple(sorted(groups))
    assert len(letter.copies) == len(groups)
    info = letter.to_dict()
    assert info["groups"] == sorted(groups)
    assert {f["group"] for f in info["failures"]} == set(groups)
    assert {f["error"]["part"] for f in info["failures"]} == {"phase"}
    assert info["id"] == f"{events}:{info['original']['partition']}:{info['original']['offset']}"

    acks = await replay_dead_letters(bus=bus, letters=letters)
    assert len(acks) == 1  # replayed once, not once per group
    where = await bus.publish("WORKFLOW_STARTED:wf_bad:p:{}")
    assert (acks[0].topic, acks[0].partition) == (events, where.partition)


async def test_request_response_round_trip_and_duplicate_applied_once(make_bus: BusFactory) -> None:
    server = await make_bus(component="resource")
    applied: list[str] = []

    async def allocate(request: Event) -> dict[str, object]:
        applied.append(request.request_id or "")
        if request.data.get("agents", 0) > 10:
            raise HandlerError("not enough agents", retriable=False)
        return {"status": "approved", "agents": request.data["agents"]}

    server.serve("resource", allocate)
    await server.start()
    client = await make_bus(component="client")
    await client.start()
    reply = await client.request('ALLOCATE:wf_9:setup:{"agents":3}', service="resource", timeout=30)
    assert reply.data == {"status": "approved", "agents": 3}
    assert reply.event_type == "ALLOCATE_REPLY"
    assert len(applied) == 1

    # The same request delivered twice (a client retry): applied once, answered twice.
    duplicate = Event.parse('ALLOCATE:wf_9:setup:{"agents":2}').replace(
        request_id="req_dup", correlation_id="req_dup", reply_to=client.topics.replies
    )
    commands = client.topics.commands("resource")
    await client.publish(duplicate, topic=commands)
    await client.publish(duplicate, topic=commands)
    await eventually(lambda: server.stats["duplicate_requests"] >= 1, what="duplicate seen")
    assert applied.count("req_dup") == 1

    with pytest.raises(RemoteError) as info:
        await client.request('ALLOCATE:wf_9:setup:{"agents":99}', service="resource", timeout=30)
    assert info.value.error["error"] == "HandlerError"
    assert (info.value.error_type, info.value.retriable) == ("HandlerError", False)


class _SlowToStartReaders:
    """A transport whose group-less readers (the reply reader) take three seconds to start."""

    def __init__(self, transport: Any) -> None:
        self._transport = transport

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def consumer(self, **options: Any) -> Any:
        reader = self._transport.consumer(**options)
        start = reader.start

        async def slow_start() -> None:
            await asyncio.sleep(3)
            await start()

        reader.start = slow_start
        return reader


async def test_requests_sent_at_once_by_a_new_client_all_get_their_first_reply(
    make_bus: BusFactory,
) -> None:
    """The first requests of a client start its reply reader; those sent meanwhile must not
    have their replies land before the reader's starting offset (they waited for a resend)."""
    server = await make_bus(component="resource")

    async def allocate(request: Event) -> dict[str, object]:
        return {"status": "approved", "workflow": request.workflow_id}

    server.serve("resource", allocate)
    await server.start()
    client = await make_bus(component="client")
    client.transport = _SlowToStartReaders(client.transport)  # widen the window
    await client.start()
    replies = await asyncio.gather(
        *(
            client.request(
                f"ALLOCATE:wf_{i}:setup:{{}}", service="resource", timeout=15, attempts=1
            )
            for i in range(8)
        )
    )
    assert [r.data["workflow"] for r in replies] == [f"wf_{i}" for i in range(8)]
    assert client.stats["request_retries"] == 0


async def test_one_trace_spans_producer_and_consumer(make_bus: BusFactory) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    bus = await make_bus()
    bus.middleware = [TracingMiddleware(tracer=tracer)]
    forwarded: list[Event] = []

    async def forward(e: Event) -> None:
        await bus.publish(f"PHASE_STARTED:{e.workflow_id}:next:{{}}")

    async def last(e: Event) -> None:
        forwarded.append(e)

    bus.subscribe("workflow.*.started", forward, group="g-trace-1")
    bus.subscribe("phase.*.started", last, group="g-trace-2")
    await bus.start()
    await bus.publish("WORKFLOW_STARTED:wf_t:research:{}")
    await eventually(lambda: len(forwarded) == 1, what="forwarded event")
    await settle(0.2)
    spans = exporter.get_finished_spans()
    assert {s.context.trace_id for s in spans} == {spans[0].context.trace_id}
    producers = [s for s in spans if s.kind == SpanKind.PRODUCER]
    consumers = [s for s in spans if s.kind == SpanKind.CONSUMER]
    assert len(producers) == 2
    assert len(consumers) == 2
    by_id = {s.context.span_id: s for s in spans}
    for consumer in consumers:
        assert consumer.parent is not None
        assert by_id[consumer.parent.span_id].kind == SpanKind.PRODUCER
    assert consumers[0].attributes is not None
    assert consumers[0].attributes["messaging.system"] == "kafka"


async def test_a_partition_key_places_an_event_and_members_know_their_partitions(
    make_bus: BusFactory,
) -> None:
    """Agents' heartbeats (workflow ``global``) keyed by the agent spread over partitions,
    each where ``partition_for`` says; ``assigned`` tells what each member of a group holds
    (what a replica owns follows from it)."""
    bus, other = await make_bus(), await make_bus()
    seen: list[Event] = []

    async def record(event: Event) -> None:
        seen.append(event)

    async def ignore(event: Event) -> None:
        return None

    bus.subscribe("agent.*.heartbeat", record, group="g-beats")
    other.subscribe("agent.*.heartbeat", ignore, group="g-beats")
    assert bus.assigned(group="g-beats") == frozenset()  # not started
    await bus.start()
    placed: dict[str, int] = {}
    for agent in [f"agent_{i:03d}" for i in range(12)]:
        beat = Event(
            event_type="AGENT_HEARTBEAT",
            workflow_id="global",
            phase=agent,
            data={"agent_id": agent},
            partition_key=agent,
        )
        placed[agent] = (await bus.publish(beat)).partition
        assert placed[agent] == await bus.partition_for(agent)
    assert len(set(placed.values())) > 1
    unkeyed = Event(event_type="AGENT_HEARTBEAT", workflow_id="global", phase="a", data={})
    assert (await bus.publish(unkeyed)).partition == await bus.partition_for("global")
    await eventually(lambda: len(seen) == 13, what="every heartbeat")
    assert {e.workflow_id for e in seen} == {"global"}
    assert bus.assigned(group="g-beats") == frozenset(range(4))  # alone in its group
    assert bus.assigned(group="g-other") == frozenset()
    await other.start()
    await eventually(
        lambda: (
            bus.assigned(group="g-beats").isdisjoint(other.assigned(group="g-beats"))
            and bus.assigned(group="g-beats") | other.assigned(group="g-beats") == set(range(4))
            and bool(other.assigned(group="g-beats"))
        ),
        what="the partitions split between the two members",
    )
