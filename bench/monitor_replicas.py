"""Benchmark: what counting every partition's windows in PostgreSQL costs the monitor.

With several replicas, the monitor writes each batch's windows (the partition's pane of
now), its workflows' figures and its partition's offset in one transaction
(:mod:`baton_monitor.panes`), and every report or evaluation reads and sums every
partition's panes. Before, one replica kept its windows in memory and wrote only the
workflows' figures per batch — what this compares against (``memory``): the same events,
the same batches, the same database, in turns, batch by batch.

Reported: events/s of both paths and their ratio, the p50/p99 of one batch, the p50/p99 of
a system-wide report (every partition's panes read and summed) and of an evaluation turn,
and the average size of a pane row.

Run: ``python -m bench.monitor_replicas [--events N] [--partitions P] [--batch B] [--json]``
(the local stack must be up, or BATON_PG_DSN set).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from baton.bus import Bus, MemoryTransport, Record
from baton.config import BatonSettings
from baton.db import Database, load_migrations, migrate
from baton.protocol.event import Event
from baton.runtime import RUNTIME_MIGRATIONS, Outbox
from baton.services import load_service
from baton_monitor.catchup import CatchUp
from baton_monitor.config import MonitorConfig
from baton_monitor.handlers import MonitorModel
from baton_monitor.metrics import Metrics, adopt, observe
from baton_monitor.state import Position
from baton_monitor.store import WorkflowStore
from bench.report import print_result


def _events(count: int, workflows: int) -> list[Event]:
    """Task lifecycles of ``workflows`` workflows, ``count`` events in all."""
    rng = random.Random(17)
    out: list[Event] = []
    kinds = ("TASK_ASSIGNED", "TASK_STARTED", "TASK_PROGRESS", "TASK_COMPLETED")
    sent = datetime.now(UTC) - timedelta(seconds=1)
    while len(out) < count:
        workflow = f"bench_{rng.randrange(workflows):05d}"
        task = f"t{rng.randrange(20)}"
        for kind in kinds:
            data: dict[str, Any] = {"task_id": task, "agent_id": f"agent_{rng.randrange(8)}"}
            if kind == "TASK_COMPLETED":
                data["duration"] = round(rng.lognormvariate(1, 0.5), 3)
            out.append(
                Event(
                    event_type=kind, workflow_id=workflow, phase="impl", data=data, timestamp=sent
                )
            )
    return out[:count]


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    settings = BatonSettings.from_env(os.environ)
    group = f"bench_{uuid.uuid4().hex[:8]}.monitor"
    async with Database(dsn=settings.dsn, max_size=8) as db:
        await migrate(db, migrations=load_migrations(owner="runtime", directory=RUNTIME_MIGRATIONS))
        directory = load_service("monitor").migrations
        assert directory is not None
        await migrate(db, migrations=load_migrations(owner="monitor", directory=directory))
        bus = Bus(settings=settings, transport=MemoryTransport(partitions=args.partitions))
        catch_up = CatchUp(group=group, topic="bench.events")
        model = MonitorModel(
            bus=bus,
            db=db,
            outbox=Outbox(db=db, bus=bus, owner=group),
            config=MonitorConfig.from_env({}),
            group=group,
            holder="bench",
            catch_up=catch_up,
        )
        old = WorkflowStore(db=db, owner=f"{group}.memory")
        memory = Metrics(config=model.metrics_config)
        events = _events(args.events, args.workflows)
        batches = [
            (n % args.partitions, n * args.batch, events[n * args.batch : (n + 1) * args.batch])
            for n in range((len(events) + args.batch - 1) // args.batch)
        ]
        timings: dict[str, list[float]] = {"panes": [], "memory": []}
        for partition, first, batch in batches:
            began = time.perf_counter()
            with contextlib.ExitStack() as scopes:
                for offset, item in enumerate(batch, start=first):
                    record = Record("bench.events", partition, offset, None, b"", [], 0)
                    scopes.enter_context(
                        catch_up.consume_scope(record=record, event=item, group=group)
                    )
                await model.on_events(batch)
            timings["panes"].append(time.perf_counter() - began)
            began = time.perf_counter()  # what one replica did before: windows in memory
            wanted = {e.workflow_id for e in batch} - memory.workflows.keys()
            for workflow_id, stats in (await old.load(wanted)).items():
                adopt(memory, workflow_id=workflow_id, stats=stats)
            now = datetime.now(UTC)
            for offset, item in enumerate(batch, start=first):
                observe(
                    memory, item, now=now, position=Position(partition=partition, offset=offset)
                )
            await old.save({e.workflow_id: memory.workflows[e.workflow_id] for e in batch})
            timings["memory"].append(time.perf_counter() - began)
        reports, turns = [], []
        for _ in range(args.reads):
            began = time.perf_counter()
            await model.report()
            reports.append(time.perf_counter() - began)
            began = time.perf_counter()
            await model.evaluate_once()
            turns.append(time.perf_counter() - began)
            await asyncio.sleep(0.6)  # past the half-interval gap: every call takes the turn
        async with db.connection() as conn:
            size = await conn.fetchval(
                "select avg(pg_column_size(pane))::int from monitor_panes where owner = $1", group
            )
            for table in (
                "monitor_panes",
                "monitor_partitions",
                "monitor_workflows",
                "monitor_components",
                "monitor_evaluation",
                "baton_outbox",
            ):
                await conn.execute(
                    f"delete from {table} where owner = any($1::text[])", [group, f"{group}.memory"]
                )
    panes, mem = sum(timings["panes"]), sum(timings["memory"])
    return {
        "events": len(events),
        "partitions": args.partitions,
        "batch": args.batch,
        "panes_events_per_s": round(len(events) / panes),
        "memory_events_per_s": round(len(events) / mem),
        "ratio_panes_to_memory": round(panes / mem, 2),
        "batch_ms_p50_panes": _p(timings["panes"], 0.5),
        "batch_ms_p99_panes": _p(timings["panes"], 0.99),
        "batch_ms_p50_memory": _p(timings["memory"], 0.5),
        "batch_ms_p99_memory": _p(timings["memory"], 0.99),
        "report_ms_p50": _p(reports, 0.5),
        "report_ms_p99": _p(reports, 0.99),
        "evaluation_ms_p50": _p(turns, 0.5),
        "evaluation_ms_p99": _p(turns, 0.99),
        "evaluation_turns": model.turns,
        "pane_row_bytes": size,
        "report_mean_ms": round(statistics.fmean(reports) * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--workflows", type=int, default=500)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--reads", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    print_result(asyncio.run(_run(args)), as_json=args.json)


if __name__ == "__main__":
    main()
