"""Rules of re-routing misplaced records beyond the main path (tests/behaviour/
test_wrong_partition.py): who moves them, on which topics, and what the copy carries."""

from __future__ import annotations

from baton.bus import Bus, Handler, MemoryTransport, Record
from baton.bus.rerouting import rerouted_headers
from baton.config import BatonSettings
from baton.protocol.event import Event, encode_record
from baton.protocol.headers import H, get_header
from tests.behaviour.helpers import eventually, settle

SETTINGS = BatonSettings(topic_prefix="t_reroute", component="test", retry_delays=(0.2,))
LINE = "PHASE_PROGRESS:wf_9:implementation:{'seq':1}"


async def _misplace(broker: MemoryTransport, topic: str, *, key: bytes | None) -> int:
    """Put ``LINE`` on a partition its key does not belong on; returns that partition."""
    _, value, headers = encode_record(Event.parse(LINE))
    right = await broker.partition_for(topic, key=key or b"")
    wrong = (right + 1) % broker.partitions
    await broker.enqueue(topic, key=key, value=value, headers=headers, partition=wrong)
    return wrong


async def test_without_the_router_the_others_move_on_and_handle_the_copy_once_it_runs() -> None:
    broker = MemoryTransport(partitions=4)
    seen: dict[str, list[str]] = {"other": [], "router": []}

    def recorder(name: str) -> Handler:
        async def handle(event: Event) -> None:
            seen[name].append(event.workflow_id)

        return handle

    other = Bus(settings=SETTINGS, transport=broker)
    other.subscribe("#", recorder("other"), group="g-other")
    router = Bus(settings=SETTINGS, transport=broker)
    router.subscribe("workflow.#", recorder("router"), group=SETTINGS.router_group)
    topic = SETTINGS.topics.events
    await _misplace(broker, topic, key=b"wf_9")
    async with other:
        await eventually(lambda: other.wrong_partitions[topic] == 1, what="the finding")
        await settle(0.3)
        assert seen["other"] == []  # not handled where it is: the router moves it
        assert len(broker.records(topic)) == 1  # and no copy without the router
        async with router:  # the router's patterns need not match: it moves every record
            await eventually(lambda: seen["other"] == ["wf_9"], what="the copy, handled")
            await settle(0.3)
    assert seen == {"other": ["wf_9"], "router": []}
    assert router.stats["rerouted"] == 1
    assert other.stats.get("rerouted", 0) == 0


async def test_on_another_topic_a_misplaced_record_is_reported_and_handled_where_it_is() -> None:
    broker = MemoryTransport(partitions=4)
    topic = SETTINGS.topics.commands("status")
    got: list[int] = []

    bus = Bus(settings=SETTINGS, transport=broker)

    async def handle(event: Event) -> None:
        got.append(event.data["seq"])

    bus.subscribe("#", handle, group=SETTINGS.router_group, topic=topic)
    await _misplace(broker, topic, key=b"wf_9")
    async with bus:
        await eventually(lambda: got == [1], what="the record, handled")
        await settle(0.3)
    assert bus.wrong_partitions == {topic: 1}
    assert bus.stats.get("rerouted", 0) == 0
    assert len(broker.records(topic)) == 1


async def test_an_unkeyed_record_is_right_on_any_partition() -> None:
    broker = MemoryTransport(partitions=4)
    got: list[str] = []
    bus = Bus(settings=SETTINGS, transport=broker)

    async def handle(event: Event) -> None:
        got.append(event.workflow_id)

    bus.subscribe("#", handle, group=SETTINGS.router_group)
    await _misplace(broker, SETTINGS.topics.events, key=None)
    async with bus:
        await eventually(lambda: got == ["wf_9"], what="the record, handled")
    assert not bus.wrong_partitions


def test_a_copy_names_only_its_latest_origin_and_keeps_every_other_header() -> None:
    _, value, headers = encode_record(Event.parse(LINE))
    headers.append((H.REROUTED_FROM, b"t.events:0:1"))
    record = Record("t.events", 3, 42, b"wf_9", value, headers, 0)
    copied = rerouted_headers(record)
    assert [v for k, v in copied if k == H.REROUTED_FROM] == [b"t.events:3:42"]
    assert [(k, v) for k, v in copied if k != H.REROUTED_FROM] == headers[:-1]
    assert get_header(copied, H.EVENT_ID) == get_header(headers, H.EVENT_ID)
