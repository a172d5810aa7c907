"""A record another client put on the wrong partition is reported, counted and moved: every
group handles it once, in order with the workflow's other events (both transports; on Kafka
the record is written by a plain aiokafka producer told the partition)."""

from __future__ import annotations

import logging
from collections import defaultdict
from contextlib import AbstractContextManager, nullcontext

import pytest
from aiokafka import AIOKafkaProducer

from baton.bus import Bus, Handler, MemoryTransport, Record
from baton.protocol.event import Event, encode_record
from baton.protocol.headers import H, Headers, get_header
from baton.runtime.metrics import ServiceMetrics
from baton.runtime.partition_metrics import WrongPartitionCollector
from tests.behaviour.helpers import eventually, settle
from tests.conftest import BusFactory

WORKFLOW = "wf_misplaced"
OTHER = "g-other"


class _Seen:
    """Middleware keeping each handled record with its group."""

    def __init__(self) -> None:
        self.records: list[tuple[str, Record]] = []

    def publish_scope(
        self, *, topic: str, event: Event, headers: Headers
    ) -> AbstractContextManager[None]:
        return nullcontext()

    def consume_scope(
        self, *, record: Record, event: Event | None, group: str
    ) -> AbstractContextManager[None]:
        self.records.append((group, record))
        return nullcontext()


def _line(seq: int) -> str:
    return f"PHASE_PROGRESS:{WORKFLOW}:implementation:{{'seq':{seq}}}"


async def _misplace(bus: Bus, line: str, *, partition: int) -> int:
    """Write ``line`` as a client with another partitioner would: keyed by its workflow,
    on ``partition``. Returns its offset."""
    key, value, headers = encode_record(Event.parse(line, source="other-client"))
    topic = bus.topics.events
    if isinstance(bus.transport, MemoryTransport):
        ack = await bus.transport.enqueue(
            topic, key=key, value=value, headers=headers, partition=partition
        )
        return (await ack).offset
    producer = AIOKafkaProducer(bootstrap_servers=bus.settings.bootstrap)
    await producer.start()
    try:
        meta = await producer.send_and_wait(
            topic, value=value, key=key, headers=headers, partition=partition
        )
    finally:
        await producer.stop()
    assert meta.partition == partition
    return int(meta.offset)


async def test_a_misplaced_event_is_moved_and_every_group_handles_it_once_in_order(
    make_bus: BusFactory, caplog: pytest.LogCaptureFixture
) -> None:
    bus = await make_bus()
    seen = _Seen()
    bus.middleware.append(seen)
    topic, router = bus.topics.events, bus.settings.router_group
    handled: dict[str, list[int]] = defaultdict(list)

    def recorder(group: str) -> Handler:
        async def handle(event: Event) -> None:
            if event.workflow_id == WORKFLOW:
                handled[group].append(int(event.data["seq"]))

        return handle

    for group in (router, OTHER):
        bus.subscribe("#", recorder(group), group=group)
    await bus.start()
    right = await bus.partition_for(WORKFLOW)
    wrong = (right + 1) % 4
    caplog.set_level(logging.WARNING, logger="baton.bus")

    for seq in (1, 2):
        assert (await bus.publish(_line(seq))).partition == right
    offset = await _misplace(bus, _line(3), partition=wrong)
    await eventually(lambda: bus.stats["rerouted"] == 1, what="the router's copy")
    for seq in (4, 5):
        await bus.publish(_line(seq))

    await eventually(lambda: all(len(handled[g]) >= 5 for g in (router, OTHER)), what="all 5")
    await settle()
    assert handled == {router: [1, 2, 3, 4, 5], OTHER: [1, 2, 3, 4, 5]}
    assert bus.stats["rerouted"] == 1  # one copy, however many groups read the topic
    # Each group met the misplaced record once and counted it.
    assert bus.wrong_partitions == {topic: 2}

    # Both groups handled the copy, on the right partition, naming where it was.
    copies = [(g, r) for g, r in seen.records if get_header(r.headers, H.REROUTED_FROM)]
    assert sorted(g for g, _ in copies) == sorted([router, OTHER])
    for _, record in copies:
        assert record.partition == right
        assert record.key == WORKFLOW.encode()
        assert get_header(record.headers, H.REROUTED_FROM) == f"{topic}:{wrong}:{offset}"
        assert get_header(record.headers, H.SOURCE) == "other-client"  # unchanged otherwise
    assert not [r for _, r in seen.records if r.partition == wrong]  # never handled there

    findings = [r.getMessage() for r in caplog.records if "wrong partition" in r.getMessage()]
    assert len(findings) == 2
    for message in findings:
        assert f"{topic}[{wrong}]@{offset}" in message
        assert f"'{WORKFLOW}'" in message
        assert f"partition {right}" in message
    assert any(f"group {router}: re-published there" in m for m in findings)
    assert any(f"group {OTHER}: skipped" in m for m in findings)

    metrics = ServiceMetrics(service="test")
    metrics.registry.register(WrongPartitionCollector(bus=bus, service="test"))
    expected = f'baton_wrong_partition_total{{service="test",topic="{topic}"}} 2.0'
    assert expected in metrics.render().decode()
