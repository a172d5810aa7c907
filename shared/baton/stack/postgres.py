"""The PostgreSQL part of the local stack: the configured database, or a local cluster.

A local cluster uses the distribution's server binaries (Debian: ``/usr/lib/postgresql/<n>/bin``),
listens on ``BATON_STACK_PG_PORT`` (55432) on loopback only, trusts local
connections and holds a superuser ``baton`` with a database ``baton``.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any
from urllib.parse import urlsplit

from baton.config import BatonSettings
from baton.errors import StackError
from baton.stack._common import Action, ServiceReport, State, log, port_open
from baton.stack._pg_cluster import HOST, PgCluster, find_pg_bin

__all__ = ["PostgresStack", "find_pg_bin", "postgres_answers"]

FOREIGN = "not started by baton stack; `baton stack down` leaves it alone"


async def postgres_answers(*, dsn: str, max_wait: float = 5.0) -> bool:
    """Whether ``dsn`` accepts a connection and answers ``select 1``."""
    import asyncpg

    try:
        conn = await asyncpg.connect(dsn, timeout=max_wait)
    except Exception:
        return False
    try:
        return bool(await conn.fetchval("select 1", timeout=max_wait) == 1)
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await conn.close(timeout=max_wait)


class PostgresStack:
    """The configured database, or the local cluster of ``baton stack``.

    Args:
        settings: ``pg_dsn`` (configured database), ``home`` and ``stack_pg_port``.
    """

    def __init__(self, *, settings: BatonSettings) -> None:
        self.settings = settings
        self.cluster = PgCluster(root=settings.home / "postgres", port=settings.stack_pg_port)
        self.port = settings.stack_pg_port
        self.local_dsn = settings.local_dsn

    @property
    def configured(self) -> str | None:
        """``BATON_PG_DSN`` unless it points at the local stack's own port."""
        value = self.settings.pg_dsn
        if not value:
            return None
        with contextlib.suppress(ValueError):
            parts = urlsplit(value)
            if parts.hostname in (HOST, "localhost") and parts.port == self.port:
                return None
        return value

    def _local(
        self, state: State, *, managed: bool = False, foreign: bool = False, **fields: Any
    ) -> ServiceReport:
        files: dict[str, Any] = {"log": str(self.cluster.log_file)}
        files["data_dir"] = str(self.cluster.data_dir)
        if foreign:
            files = {"log": None, "data_dir": None, "detail": FOREIGN}
        return ServiceReport.model_validate(
            {"name": "postgres", "endpoint": self.local_dsn, "source": "local"}
            | {"state": state, "managed": managed, **files, **fields}
        )

    async def _configured(self, dsn: str, action: Action | None) -> ServiceReport:
        ok = await postgres_answers(dsn=dsn)
        return ServiceReport(
            name="postgres",
            endpoint=dsn,
            source="configured",
            state="running" if ok else "unreachable",
            action=action,
        )

    async def status(self) -> ServiceReport:
        """Whether the database answers, and who runs it."""
        if (configured := self.configured) is not None:
            return await self._configured(configured, None)
        pid = self.cluster.managed_pid()
        answers = await postgres_answers(dsn=self.local_dsn)
        if pid is not None:
            return self._local("running" if answers else "starting", managed=True, pid=pid)
        return self._local("running", foreign=True) if answers else self._local("stopped")

    async def up(self, *, max_wait: float = 60.0) -> ServiceReport:
        """Use the configured database, reuse the running local one, or start one.

        Raises:
            StackError: the configured database does not answer, the local port is taken,
                the server binaries are missing, or the server does not start.
        """
        if (configured := self.configured) is not None:
            report = await self._configured(configured, "reused")
            if report.state != "running":
                raise StackError(
                    "BATON_PG_DSN is set but that database does not answer `select 1`. Start "
                    "it, or unset BATON_PG_DSN so that `baton stack up` starts a local one at "
                    f"{HOST}:{self.port}."
                )
            log.info("postgres: using configured database")
            return report
        if (pid := self.cluster.managed_pid()) is not None:
            log.info("postgres: local server already running (pid %d)", pid)
            await self.cluster.ensure_database(max_wait=max_wait)
            return self._local("running", managed=True, action="reused", pid=pid)
        if await postgres_answers(dsn=self.local_dsn):
            log.info("postgres: using a server not started by baton at %s:%d", HOST, self.port)
            return self._local("running", foreign=True, action="reused")
        if await port_open(HOST, self.port):
            raise StackError(
                f"port {HOST}:{self.port} is taken by a process that does not accept "
                f"{self.local_dsn}; stop it, set BATON_STACK_PG_PORT to a free port, or set "
                "BATON_PG_DSN to your database."
            )
        bin_dir = await self.cluster.binaries()
        await self.cluster.init(bin_dir=bin_dir)
        started = time.monotonic()
        await self.cluster.start(bin_dir=bin_dir, max_wait=max_wait)
        await self.cluster.ensure_database(max_wait=max_wait)
        log.info("postgres: ready in %.1fs", time.monotonic() - started)
        pid = self.cluster.managed_pid()
        return self._local("running", managed=True, action="started", pid=pid)

    async def down(self) -> ServiceReport:
        """Stop the local cluster if ``up`` started it; leave any other server alone."""
        if (pid := self.cluster.managed_pid()) is not None:
            log.info("postgres: stopping local server (pid %d)...", pid)
            await self.cluster.stop(pid=pid)
            log.info("postgres: stopped")
            return self._local("stopped", managed=True, action="stopped", pid=pid)
        if (configured := self.configured) is not None:
            return await self._configured(configured, "left-alone")
        if await postgres_answers(dsn=self.local_dsn):
            return self._local("running", foreign=True, action="left-alone")
        return self._local("stopped", action="already-stopped")
