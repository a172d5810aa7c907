"""A group reads its source topic and its retry topics as two members: a fetch of the source
names only the source's partitions, and a retried event still reaches its handler."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from baton.bus import Bus, MemoryTransport
from baton.config import BatonSettings
from baton.errors import HandlerError
from baton.protocol.event import Event


class RecordingTransport(MemoryTransport):
    """The in-memory broker, noting the topics and gathering of every consumer made."""

    def __init__(self) -> None:
        super().__init__(partitions=2)
        self.made: list[tuple[tuple[str, ...], int | None]] = []

    def consumer(self, *, topics: Sequence[str], gather_ms: int | None = None, **rest: Any) -> Any:
        self.made.append((tuple(topics), gather_ms))
        return super().consumer(topics=topics, gather_ms=gather_ms, **rest)


async def test_the_source_and_its_retries_are_read_apart_and_a_retry_is_delivered() -> None:
    settings = BatonSettings(topic_prefix="lanes", component="unit", retry_delays=(0.0, 0.0))
    transport = RecordingTransport()
    bus = Bus(settings=settings, transport=transport)
    seen: list[int] = []
    delivered = asyncio.Event()

    async def flaky(events: list[Event]) -> None:
        seen.append(len(events))
        if len(seen) == 1:
            raise HandlerError("not yet", retriable=True)
        delivered.set()

    bus.subscribe_batches("task.*.progress", flaky, group="readers", gather_ms=250)
    await bus.start()
    try:
        events = bus.topics.events
        assert ((events,), 250) in transport.made  # the source lane gathers as asked
        assert ((bus.topics.retry(events, 1), bus.topics.retry(events, 2)), None) in transport.made
        await bus.publish(
            Event(
                event_type="TASK_PROGRESS",
                workflow_id="wf_1",
                phase="p",
                data={"task_id": "t", "agent_id": "a", "progress_percentage": 10},
            )
        )
        await asyncio.wait_for(delivered.wait(), timeout=10)
        assert seen == [1, 1]  # failed once, then delivered from the retry topic
    finally:
        await bus.stop()
