"""Benchmark: workflows per second created → scheduled → completed through the hub and the
resource manager, each in its own process, on the same broker and database.

Each workflow has trivial phases (one task each) that a simulated agent completes at once.
Prints workflows/s and the median and p95 create→complete latency.

Run: ``python -m bench.workflows [--workflows N] [--phases P] [--concurrency C] [--json]``
(the local stack must be up, or BATON_KAFKA_BOOTSTRAP / BATON_PG_DSN set).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from tests.e2e.harness import Cluster

from baton.bus import Bus
from baton.config import BatonSettings
from baton.db import Database, load_migrations, migrate
from baton.protocol.event import Event
from baton.runtime import RUNTIME_MIGRATIONS
from baton.services import load_service
from baton.topics import create_topics, delete_topics


async def prepare(settings: BatonSettings) -> None:
    await create_topics(settings=settings)
    async with Database(dsn=settings.dsn) as db:
        await migrate(db, migrations=load_migrations(owner="runtime", directory=RUNTIME_MIGRATIONS))
        for name in ("hub", "resource"):
            cls = load_service(name)
            assert cls.migrations is not None
            await migrate(db, migrations=load_migrations(owner=name, directory=cls.migrations))
        await db.pool.execute("truncate hub_workflows, resource_state")


async def run(count: int, phases: int, concurrency: int) -> dict[str, Any]:
    base = BatonSettings.from_env(os.environ)
    prefix = f"bench_{uuid.uuid4().hex[:6]}"
    settings = base.model_copy(
        update={"topic_prefix": prefix, "partitions": 6, "component": "bench"}
    )
    await prepare(settings)
    env = {
        **os.environ,
        "BATON_TOPIC_PREFIX": prefix,
        "BATON_KAFKA_BOOTSTRAP": settings.bootstrap,
        "BATON_PG_DSN": settings.dsn,
        "BATON_RESOURCE_POOLS": f'{{"agents": {count * 2}}}',
        "BATON_LOG_LEVEL": "WARNING",
    }
    bus = Bus(settings=settings)
    created: dict[str, float] = {}
    finished: dict[str, float] = {}
    done = asyncio.Event()

    async def agent(event: Event) -> None:
        data = {
            "task_id": event.data["task_id"],
            "agent_id": event.data["agent_id"],
            "fencing_token": event.data["fencing_token"],
            "duration": "0s",
            "results": {},
        }
        await bus.send(
            Event(
                event_type="TASK_COMPLETED",
                workflow_id=event.workflow_id,
                phase=event.phase,
                data=data,
            )
        )

    async def completed(event: Event) -> None:
        if event.workflow_id in created and event.workflow_id not in finished:
            finished[event.workflow_id] = time.perf_counter()
            if len(finished) >= count:
                done.set()

    bus.subscribe("task.*.assigned", agent, group=f"{prefix}.agents")
    bus.subscribe("workflow.*.completed", completed, group=f"{prefix}.watch")
    limit = asyncio.Semaphore(concurrency)

    async def create(i: int) -> None:
        name = f"wf_{i:05d}"
        definition = {
            "workflow_id": name,
            "name": name,
            "priority": "medium",
            "phases": [f"p{n}" for n in range(phases)],
            "resource_requirements": {"agents": 1, "duration": "1h"},
        }
        async with limit:
            created[name] = time.perf_counter()
            await bus.request(
                Event(
                    event_type="CREATE_WORKFLOW",
                    workflow_id=name,
                    phase="bench",
                    data={"definition": definition},
                ),
                service="hub",
                timeout=60,
            )

    logs = Path(tempfile.mkdtemp(prefix="baton-bench-"))
    try:
        async with Cluster(["resource", "hub"], env=env, log_dir=logs), bus:
            start = time.perf_counter()
            await asyncio.gather(*(create(i) for i in range(count)))
            await asyncio.wait_for(done.wait(), timeout=600)
            elapsed = time.perf_counter() - start
    finally:
        await delete_topics(bootstrap=settings.bootstrap, prefix=prefix)
    latencies = sorted(finished[n] - created[n] for n in finished)
    return {
        "workflows": count,
        "phases_per_workflow": phases,
        "concurrency": concurrency,
        "seconds": round(elapsed, 2),
        "workflows_per_s": round(count / elapsed, 1),
        "latency_p50_s": round(statistics.median(latencies), 3),
        "latency_p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
        "logs": str(logs),
    }


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=300)
    parser.add_argument("--phases", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run(args.workflows, args.phases, args.concurrency))
    if args.json:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        for key, value in result.items():
            print(f"{key:<22}{value}")


if __name__ == "__main__":
    cli()
