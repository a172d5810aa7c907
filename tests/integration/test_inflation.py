"""A compression bomb is refused at the consumer, never inflated: a gzip batch of 500 MB of
zeros (~0.5 MB on the wire) is dead-lettered with the reason while the consuming Baton
process stays under 200 MB of memory at its peak, and the events around it are handled."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from tests.behaviour.helpers import settle
from tests.conftest import BusFactory

from baton.bus.deadletters import DeadLetter, read_dead_letters
from baton.protocol.event import Event
from baton.protocol.headers import H
from baton.protocol.partitioner import partition_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

BOMB_RECORDS = 100
BOMB_RECORD_BYTES = 5 * 1024 * 1024  # 100 x 5 MiB = 500 MiB of zeros
PEAK_RSS_LIMIT_MB = 200

CONSUMER = """
import asyncio, os, sys, orjson
from baton.bus import Bus
from baton.config import BatonSettings

async def main() -> None:
    bus = Bus(settings=BatonSettings.from_env(os.environ))
    handled = []

    async def on_any(event) -> None:
        handled.append(event.event_id)

    bus.subscribe("#", on_any, group="g-bomb")
    await bus.start()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await bus.stop()
    status = dict(
        line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line
    )
    print(orjson.dumps({
        "handled": handled,
        "dead_lettered": bus.stats["dead_lettered"],
        "peak_rss_kb": int(status["VmHWM"].split()[0]),
    }).decode(), flush=True)

asyncio.run(main())
"""


@pytest.mark.parametrize("make_bus", ["kafka"], indirect=True)
async def test_a_gzip_bomb_is_dead_lettered_without_being_inflated(make_bus: BusFactory) -> None:
    bus = await make_bus()
    await bus.start()
    settings = bus.settings
    env = {
        "PATH": os.environ.get("PATH", ""),
        "BATON_KAFKA_BOOTSTRAP": settings.bootstrap,
        "BATON_TOPIC_PREFIX": settings.topic_prefix,
        "BATON_PARTITIONS": str(settings.partitions),
        "BATON_RETRY_DELAYS": ",".join(str(d) for d in settings.retry_delays),
        "BATON_COMPONENT": "bomb-consumer",
    }
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CONSUMER,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        assert (await asyncio.wait_for(child.stdout.readline(), 60)).strip() == b"ready"
        before = Event.parse("TASK_STARTED:wf_b:impl:{'task_id':'before'}")
        await bus.publish(before)
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap,
            compression_type="gzip",
            max_batch_size=BOMB_RECORDS * BOMB_RECORD_BYTES + 1024 * 1024,
            max_request_size=BOMB_RECORDS * BOMB_RECORD_BYTES + 1024 * 1024,
        )
        await producer.start()
        try:
            batch = producer.create_batch()
            zeros = bytes(BOMB_RECORD_BYTES)
            for _ in range(BOMB_RECORDS):
                assert batch.append(key=b"wf_b", value=zeros, timestamp=None) is not None
            del zeros
            started = time.monotonic()
            partition = partition_of(b"wf_b", partitions=settings.partitions)
            sent = await producer.send_batch(batch, settings.topics.events, partition=partition)
            meta = await sent
            wire = batch.size()
        finally:
            await producer.stop()
        after = Event.parse("TASK_STARTED:wf_b:impl:{'task_id':'after'}")
        await bus.publish(after)
        topic = settings.topics.dlq(settings.topics.events)
        letters: list[DeadLetter] = []
        while time.monotonic() - started < 120 and not letters:
            letters = await read_dead_letters(transport=bus.transport, topic=topic)
            await settle(0.3)
        await settle(2)
    finally:
        child.stdin.close()
        out = await asyncio.wait_for(child.stdout.read(), 60)
        await child.wait()
    report = orjson.loads(out.strip().splitlines()[-1])
    print(
        f"\nbomb: {BOMB_RECORDS * BOMB_RECORD_BYTES} bytes inflated, {wire} on the wire; "
        f"consumer peak RSS {report['peak_rss_kb'] // 1024} MB"
    )
    assert len(letters) == 1
    letter = letters[0]
    message = letter.headers[H.ERROR_MESSAGE]
    assert message.startswith("batch: a gzip batch of ")
    assert f"offsets {meta.offset}-{meta.offset + BOMB_RECORDS - 1}" in message
    assert message.endswith("inflates past 4194304 bytes")
    assert letter.headers[H.ERROR_CLASS] == "ProtocolError"
    assert report["dead_lettered"] == 1
    assert report["handled"] == [before.event_id, after.event_id]
    assert report["peak_rss_kb"] < PEAK_RSS_LIMIT_MB * 1024
