"""Benchmark: three-phase workflows completed per second, end to end through all five
services (each its own process) and agent workers, on the same broker and database.

Each workflow has ``--phases`` phases of one task each; ``--agents`` :class:`AgentWorker` s
(the resource pool's agents) complete every task at once. Prints workflows/s, the median
and p95 create→complete latency, and where the CPU went: seconds per service process,
this process (client and agents), and the whole machine (broker and PostgreSQL included),
and each service's resident memory at the end and at its peak (history must not grow it).

The run is a deployment of its own: a fresh topic prefix and the PostgreSQL schema named
after it, both deleted at the end; the rows left in each of its tables are reported
(``BATON_RETENTION_*`` in the environment reach the services: short windows show the
tables staying bounded).

``--warmup N`` first runs N workflows in a deployment of their own, unmeasured: a broker
started a moment ago spends its first minutes compiling (its JIT), which a deployment that
runs for months never pays.

Run: ``python -m bench.workflows [--workflows N] [--agents A] [--concurrency C] [--warmup N]
[--json]``
(the local stack must be up, or BATON_KAFKA_BOOTSTRAP / BATON_PG_DSN set).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from baton.bus.kafka import partitions_of
from baton.client import AgentWorker, BatonClient, Task
from baton.config import BatonSettings
from baton.db import Database, load_migrations, migrate, quote_ident
from baton.demo import ServiceSupervisor
from baton.protocol.event import Event
from baton.runtime import RUNTIME_MIGRATIONS
from baton.services import load_service
from baton.topics import create_topics, delete_topics, list_topics
from bench.processes import stack_pids, tree_cpu_seconds
from bench.report import print_result

SERVICES = ("resource", "hub", "recovery", "status", "monitor")
TICKS = os.sysconf("SC_CLK_TCK")


async def prepare(settings: BatonSettings) -> None:
    await create_topics(settings=settings)
    async with Database(dsn=settings.dsn, schema=settings.db_schema) as db:
        await migrate(db, migrations=load_migrations(owner="runtime", directory=RUNTIME_MIGRATIONS))
        for name in SERVICES:
            cls = load_service(name)
            assert cls.migrations is not None
            await migrate(db, migrations=load_migrations(owner=name, directory=cls.migrations))


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (from /proc), 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory_mb(pid: int) -> dict[str, float]:
    """Resident memory of a process now and at its peak (VmRSS, VmHWM), in MB."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    return {
        name: round(int(fields[key].split()[0]) / 1024, 1)
        for name, key in (("now", "VmRSS"), ("peak", "VmHWM"))
        if key in fields
    }


async def records_written(settings: BatonSettings) -> dict[str, int]:
    """Records in each of the run's topics (their end offsets: nothing is compacted yet)."""
    prefix = settings.topic_prefix
    names = [n for n in await list_topics(bootstrap=settings.bootstrap) if n.startswith(prefix)]
    parts = await partitions_of(settings.bootstrap, names)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(parts)
    finally:
        await consumer.stop()
    out: dict[str, int] = {}
    for tp, end in ends.items():
        topic = tp.topic.removeprefix(prefix + ".")
        out[topic] = out.get(topic, 0) + end
    return {k: v for k, v in sorted(out.items()) if v}


async def records_read(settings: BatonSettings) -> dict[str, int]:
    """Records of the run's topics each kind of consumer group has read (committed)."""
    prefix = settings.topic_prefix
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
    await admin.start()
    out: dict[str, int] = {}
    try:
        for group, _ in await admin.list_consumer_groups():
            if not group.startswith(prefix):
                continue
            kind = group.removeprefix(prefix).strip(".")
            kind = "agent.*" if kind.startswith("agent.") else kind
            offsets = await admin.list_consumer_group_offsets(group)
            read = sum(m.offset for tp, m in offsets.items() if tp.topic.startswith(prefix))
            out[kind] = out.get(kind, 0) + read
    finally:
        await admin.close()
    return {k: v for k, v in sorted(out.items()) if v}


