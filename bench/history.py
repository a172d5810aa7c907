"""Benchmark: the status service with a long history — time to ready, memory, and the
latency of its two busiest reads, as the number of finished workflows it stores grows.

For each size of ``--sizes`` (default 1,000, 20,000 and 100,000 finished workflows), the
store is filled to that many rows straight into PostgreSQL (binary ``COPY``), in the shape
the service writes them: a view projected from a real run's events (four phases, seven
tasks, their timeline), its list line and summary columns; nine in ten COMPLETED, the rest
FAILED or CANCELLED, five workflow types, four priorities, ended over the last five days
(inside the default retention window). Then, ``--runs`` times, the service starts as its
own process (``baton serve status``), and the bench measures:

- ``ready_s``: from the process's start until ``/ready`` answers 200;
- ``rss_mb``: its resident memory once ready, and after the requests below;
- ``overview_ms`` and ``list_ms``: p50 and p95 of ``--requests`` sequential requests of
  ``/api/overview`` and of the first page of ``/api/workflows`` (200 workflows).

Every figure is given for each run (the spread shows this machine's noise). Targets at
100,000: ready ≤ 5 s, RSS ≤ 200 MB, both p95 ≤ 100 ms. The bench's rows (ids
``hist<run>_…``) and topics are deleted at the end.

Run: ``python -m bench.history [--sizes 1000,20000,100000] [--runs 2] [--requests 200]
[--json]`` (the local stack must be up, or BATON_KAFKA_BOOTSTRAP / BATON_PG_DSN set). A
CI-sized run: ``--sizes 200,2000 --runs 1 --requests 50``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from baton.config import BatonSettings
from baton.db import Database, load_migrations, migrate
from baton.protocol.event import Event
from baton.runtime import RUNTIME_MIGRATIONS
from baton.services import load_service
from baton.topics import create_topics, delete_topics
from baton_hub import workflow as wf
from baton_status.handlers import line
from baton_status.projection import apply
from baton_status.render import PRIORITY_ORDER
from baton_status.store import StatusStore
from baton_status.views import WorkflowView
from bench.report import print_result
from bench.workflows import drop_schema

COLUMNS = (
    "workflow_id",
    "status",
    "priority",
    "priority_rank",
    "workflow_type",
    "name",
    "progress",
    "phases_done",
    "phases_total",
    "created_at",
    "started_at",
    "finished_at",
    "updated_at",
    "duration_s",
    "summary",
    "view",
)
DEFINITION: dict[str, Any] = {
    "name": "User Authentication Feature",
    "phases": ["research", "planning", "implementation", "testing"],
    "resource_requirements": {"agents": 3, "memory": "2GB", "duration": "4h"},
    "tasks": [
        {"task_id": "research", "phase": "research", "estimated_duration": "30m"},
        {"task_id": "plan", "phase": "planning", "estimated_duration": "20m"},
        {"task_id": "backend", "phase": "implementation", "estimated_duration": "90m"},
        {"task_id": "frontend", "phase": "implementation", "estimated_duration": "80m"},
        {"task_id": "api", "phase": "implementation", "estimated_duration": "60m"},
        {"task_id": "unit_tests", "phase": "testing", "estimated_duration": "30m"},
        {
            "task_id": "integration_tests",
            "phase": "testing",
            "estimated_duration": "20m",
            "dependencies": ["unit_tests"],
        },
    ],
}
TYPES = ("feature_dev", "bug_fix", "refactor", "migration", "docs")
PRIORITIES = tuple(PRIORITY_ORDER)
BATCH = 2000


def _bus_events(events: Any, now: datetime) -> list[Event]:
    return [
        Event(
            event_type=e.event_type,
            workflow_id=e.workflow_id,
            phase=e.phase,
            data=dict(e.data),
            timestamp=now,
            source="coordination-hub",
        )
        for e in events
    ]


def templates() -> dict[str, WorkflowView]:
    """One view per ending, projected from a run of the hub's state machine."""
    start = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
    now = start
    state, created = wf.create({**DEFINITION, "workflow_id": "template_1"}, now=now)
    events = _bus_events(created, now)
    state, more = wf.on_allocation(
        state, now=now, status="approved", allocation_id="alloc_1", agents=["a1", "a2", "a3"]
    )
    events += _bus_events(more, now)
    half: list[Event] = []
    while state.status == "STARTED":
        held = [t for t in state.tasks.values() if t.in_flight]
        if not held:
            break
        task = held[0]
        assert task.agent_id is not None
        now += timedelta(minutes=20)
        state, more = wf.on_task_completed(
            state,
            now=now,
            task_id=task.task_id,
            agent_id=task.agent_id,
            fencing_token=task.fencing_token,
            results={"ok": True},
            quality_score=0.95,
        )
        events += _bus_events(more, now)
        if not half and len(events) > 20:
            half = list(events)
    ends = {
        "COMPLETED": events,
        "FAILED": [*half, _ended(half, "WORKFLOW_FAILED", {"failure_reason": "tests failed"})],
        "CANCELLED": [*half, _ended(half, "WORKFLOW_CANCELLED", {"cancellation_reason": "dup"})],
    }
    out: dict[str, WorkflowView] = {}
    for status, run in ends.items():
        view: WorkflowView | None = None
        for event in run:
            view = apply(view, event)
        assert view is not None
        assert view.status == status, (status, view.status)
        out[status] = view
    return out


