"""Benchmark: the bus's consume → decode → validate → route → produce → commit pipe against a
raw aiokafka consume → produce → commit pipe over the same events on the same broker.

Both sides use the same producer settings (idempotent, acks=all, same compression and
linger), read the same input topic in their own consumer group, and commit after each batch
once the batch's output is acknowledged. Prints events/s of each and the ratio bus/raw.

Run: ``python -m bench.bus_pipe [--events N] [--json]`` (the local stack must be up, or
BATON_KAFKA_BOOTSTRAP set).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from baton.bus import Bus
from baton.bus.kafka import producer_options
from baton.config import BatonSettings
from baton.protocol.event import Event
from baton.topics import create_topics, delete_topics
from bench.report import print_result

TYPES = [
    "TASK_STARTED",
    "TASK_COMPLETED",
    "PHASE_PROGRESS",
    "RESOURCE_ALLOCATED",
    "WORKFLOW_STARTED",
]


def producer_like_the_bus(settings: BatonSettings) -> AIOKafkaProducer:
    """A raw aiokafka producer with the bus's settings (idempotent, acks=all, compression,
    linger)."""
    return AIOKafkaProducer(**producer_options(settings))


async def load_input(bus: Bus, count: int) -> None:
    """Publish ``count`` realistic events to the bus's events topic."""
    pending = []
    for i in range(count):
        event = Event(
            event_type=TYPES[i % len(TYPES)],
            workflow_id=f"wf_{i % 200:04d}",
            phase="implementation",
            data={
                "task_id": f"task_{i}",
                "agent_id": f"agent_{i % 16:03d}",
                "seq": i,
                "progress_percentage": i % 100,
            },
        )
        pending.append(await bus.send(event))
        if len(pending) >= 5000:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)


async def raw_pipe(settings: BatonSettings, source: str, sink: str, count: int) -> float:
    """Raw aiokafka consume → produce → commit; returns seconds for ``count`` events.

    Pipelined like the bus: batch N's acks are awaited and its offsets committed while
    batch N+1 is being produced, never committing past an unacknowledged output.
    """
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=settings.bootstrap,
        group_id=f"raw-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = producer_like_the_bus(settings)
    await consumer.start()
    await producer.start()
    done = 0
    start: float | None = None
    settling: asyncio.Task[None] | None = None

    async def settle(
        previous: asyncio.Task[None] | None, futures: list[Any], offsets: dict[Any, int]
    ) -> None:
        if previous is not None:
            await previous
        for future in futures:
            await future
        await consumer.commit(offsets)

    try:
        while done < count:
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            if not batch:
                continue
            if start is None:
                start = time.perf_counter()
            futures = []
            offsets = {}
            for tp, records in batch.items():
                for r in records:
                    futures.append(
                        await producer.send(sink, value=r.value, key=r.key, headers=list(r.headers))
                    )
                    done += 1
                offsets[tp] = records[-1].offset + 1
            if settling is not None and not settling.done():
                await settling
            settling = asyncio.create_task(settle(settling, futures, offsets))
        assert settling is not None
        await settling
        assert start is not None
        return time.perf_counter() - start
    finally:
        await consumer.stop()
        await producer.stop()


async def bus_pipe(settings: BatonSettings, sink: str, count: int) -> float:
    """The bus: subscription on ``#`` re-publishing every event; seconds for ``count``."""
    bus = Bus(settings=settings.model_copy(update={"component": "bench"}))
    handled = 0
    first: float | None = None
    finished = asyncio.Event()

    async def forward(event: Event) -> None:
        nonlocal handled, first
        if first is None:
            first = time.perf_counter()
        await bus.send(event, topic=sink)
        handled += 1
        if handled >= count:
            finished.set()

    bus.subscribe("#", forward, group=f"bench-{uuid.uuid4().hex[:6]}")
    async with bus:
        await finished.wait()
        await bus.transport.flush()  # every output acknowledged
        end = time.perf_counter()
        # (leaving the group on stop() is not part of the pipe, as for the raw side)
    assert first is not None
    return end - first


async def main(count: int) -> dict[str, Any]:
    base = BatonSettings.from_env(os.environ)
    settings = base.model_copy(update={"topic_prefix": f"bench{uuid.uuid4().hex[:6]}"})
    await create_topics(settings=settings)
    async with Bus(settings=settings) as loader:
        await load_input(loader, count)
    source = settings.topics.events
    out_raw, out_bus = settings.topics.commands("status"), settings.topics.commands("monitor")
    try:
        raw_s = await raw_pipe(settings, source, out_raw, count)
        bus_s = await bus_pipe(settings, out_bus, count)
    finally:
        await delete_topics(bootstrap=settings.bootstrap, prefix=settings.topic_prefix)
    raw_rate, bus_rate = count / raw_s, count / bus_s
    return {
        "events": count,
        "raw_aiokafka": {"seconds": round(raw_s, 3), "events_per_s": round(raw_rate)},
        "baton_bus": {"seconds": round(bus_s, 3), "events_per_s": round(bus_rate)},
        "ratio_bus_to_raw": round(bus_rate / raw_rate, 3),
        "target_ratio": 0.6,
        "compression": settings.kafka_compression,
        "partitions": settings.partitions,
    }


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(main(args.events))
    if args.json:
        print_result(result, as_json=True)
        return
    print(f"{'pipe':<14}{'events':>10}{'seconds':>10}{'events/s':>12}")
    for name in ("raw_aiokafka", "baton_bus"):
        row = result[name]
        print(
            f"{name:<14}{count_str(result['events']):>10}{row['seconds']:>10}{row['events_per_s']:>12}"
        )
    print(f"ratio bus/raw = {result['ratio_bus_to_raw']} (target >= {result['target_ratio']})")


def count_str(n: int) -> str:
    return f"{n:,}"


if __name__ == "__main__":
    cli()