async def table_rows(db: Database) -> dict[str, int]:
    """Rows in each table of the run's schema, counted exactly (in one statement: the
    commits per workflow stay the services')."""
    async with db.connection() as conn:
        counts = await conn.fetch(
            "select tablename, (xpath('/row/n/text()', query_to_xml("
            "format('select count(*) as n from %I.%I', schemaname, tablename), "
            "false, true, '')))[1]::text::bigint as n "
            "from pg_tables where schemaname = $1 order by 1",
            db.schema,
        )
    return {r["tablename"]: int(r["n"]) for r in counts}


async def sample_rows(db: Database, peaks: dict[str, int], *, every: float = 5.0) -> None:
    """Keep the largest row count seen of each table, every ``every`` seconds."""
    while True:
        for table, count in (await table_rows(db)).items():
            peaks[table] = max(peaks.get(table, 0), count)
        await asyncio.sleep(every)


async def drop_schema(db: Database) -> None:
    async with db.connection() as conn:
        await conn.execute(f"drop schema if exists {quote_ident(db.schema)} cascade")


async def commits(db: Database) -> int:
    """Transactions committed in the database so far (all clients)."""
    return int(
        await db.pool.fetchval(
            "select xact_commit from pg_stat_database where datname = current_database()"
        )
    )


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / TICKS


async def deployment(**env: str) -> tuple[BatonSettings, dict[str, str]]:
    """A deployment of the run's own (fresh topic prefix, and the schema named after it),
    prepared: its settings, and the environment its services start with (``env`` added).
    :func:`remove` deletes it."""
    base = BatonSettings.from_env(os.environ)
    prefix = f"bench_{uuid.uuid4().hex[:6]}"
    settings = base.model_copy(
        update={"topic_prefix": prefix, "pg_schema": None, "partitions": 6, "component": "bench"}
    )
    await prepare(settings)
    return settings, {
        **os.environ,
        "BATON_TOPIC_PREFIX": prefix,
        "BATON_KAFKA_BOOTSTRAP": settings.bootstrap,
        "BATON_PG_DSN": settings.dsn,
        "BATON_PG_SCHEMA": settings.db_schema,
        "BATON_LOG_LEVEL": "WARNING",
        **env,
    }


async def remove(settings: BatonSettings) -> None:
    """Delete a :func:`deployment`: its topics and its schema."""
    await delete_topics(bootstrap=settings.bootstrap, prefix=settings.topic_prefix)
    async with Database(dsn=settings.dsn, schema=settings.db_schema) as db:
        await drop_schema(db)