def _ended(before: list[Event], kind: str, data: dict[str, Any]) -> Event:
    last = before[-1]
    return Event(
        event_type=kind,
        workflow_id=last.workflow_id,
        phase="global",
        data=data,
        timestamp=last.timestamp + timedelta(minutes=5),
        source="coordination-hub",
    )


def rows(
    run: str, first: int, last: int, shapes: dict[str, WorkflowView]
) -> Iterator[tuple[Any, ...]]:
    """Rows ``first``..``last - 1`` of the bench's workflows, as the service writes them."""
    views = {status: view.model_dump(mode="json") for status, view in shapes.items()}
    lines = {status: line(view) for status, view in shapes.items()}
    now = datetime.now(UTC)
    for n in range(first, last):
        status = "COMPLETED" if n % 10 < 9 else ("FAILED" if n % 20 == 9 else "CANCELLED")
        kind, priority = TYPES[n % len(TYPES)], PRIORITIES[n % len(PRIORITIES)]
        workflow_id = f"{run}_{n:07d}"
        finished = now - timedelta(days=5) + timedelta(seconds=n * 4.32e5 / max(last, 1))
        started = finished - timedelta(hours=2, minutes=n % 60)
        created = started - timedelta(seconds=5)
        times = {
            "created_at": created.isoformat(),
            "started_at": started.isoformat(),
            "finished_at": finished.isoformat(),
            "updated_at": finished.isoformat(),
        }
        names = {"workflow_id": workflow_id, "name": f"{DEFINITION['name']} {n}"}
        view = {**views[status], **names, **times, "workflow_type": kind, "priority": priority}
        summary: dict[str, Any] = {
            **lines[status],
            **names,
            **times,
            "workflow_type": kind,
            "priority": priority,
        }
        if status == "COMPLETED":
            summary["estimate"] = {**summary["estimate"], "completion_at": times["finished_at"]}
        yield (
            workflow_id,
            status,
            priority,
            PRIORITY_ORDER[priority],
            kind,
            names["name"],
            summary["progress"],
            summary["phases_done"],
            summary["phases_total"],
            created,
            started,
            finished,
            finished,
            (finished - started).total_seconds(),
            summary,
            view,
        )


async def fill(db: Database, *, run: str, have: int, want: int) -> float:
    """Add the bench's rows ``have``..``want - 1``; seconds it took (vacuumed, analysed)."""
    began = time.perf_counter()
    shapes = templates()
    conn = await asyncpg.connect(db.dsn, server_settings={"search_path": db.schema})
    try:
        # Binary COPY needs jsonb in its binary form: a version byte, then the text.
        await conn.set_type_codec(
            "jsonb",
            encoder=lambda value: b"\x01" + orjson.dumps(value),
            decoder=lambda data: orjson.loads(data[1:]),
            schema="pg_catalog",
            format="binary",
        )
        for first in range(have, want, BATCH):
            batch = list(rows(run, first, min(want, first + BATCH), shapes))
            await conn.copy_records_to_table("status_workflows", records=batch, columns=COLUMNS)
            # The service counts ended workflows as it writes them; so does the bench.
            await StatusStore(channel="bench").count_ended(conn, [(r[1], r[0], 1) for r in batch])
        await conn.execute("vacuum analyze status_workflows")  # as autovacuum would, later
    finally:
        await conn.close()
    return time.perf_counter() - began


def rss_mb(pid: int) -> float:
    """Resident memory of a process, MB."""
    for text in Path(f"/proc/{pid}/status").read_text().splitlines():
        if text.startswith("VmRSS:"):
            return round(int(text.split()[1]) / 1024, 1)
    return 0.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[int(share * (len(ordered) - 1))], 1)


async def timed(http: httpx.AsyncClient, url: str, count: int) -> dict[str, float]:
    """p50 and p95 (ms) of ``count`` sequential GETs of ``url``."""
    spent: list[float] = []
    for _ in range(count):
        began = time.perf_counter()
        response = await http.get(url)
        spent.append((time.perf_counter() - began) * 1000)
        response.raise_for_status()
    return {"p50": percentile(spent, 0.5), "p95": percentile(spent, 0.95)}


