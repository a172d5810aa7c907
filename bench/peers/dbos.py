"""The peer: Baton's benchmark workflow on DBOS Transact, a library of durable workflows
checkpointed in PostgreSQL, against the same PostgreSQL server as Baton.

The workflow has the same shape as ``bench.workflows``': ``phases`` phases, each one durable
step that completes at once. DBOS runs in this process, in a database of its own
(:data:`DEFAULT_DATABASE`, created when missing), and each run in a fresh schema that is
dropped at the end, so it never touches Baton's tables and never counts their commits.

DBOS is an optional dependency (the ``peers`` group): it is imported only when a run starts.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import resource
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bench.peers.results import PeerResult, latency_ms
from bench.workflows import machine_busy_seconds

if TYPE_CHECKING:
    from dbos import DBOSConfig

__all__ = ["DEFAULT_DATABASE", "dbos_installed", "dbos_url", "run_dbos"]

DEFAULT_DATABASE = "dbos_peers"
"""The database DBOS keeps its system tables in, on Baton's PostgreSQL server."""

_Workflow = Callable[[str, int], Coroutine[Any, Any, int]]


def dbos_installed() -> bool:
    """Whether DBOS Transact can be imported (the ``peers`` dependency group)."""
    return importlib.util.find_spec("dbos") is not None


def dbos_url(dsn: str, *, database: str) -> str:
    """``dsn`` (Baton's PostgreSQL) with its database replaced by ``database``.

    Raises:
        ValueError: ``database`` is empty or ``dsn`` is not a ``postgres(ql)://`` URL.
    """
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgres", "postgresql") or not database:
        raise ValueError("expected a postgresql:// DSN and a database name")
    return urlunsplit(parts._replace(path=f"/{database}"))


@functools.cache
def _workflow() -> _Workflow:
    """Register the workflow and its step with DBOS, once per process."""
    from dbos import DBOS

    async def phase(workflow: str, index: int) -> dict[str, bool]:
        return {"ok": True}

    step = DBOS.step(name="bench_peer_phase")(phase)

    async def phases(workflow: str, count: int) -> int:
        for index in range(count):
            await step(workflow, index)
        return count

    registered: _Workflow = DBOS.workflow(name="bench_peer_phases")(phases)
    return registered


async def _commits(url: str) -> int:
    """Transactions committed so far in ``url``'s database, by every client."""
    conn = await asyncpg.connect(url)
    try:
        return int(
            await conn.fetchval(
                "select xact_commit from pg_stat_database where datname = current_database()"
            )
        )
    finally:
        await conn.close()


async def _drop_schema(url: str, schema: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'drop schema if exists "{schema}" cascade')
    finally:
        await conn.close()


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _config(url: str, schema: str) -> DBOSConfig:
    return {
        "name": "baton-peer",
        "system_database_url": url,
        "dbos_system_schema": schema,
        "log_level": "WARNING",
    }


async def run_dbos(*, url: str, workflows: int, phases: int, in_flight: int) -> PeerResult:
    """Run ``workflows`` workflows on DBOS, at most ``in_flight`` at a time, and measure.

    A first launch creates the database and the run's schema; the measured launch follows
    once its connections have closed, and the commit counter is read again once the
    measured one's have (a backend reports its commits when idle for a while or at exit):
    the commits counted are the workflows' and the measured launch's and shutdown's few.

    Args:
        url: PostgreSQL URL of DBOS's database (see :func:`dbos_url`).
        workflows: Workflows to complete.
        phases: Durable steps per workflow.
        in_flight: Workflows started and not yet completed, at most.
    """
    from dbos import DBOS

    workflow = _workflow()
    schema = f"bench_{uuid.uuid4().hex[:6]}"
    config = _config(url, schema)
    try:
        DBOS(config=config)
        DBOS.launch()
        DBOS.destroy()
        commits_before = await _commits(url)
        DBOS(config=config)
        DBOS.launch()
        latencies: list[float] = []
        limit = asyncio.Semaphore(in_flight)

        async def one(i: int) -> None:
            async with limit:
                created = time.perf_counter()
                handle = await DBOS.start_workflow_async(workflow, f"{schema}_{i:05d}", phases)
                await handle.get_result()
                latencies.append(time.perf_counter() - created)

        own_before, busy_before = _own_cpu(), machine_busy_seconds()
        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(workflows)))
        elapsed = time.perf_counter() - start
        own, busy = _own_cpu() - own_before, machine_busy_seconds() - busy_before
        DBOS.destroy()
        await asyncio.sleep(0.5)  # the closed connections' backends exit and report
        committed = await _commits(url) - commits_before
    finally:
        DBOS.destroy()  # nothing left to do when it has been
        await _drop_schema(url, schema)
    p50, p95 = latency_ms(latencies)
    return PeerResult(
        system="DBOS",
        in_flight=in_flight,
        workflows=workflows,
        seconds=round(elapsed, 2),
        workflows_per_s=round(workflows / elapsed, 1),
        p50_ms=p50,
        p95_ms=p95,
        machine_cpu_ms=round(busy * 1000 / workflows, 1),
        client_cpu_ms=round(own * 1000 / workflows, 1),
        pg_commits=round(committed / workflows, 1),
    )
