"""A brand-new broker: once ``create_topics`` returns, consumer groups join it without a
single coordinator error or warning (aiokafka otherwise logs "GroupCoordinatorNotAvailable"
at ERROR and "Marking the coordinator dead" while the broker makes its offsets topic)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.behaviour.helpers import eventually
from tests.stack import share_jars

from baton.bus import Bus, StartAt
from baton.config import BatonSettings
from baton.protocol.event import Event
from baton.stack.kafka import KafkaStack
from baton.topics import create_topics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def _free_port_pair() -> int:
    """A port whose next one is free too (the broker's controller listens there)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        with socket.socket() as first, socket.socket() as second:
            try:
                first.bind(("127.0.0.1", port))
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        if port + 1 < 65000:
            return port
    raise AssertionError("no two free ports in a row")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def kafka_logs() -> Iterator[_Records]:
    handler = _Records()
    logger = logging.getLogger("aiokafka")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


async def test_groups_join_a_new_broker_without_coordinator_errors(
    live_stack: BatonSettings, tmp_path: Path, kafka_logs: _Records
) -> None:
    settings = live_stack.model_copy(
        update={
            "home": tmp_path,
            "kafka_bootstrap": None,  # not the suite's broker: one of its own, new
            "stack_kafka_port": _free_port_pair(),
            "topic_prefix": "first",
            "partitions": 2,
        }
    )
    share_jars(source=live_stack.home, home=tmp_path)
    stack = KafkaStack(settings=settings)
    await stack.up(max_wait=120)
    try:
        await create_topics(settings=settings)
        seen: list[str] = []

        async def record(event: Event) -> None:
            seen.append(event.workflow_id)

        bus = Bus(settings=settings)
        groups = [f"first.group{n}" for n in range(6)]
        for group in groups:
            bus.subscribe("#", record, group=group, start_at=StartAt.LATEST)
        async with bus:
            for group in groups:
                await bus.wait_assigned(group=group)
            await bus.publish(Event(event_type="WORKFLOW_STARTED", workflow_id="wf_1", phase="p"))
            await eventually(lambda: len(seen) == len(groups), what="every group's copy")
    finally:
        await stack.down()
    noisy = [f"{r.levelname} {r.name}: {r.getMessage()}" for r in kafka_logs.records]
    assert not noisy, noisy
