"""Benchmark: checkpoint writes/s through workflow-recovery against raw asyncpg.

Baton's path is the recovery handler's own (:meth:`CheckpointWriter.write` in the
transaction, :meth:`CheckpointWriter.committed` after it): look up the latest checkpoint of
each workflow of the batch and which ids are stored already (one query, while the requests
whose state before is in memory are prepared), encode each state canonically, hash it, and
store it full (zlib-compressed when 1 KiB or more) every 10 or when its delta exceeds half
of it, otherwise as a byte delta against the state before it; the rows stream into the
table with binary ``COPY`` as they are prepared — ``--batch`` checkpoints per transaction
(fewer than 16 go in one ``INSERT``, as a single checkpoint does).

The baseline is asyncpg ``executemany`` of the very rows Baton stored (same bytes and
columns, in a twin table with the same definition: primary key, checks, index and the
foreign key from a delta to its base — the same writes to disk and the same checks), in the
same batches: pure I/O, no lookup, no diff, no hash, no compression. The two sides take
turns, batch by batch (Baton's batch, then raw's of the same rows): this machine's speed
swings by a quarter over seconds, and turns this short see the same machine. Also the
latency of single checkpoints, one transaction each (p50/p99).

Besides wall time, the CPU each side spends per checkpoint: this process's, and that of the
PostgreSQL backends of the database (read from ``/proc``, so only for a local server; None
otherwise). On a shared machine the wall-time ratio swings with the other load; the CPU
ratio much less.

States are hub workflow states of ~``--tasks`` tasks, each version changing a few tasks, as a
workflow's successive checkpoints do. They reach the writer as the service's requests do:
decoded from JSON (``CheckpointRequest.decoded``), before the clock starts, as the bus
decodes events before a handler runs.

Run: ``python -m bench.checkpoints [--checkpoints N] [--workflows W] [--batch B] [--json]``
(the local stack must be up, or BATON_PG_DSN set).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson

from baton.bus import Bus
from baton.config import BatonSettings
from baton.db import Database, load_migrations, migrate
from baton.runtime import RUNTIME_MIGRATIONS, Outbox
from baton.services import load_service
from baton_recovery.checkpoints.writer import CheckpointRequest
from baton_recovery.config import RecoveryConfig
from baton_recovery.handlers import RecoveryHandlers
from bench.report import print_result

TWIN = "bench_checkpoints_raw"
_CLEANUP_S = 600.0
"""Deleting the benchmark's rows checks the delta foreign key of each against the whole
table (the referencing column has no index: nothing else deletes checkpoints), which takes
long on a database that kept many."""
T = TypeVar("T")


class _Cpu:
    """CPU seconds of this process and of the database's PostgreSQL backends, since start."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.client = time.process_time()
        self.server = self._server()

    def _server(self) -> float | None:
        try:  # the first field of schedstat: nanoseconds on a CPU
            return (
                sum(int(Path(f"/proc/{p}/schedstat").read_text().split()[0]) for p in self.pids)
                / 1e9
            )
        except (OSError, ValueError, IndexError):
            return None  # not a local server (or the backend is gone)

    def spent(self) -> tuple[float, float | None]:
        client = time.process_time() - self.client
        server, before = self._server(), self.server
        return client, None if server is None or before is None else server - before


async def _backends(db: Database) -> list[int]:
    rows = await db.pool.fetch(
        "select pid from pg_stat_activity where datname = current_database() "
        "and backend_type = 'client backend'"
    )
    return [r["pid"] for r in rows]