async def run(count: int, phases: int, agents: int, concurrency: int) -> dict[str, Any]:
    settings, env = await deployment(BATON_RESOURCE_POOLS=f'{{"agents": {agents}}}')
    prefix = settings.topic_prefix
    created: dict[str, float] = {}
    finished: dict[str, float] = {}
    ended: dict[str, asyncio.Event] = {}
    done = asyncio.Event()

    async def work(task: Task) -> dict[str, Any]:
        return {"ok": True}

    async def completed(event: Event) -> None:
        if event.workflow_id in created and event.workflow_id not in finished:
            finished[event.workflow_id] = time.perf_counter()
            ended[event.workflow_id].set()
            if len(finished) >= count:
                done.set()

    client = BatonClient(component="bench", settings=settings)
    await client.subscribe("workflow.*.completed", completed, group=f"{prefix}.watch")
    limit = asyncio.Semaphore(concurrency)

    async def create(i: int) -> None:
        name = f"{prefix}_{i:05d}"
        definition = {
            "workflow_id": name,
            "name": name,
            "priority": "medium",
            "phases": [f"p{n}" for n in range(phases)],
            "resource_requirements": {"agents": 1, "duration": "1h"},
        }
        ended[name] = asyncio.Event()
        async with limit:
            created[name] = time.perf_counter()
            await client.create_workflow(definition, timeout=120)
            await asyncio.wait_for(ended[name].wait(), timeout=600)

    logs = Path(tempfile.mkdtemp(prefix="baton-bench-"))
    supervisor = ServiceSupervisor(
        services=SERVICES, env=env, log_dir=logs, on_line=lambda service, line: None
    )
    workers = [
        AgentWorker(client=client, agent_id=f"agent_{i:03d}", handler=work, concurrency=4)
        for i in range(1, agents + 1)
    ]
    db = Database(dsn=settings.dsn, schema=settings.db_schema)
    try:
        async with supervisor, client, db:
            for worker in workers:
                await worker.start()
            pids = {name: supervisor.pid(name) for name in SERVICES}
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            own_before = _own_cpu()
            servers = await stack_pids(settings)
            servers_before = {name: tree_cpu_seconds(pid) for name, pid in servers.items()}
            busy_before = machine_busy_seconds()
            commits_before = await commits(db)
            peaks: dict[str, int] = {}
            sampler = asyncio.create_task(sample_rows(db, peaks))
            start = time.perf_counter()
            await asyncio.gather(*(create(i) for i in range(count)))
            await asyncio.wait_for(done.wait(), timeout=600)
            elapsed = time.perf_counter() - start
            sampler.cancel()
            cpu = {
                name: round(cpu_seconds(pid) - cpu_before[name], 1) for name, pid in pids.items()
            }
            cpu["bench (client + agents)"] = round(_own_cpu() - own_before, 1)
            for name, pid in servers.items():
                cpu[name] = round(tree_cpu_seconds(pid) - servers_before[name], 1)
            cpu["machine (all, incl. broker, PostgreSQL)"] = round(
                machine_busy_seconds() - busy_before, 1
            )
            memory = {name: memory_mb(pid) for name, pid in pids.items()}
            records = await records_written(settings)
            read = await records_read(settings)
            for worker in workers:
                await worker.stop()
        async with db:
            # Only now: a backend reports its commits when idle for a while or at its exit.
            committed = await commits(db) - commits_before
            rows = await table_rows(db)
    finally:
        await remove(settings)
    latencies = sorted(finished[n] - created[n] for n in finished)
    return {
        "workflows": count,
        "phases_per_workflow": phases,
        "agents": agents,
        "concurrency": concurrency,
        "seconds": round(elapsed, 2),
        "workflows_per_s": round(count / elapsed, 1),
        "latency_p50_s": round(statistics.median(latencies), 3),
        "latency_p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
        "cpu_seconds": cpu,
        "cpu_seconds_per_workflow": round(
            cpu["machine (all, incl. broker, PostgreSQL)"] / count, 3
        ),
        "kafka_records_per_workflow": round(sum(records.values()) / count, 1),
        "kafka_records_by_topic": records,
        "kafka_records_read_per_workflow": round(sum(read.values()) / count, 1),
        "kafka_records_read_by_group": read,
        "postgres_commits_per_workflow": round(committed / count, 1),
        "service_memory_mb": memory,
        "postgres_rows_peak": peaks,
        "postgres_rows_at_end": rows,
        "cores": os.cpu_count(),
        "logs": str(logs),
    }


async def run_without_logs(
    count: int, phases: int, agents: int, concurrency: int
) -> dict[str, Any]:
    """:func:`run`, then its services' logs deleted: for runs whose figures are all that
    is kept (a warm-up, each run of a side-by-side comparison)."""
    result = await run(count, phases, agents, concurrency)
    shutil.rmtree(result["logs"], ignore_errors=True)
    return result


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=200)
    parser.add_argument("--phases", type=int, default=3)
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=0, help="unmeasured workflows first")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    async def warm_then_measure() -> dict[str, Any]:
        if args.warmup > 0:
            await run_without_logs(args.warmup, args.phases, args.agents, args.concurrency)
        return await run(args.workflows, args.phases, args.agents, args.concurrency)

    print_result(asyncio.run(warm_then_measure()), as_json=args.json)


if __name__ == "__main__":
    cli()
