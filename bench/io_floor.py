"""Benchmark: the most workflows/s this machine's broker and database allow, whatever Baton does.

Measures what raw I/O costs the whole machine (client, broker and PostgreSQL together, in
CPU seconds from ``/proc/stat``): producing a record with raw aiokafka (the bus's producer
settings), reading one in a consumer group (``getmany`` and a commit per batch), and
committing a small transaction with raw asyncpg (an insert into a keyed table, four
connections at once). With a workflow's I/O counts — by default those ``bench.workflows``
measured for a three-phase workflow, or given with ``--produced/--read/--commits`` — it
prints the ceiling: cores / (I/O CPU per workflow). No orchestration at all runs; Baton's own
Python comes on top of this.

Run: ``python -m bench.io_floor [--records N] [--commits N] [--produced P] [--read R]
[--commits-per-workflow T] [--json]`` (the local stack must be up, or
BATON_KAFKA_BOOTSTRAP / BATON_PG_DSN set).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from baton.config import BatonSettings
from baton.db import Database
from baton.topics import create_topics, delete_topics
from bench.bus_pipe import producer_like_the_bus
from bench.report import print_result
from bench.workflows import machine_busy_seconds

# Per three-phase workflow, from bench.workflows (40 workflows, 8 agents): records written
# to every topic (events 29, state 8, commands 2, replies 2, faust changelogs 106 to 225),
# records read by every consumer group (14 groups read the events topic: 5 services, the
# monitor's faust app, the watcher and one per agent worker) and PostgreSQL commits.
PRODUCED = 147.0
READ = 439.0
COMMITS = 63.0


async def produce(settings: BatonSettings, topic: str, count: int) -> float:
    """Machine CPU seconds to produce ``count`` event-sized records, all acknowledged."""
    value = orjson.dumps(
        {"task_id": "task_0001", "agent_id": "agent_001", "n": 0} | {"payload": "x" * 200}
    )
    producer = producer_like_the_bus(settings)
    await producer.start()
    try:
        busy = machine_busy_seconds()
        pending = []
        for i in range(count):
            pending.append(await producer.send(topic, value=value, key=f"wf_{i % 200}".encode()))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        return machine_busy_seconds() - busy
    finally:
        await producer.stop()


async def read(settings: BatonSettings, topic: str, count: int) -> float:
    """Machine CPU seconds for a new consumer group to read ``count`` records, committing
    after each batch."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.bootstrap,
        group_id=f"{settings.topic_prefix}.floor",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        done = 0
        busy: float | None = None
        while done < count:
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            if busy is None and batch:
                busy = machine_busy_seconds()  # from the first fetch: not the group's join
            done += sum(len(records) for records in batch.values())
            if batch:
                await consumer.commit()
        assert busy is not None
        return machine_busy_seconds() - busy
    finally:
        await consumer.stop()


async def commit(settings: BatonSettings, count: int, connections: int = 4) -> float:
    """Machine CPU seconds for ``count`` one-insert transactions on ``connections`` at once."""
    table = f"bench_floor_{uuid.uuid4().hex[:6]}"
    async with Database(dsn=settings.dsn, min_size=connections, max_size=connections) as db:
        await db.pool.execute(f"create table {table} (id text primary key, data jsonb not null)")
        try:

            async def one(worker: int) -> None:
                for i in range(worker, count, connections):
                    async with db.transaction() as conn:
                        await conn.execute(
                            f"insert into {table} values ($1, $2)", f"e{i}", {"n": i}
                        )

            busy = machine_busy_seconds()
            await asyncio.gather(*(one(w) for w in range(connections)))
            return machine_busy_seconds() - busy
        finally:
            await db.pool.execute(f"drop table {table}")


async def run(
    *, records: int, transactions: int, produced: float, read_: float, commits: float
) -> dict[str, Any]:
    base = BatonSettings.from_env(os.environ)
    settings = base.model_copy(update={"topic_prefix": f"floor{uuid.uuid4().hex[:6]}"})
    await create_topics(settings=settings)
    topic = settings.topics.events
    try:
        produce_s = await produce(settings, topic, records)
        read_s = await read(settings, topic, records)
    finally:
        await delete_topics(bootstrap=settings.bootstrap, prefix=settings.topic_prefix)
    commit_s = await commit(settings, transactions)
    per_produce, per_read, per_commit = (
        produce_s / records,
        read_s / records,
        commit_s / transactions,
    )
    kafka = produced * per_produce + read_ * per_read
    postgres = commits * per_commit
    cores = os.cpu_count() or 1
    return {
        "machine_cpu_us_per_record_produced": round(1e6 * per_produce, 1),
        "machine_cpu_us_per_record_read": round(1e6 * per_read, 1),
        "machine_cpu_us_per_commit": round(1e6 * per_commit, 1),
        "per_workflow": {"produced": produced, "read": read_, "commits": commits},
        "machine_cpu_ms_per_workflow": {
            "kafka": round(1e3 * kafka, 2),
            "postgres": round(1e3 * postgres, 2),
        },
        "cores": cores,
        "ceiling_workflows_per_s": round(cores / (kafka + postgres), 1),
        "ceiling_kafka_only_workflows_per_s": round(cores / kafka, 1),
    }


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000, help="records produced and read")
    parser.add_argument("--commits", type=int, default=5_000, help="transactions committed")
    parser.add_argument("--produced", type=float, default=PRODUCED, help="records per workflow")
    parser.add_argument("--read", type=float, default=READ, help="records read per workflow")
    parser.add_argument(
        "--commits-per-workflow", type=float, default=COMMITS, help="commits per workflow"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    result = asyncio.run(
        run(
            records=args.records,
            transactions=args.commits,
            produced=args.produced,
            read_=args.read,
            commits=args.commits_per_workflow,
        )
    )
    result["seconds"] = round(time.perf_counter() - started, 1)
    print_result(result, as_json=args.json)


if __name__ == "__main__":
    cli()