class _Tally:
    """Wall time and CPU one side spent, summed over the batches it ran."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.client = 0.0
        self.server: float | None = 0.0

    @contextlib.asynccontextmanager
    async def measure(self, backends: list[int]) -> AsyncIterator[None]:
        cpu = _Cpu(backends)
        began = time.perf_counter()
        yield
        self.wall += time.perf_counter() - began
        client, server = cpu.spent()
        self.client += client
        self.server = None if server is None or self.server is None else self.server + server


async def _baton_batch(
    db: Database, handlers: RecoveryHandlers, part: list[CheckpointRequest]
) -> None:
    async with db.transaction() as conn:
        written = await handlers.writer.write(conn, part)
    handlers.writer.committed(written)


async def _raw_batch(db: Database, insert: str, part: list[tuple[Any, ...]]) -> None:
    async with db.transaction() as conn:
        await conn.executemany(insert, part)


def _cpu_ratio(raw: _Tally, baton: _Tally) -> float | None:
    if raw.server is None or baton.server is None:
        return None
    return round((raw.client + raw.server) / (baton.client + baton.server), 3)


def _per_checkpoint(seconds: float | None, count: int) -> float | None:
    return None if seconds is None else round(1e6 * seconds / count, 1)


def state(workflow: str, version: int, tasks: int) -> dict[str, Any]:
    """A hub-like workflow state at ``version``: tasks complete one by one."""
    return {
        "definition": {
            "workflow_id": workflow,
            "name": f"benchmark {workflow}",
            "phases": ["research", "plan", "implement", "test"],
            "tasks": [
                {"task_id": f"t{i}", "phase": ["research", "plan", "implement", "test"][i % 4]}
                for i in range(tasks)
            ],
            "resource_requirements": {"agents": 3, "duration": "4h"},
        },
        "status": "STARTED",
        "state_version": version,
        "tasks": {
            f"t{i}": {
                "task_id": f"t{i}",
                "status": "completed" if i < version % tasks else "pending",
                "agent_id": f"agent_{i % 4:03d}" if i < version % tasks else None,
                "attempts": 1 if i < version % tasks else 0,
                "results": {"summary": f"result of t{i} " * 4} if i < version % tasks else None,
            }
            for i in range(tasks)
        },
        "context": {"version": version, "data": {"notes": "shared context " * 8}},
        "updated_at": f"2026-11-21T10:{version % 60:02d}:00Z",
    }


def _request(workflow: str, checkpoint_id: str, version: int, tasks: int) -> CheckpointRequest:
    """A request as the service builds one from a CHECKPOINT_REQUESTED: its state decoded
    from JSON."""
    return CheckpointRequest(
        workflow_id=workflow,
        checkpoint_id=checkpoint_id,
        checkpoint_type="incremental",
        trigger="benchmark",
        state_version=version,
        state=orjson.loads(orjson.dumps(state(workflow, version, tasks))),
        decoded=True,
    )


def _lanes(items: list[T], partitions: int, *, key: Callable[[T], str]) -> list[list[T]]:
    """``items`` split by workflow into ``partitions`` lists, order kept within each (as a
    topic's partitions split a service's checkpoint requests)."""
    lanes: list[list[T]] = [[] for _ in range(partitions)]
    names: dict[str, int] = {}
    for item in items:
        lanes[names.setdefault(key(item), len(names) % partitions)].append(item)
    return [lane for lane in lanes if lane]


async def run(
    count: int, workflows: int, batch: int, tasks: int, partitions: int = 1
) -> dict[str, Any]:
    settings = BatonSettings.from_env(os.environ).model_copy(update={"component": "bench"})
    async with Database(dsn=settings.dsn, min_size=partitions, max_size=partitions + 2) as db:
        await migrate(db, migrations=load_migrations(owner="runtime", directory=RUNTIME_MIGRATIONS))
        migrations = load_service("recovery").migrations
        assert migrations is not None
        await migrate(db, migrations=load_migrations(owner="recovery", directory=migrations))
        await db.pool.execute(
            f"drop table if exists {TWIN}; create table {TWIN} "
            "(like recovery_checkpoints including all); "
            f"alter table {TWIN} add foreign key (base_id) references {TWIN} (checkpoint_id); "
            "delete from recovery_checkpoints where checkpoint_id like 'bench_%'",
            timeout=_CLEANUP_S,
        )
        handlers = RecoveryHandlers(
            bus=Bus(settings=settings),
            db=db,
            outbox=Outbox(db=db, bus=Bus(settings=settings), owner="bench.recovery"),
            config=RecoveryConfig(),
            group="bench.recovery",
        )
        # (workflow, checkpoint id, version); each batch's states are made just before it
        # is written, as a service receives them, so the heap holds one batch at a time.
        plan = [
            (f"bench_wf_{n % workflows}", f"bench_{n}", n // workflows + 1) for n in range(count)
        ]
        lanes = _lanes(plan, partitions, key=lambda item: item[0])
        steps = max(len(lane) for lane in lanes)
        baton, raw = _Tally(), _Tally()
        kinds: list[str] = []
        sizes: list[float] = []
        columns: list[str] = []
        for start in range(0, steps, batch):
            todo = [
                [_request(w, c, v, tasks) for w, c, v in lane[start : start + batch]]
                for lane in lanes
                if lane[start:]
            ]
            async with baton.measure(await _backends(db)):
                await asyncio.gather(*(_baton_batch(db, handlers, part) for part in todo))
            stored = await db.pool.fetch(
                "select * from recovery_checkpoints where checkpoint_id = any($1) order by seq",
                [r.checkpoint_id for part in todo for r in part],
            )
            kinds.extend(r["kind"] for r in stored)
            sizes.extend(r["stored_size"] / r["full_size"] for r in stored)
            columns = columns or [c for c in dict(stored[0]) if c != "seq"]
            lane_of = {r.workflow_id: i for i, part in enumerate(todo) for r in part}
            raw_parts: list[list[tuple[Any, ...]]] = [[] for _ in todo]
            for r in stored:  # in the order Baton stored them
                raw_parts[lane_of[r["workflow_id"]]].append(tuple(r[c] for c in columns))
            insert = (
                f"insert into {TWIN} ({', '.join(columns)}) values "
                f"({', '.join(f'${i + 1}' for i in range(len(columns)))})"
            )
            del todo, stored
            async with raw.measure(await _backends(db)):
                await asyncio.gather(*(_raw_batch(db, insert, part) for part in raw_parts if part))
        ratio = statistics.fmean(sizes)

        single: list[float] = []
        for n in range(min(200, count)):
            workflow = f"bench_wf_{n % workflows}"
            body = orjson.loads(orjson.dumps(state(workflow, 10_000 + n, tasks)))
            began = time.perf_counter()
            async with db.transaction() as conn:
                written = await handlers.writer.write(
                    conn,
                    [
                        CheckpointRequest(
                            workflow_id=workflow,
                            checkpoint_id=f"bench_single_{n}",
                            checkpoint_type="manual",
                            trigger="benchmark",
                            state_version=10_000 + n,
                            state=body,
                            decoded=True,
                        )
                    ],
                )
            handlers.writer.committed(written)
            single.append(time.perf_counter() - began)
        await db.pool.execute(
            f"drop table {TWIN}; "
            "delete from recovery_checkpoints where checkpoint_id like 'bench_%'",
            timeout=_CLEANUP_S,
        )
    single.sort()
    return {
        "checkpoints": count,
        "workflows": workflows,
        "batch": batch,
        "partitions": partitions,
        "full": kinds.count("full"),
        "delta": kinds.count("delta"),
        "mean_stored_over_full": round(ratio, 4),
        "baton_per_s": round(count / baton.wall, 1),
        "raw_executemany_per_s": round(count / raw.wall, 1),
        "ratio": round(raw.wall / baton.wall, 3),
        "baton_client_cpu_us": _per_checkpoint(baton.client, count),
        "baton_postgres_cpu_us": _per_checkpoint(baton.server, count),
        "raw_client_cpu_us": _per_checkpoint(raw.client, count),
        "raw_postgres_cpu_us": _per_checkpoint(raw.server, count),
        "cpu_ratio": _cpu_ratio(raw, baton),
        "single_p50_ms": round(1000 * single[len(single) // 2], 2),
        "single_p99_ms": round(1000 * single[min(len(single) - 1, int(len(single) * 0.99))], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=int, default=2000)
    parser.add_argument("--workflows", type=int, default=50)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--tasks", type=int, default=12)
    parser.add_argument(
        "--partitions",
        type=int,
        default=1,
        help="lanes of workflows written at once, each its own transactions (both sides)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(
        run(args.checkpoints, args.workflows, args.batch, args.tasks, args.partitions)
    )
    print_result(result, as_json=args.json)


if __name__ == "__main__":
    main()
