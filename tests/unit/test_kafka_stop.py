"""A consumer's stop survives aiokafka's stray cancellation, and still honours a real one."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest
from aiokafka import AIOKafkaConsumer

from baton.bus.kafka import stop_consumer


class _FailingFetchConsumer:
    """Stops like aiokafka's consumer with a fetch waiting out a broker's failure."""

    def __init__(self, *, block: bool = False) -> None:
        self.block = block
        self.stops = 0

    async def stop(self) -> None:
        self.stops += 1
        if self.block:
            await asyncio.Event().wait()
        raise asyncio.CancelledError  # the awaited fetch task's, not the caller's


async def test_a_stray_cancellation_from_the_fetcher_does_not_end_the_stop() -> None:
    consumer = _FailingFetchConsumer()
    await stop_consumer(cast(AIOKafkaConsumer, consumer))
    assert consumer.stops == 1


async def test_cancelling_the_stopping_task_still_cancels_it() -> None:
    consumer = _FailingFetchConsumer(block=True)
    task = asyncio.create_task(stop_consumer(cast(AIOKafkaConsumer, consumer)))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