async def measure(env: dict[str, str], *, requests: int, log: Path) -> dict[str, Any]:
    """Start the status service, measure it (module doc), stop it."""
    port = _free_port()
    with log.open("ab") as out:
        began = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "baton",
            "serve",
            "status",
            "--port",
            str(port),
            env=env,
            stdout=out,
            stderr=out,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            while True:
                if proc.returncode is not None:
                    raise RuntimeError(f"the status service exited {proc.returncode}; see {log}")
                try:
                    if (await http.get(f"{base}/ready")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.02)
            ready = time.perf_counter() - began
            rss_ready = rss_mb(proc.pid)
            overview = await timed(http, f"{base}/api/overview", requests)
            listing = await timed(http, f"{base}/api/workflows", requests)
            first = (await http.get(f"{base}/api/workflows")).json()
            rss_after = rss_mb(proc.pid)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
    return {
        "ready_s": round(ready, 2),
        "rss_mb_ready": rss_ready,
        "rss_mb_after": rss_after,
        "overview_ms": overview,
        "list_ms": listing,
        "listed": len(first["workflows"]),
        "total": first["total"],
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _spread(runs: list[dict[str, Any]], pick: Any) -> str:
    values = [pick(r) for r in runs]
    return " / ".join(f"{v:g}" for v in values)


async def bench(sizes: list[int], runs: int, requests: int) -> dict[str, Any]:
    base = BatonSettings.from_env(os.environ)
    run = f"hist{uuid.uuid4().hex[:6]}"
    settings = base.model_copy(
        update={"topic_prefix": f"bench_{run}", "pg_schema": None, "partitions": 2}
    )
    await create_topics(settings=settings)
    env = {
        **os.environ,
        "BATON_TOPIC_PREFIX": settings.topic_prefix,
        "BATON_KAFKA_BOOTSTRAP": settings.bootstrap,
        "BATON_PG_DSN": settings.dsn,
        "BATON_PG_SCHEMA": settings.db_schema,  # the run is a deployment of its own
        "BATON_LOG_LEVEL": "WARNING",
    }
    log = Path(tempfile.mkdtemp(prefix="baton-bench-history-")) / "status.log"
    result: dict[str, Any] = {}
    try:
        async with Database(dsn=settings.dsn, schema=settings.db_schema) as db:
            await migrate(
                db, migrations=load_migrations(owner="runtime", directory=RUNTIME_MIGRATIONS)
            )
            status = load_service("status")
            assert status.migrations is not None
            await migrate(
                db, migrations=load_migrations(owner="status", directory=status.migrations)
            )
            have = 0
            try:
                for size in sorted(sizes):
                    filled = await fill(db, run=run, have=have, want=size)
                    have = size
                    stored = await db.pool.fetchval("select count(*) from status_workflows")
                    measured = [await measure(env, requests=requests, log=log) for _ in range(runs)]
                    result[f"{size} workflows"] = {
                        "rows_in_store": stored,
                        "fill_s": round(filled, 1),
                        "ready_s": _spread(measured, lambda r: r["ready_s"]),
                        "rss_mb_ready": _spread(measured, lambda r: r["rss_mb_ready"]),
                        "rss_mb_after": _spread(measured, lambda r: r["rss_mb_after"]),
                        "overview_p95_ms": _spread(measured, lambda r: r["overview_ms"]["p95"]),
                        "overview_p50_ms": _spread(measured, lambda r: r["overview_ms"]["p50"]),
                        "list_p95_ms": _spread(measured, lambda r: r["list_ms"]["p95"]),
                        "list_p50_ms": _spread(measured, lambda r: r["list_ms"]["p50"]),
                        "first_page": f"{measured[0]['listed']} of {measured[0]['total']}",
                    }
            finally:
                await drop_schema(db)
    finally:
        await delete_topics(bootstrap=settings.bootstrap, prefix=settings.topic_prefix)
    result["runs_per_size"] = runs
    result["requests_per_figure"] = requests
    result["cores"] = os.cpu_count()
    result["log"] = str(log)
    return result


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="1000,20000,100000",
        help="comma list of finished workflows in the store (default 1000,20000,100000)",
    )
    parser.add_argument("--runs", type=int, default=2, help="service starts per size")
    parser.add_argument("--requests", type=int, default=200, help="requests per latency figure")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    result = asyncio.run(bench(sizes, max(1, args.runs), max(1, args.requests)))
    print_result(result, as_json=args.json)


if __name__ == "__main__":
    cli()
