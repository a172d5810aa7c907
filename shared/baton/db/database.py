"""A pooled asyncpg database handle with the client lifecycle every Baton client has."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson

from baton.backoff import BackoffPolicy
from baton.errors import DependencyUnavailableError, WriteConflictError
from baton.lifecycle import Lifecycle

__all__ = ["Database", "is_outage", "quote_ident"]

_OPENING_ATTEMPTS = 5
_OPENING = BackoffPolicy(base=0.2, max_delay=1.6, max_attempts=_OPENING_ATTEMPTS, jitter="none")
"""Pauses between attempts to open the pool while PostgreSQL may be restarting."""

# Errors that say the server (or the way to it) is gone, not that the statement is wrong:
# the same work succeeds once PostgreSQL is back, so callers wait rather than dead-letter.
_OUTAGE: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    # asyncpg's protocol state broken by a server gone mid-operation (seen from the pool's
    # reconnects after a PostgreSQL restart); a new connection works.
    asyncpg.InternalClientError,
)

_CONFLICT: tuple[type[BaseException], ...] = (
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
)
"""Errors that say the rows changed under the statement: nothing was written, and the same
work read again succeeds (optimistic writes raise ``serialization_failure`` themselves)."""


def is_outage(error: BaseException, *, conn: Any = None) -> bool:
    """True when ``error`` means PostgreSQL is unreachable (restarting, down, link lost).

    An ``InterfaceError`` counts only when it comes from ``conn`` (still held) that is
    closed or was detached from its pool by the server's going away: it is also how asyncpg
    reports misuse, which waiting would not fix.
    """
    if isinstance(error, _OUTAGE):
        return True
    if isinstance(error, asyncpg.InterfaceError) and conn is not None:
        try:
            return bool(conn.is_closed())
        except asyncpg.InterfaceError:
            # Detached from its pool while still held: asyncpg does that when the server
            # drops the connection.
            return True
    return False


async def _init_connection(conn: Any) -> None:
    # JSONB in and out as Python objects, through orjson.
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: orjson.dumps(v).decode(),
        decoder=orjson.loads,
        schema="pg_catalog",
    )


async def _keep_session(conn: Any) -> None:
    """Skip the pool's reset query when a connection comes back (asyncpg has already rolled
    back any transaction left open by then).

    That query (advisory unlocks, ``CLOSE ALL``, ``UNLISTEN *``, ``RESET ALL``) is a round
    trip after every transaction, and undoes nothing Baton does: its locks are
    transaction-scoped, it does not listen, keep cursors or change settings per session,
    and the role and search path are connection parameters.
    """


def quote_ident(name: str) -> str:
    """``name`` quoted as an SQL identifier (for names that come from configuration)."""
    return '"' + name.replace('"', '""') + '"'


class Database(Lifecycle):
    """Connection pool to one PostgreSQL database, working in one deployment's schema.

    Every connection's ``search_path`` is ``schema`` alone, so every unqualified table name
    of every service (and the migration ledger) is that deployment's: deployments sharing
    a database see nothing of each other's rows.

    Args:
        dsn: libpq connection string (``BATON_PG_DSN``).
        schema: The deployment's schema (``BatonSettings.db_schema``); ``public`` by default.
        min_size: Connections kept open.
        max_size: Most connections at once.
        role: Role every connection acts as (``SET ROLE`` at connection start, so it
            outlives the pool's ``RESET ALL``); the DSN's user must be a member of it.
        application_name: What PostgreSQL shows for these connections
            (``pg_stat_activity``, the server log's ``%a``): a service's name, so that its
            sessions and statements can be told apart. None: the DSN's, if it names one.
    """

    def __init__(
        self,
        *,
        dsn: str,
        schema: str = "public",
        min_size: int = 1,
        max_size: int = 10,
        role: str | None = None,
        application_name: str | None = None,
    ) -> None:
        self.dsn = dsn
        self.schema = schema
        self.role = role
        self.application_name = application_name
        self._min = min_size
        self._max = max_size
        self._pool: Any = None

    async def start(self) -> None:
        """Open the pool (retried briefly: a database restarting is a passing state)."""
        if self._pool is not None:
            return
        last: BaseException | None = None
        for attempt in range(1, _OPENING_ATTEMPTS + 1):
            try:
                self._pool = await asyncpg.create_pool(
                    self.dsn,
                    min_size=self._min,
                    max_size=self._max,
                    init=_init_connection,
                    reset=_keep_session,
                    command_timeout=30,
                    server_settings=self._session_settings(),
                )
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                last = exc
                delay = _OPENING.delay(attempt=attempt)
                if delay is not None:
                    await asyncio.sleep(delay)
        raise DependencyUnavailableError(
            f"cannot reach PostgreSQL at {_redact(self.dsn)} (BATON_PG_DSN): {last!r}; "
            "start one with `baton stack up`",
        )

    def _session_settings(self) -> dict[str, str]:
        # Connection parameters, not SET: they survive anything done on the connection.
        # pg_catalog is searched first implicitly; nothing else is searched.
        settings = {"search_path": quote_ident(self.schema)}
        if self.role:
            settings["role"] = self.role
        if self.application_name:
            settings["application_name"] = self.application_name
        return settings

    async def stop(self) -> None:
        """Close the pool. Safe to call twice."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @property
    def pool(self) -> Any:
        """The asyncpg pool (raises when not started)."""
        if self._pool is None:
            raise DependencyUnavailableError("the database is not started")
        return self._pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """A pooled connection; losing PostgreSQL raises :class:`DependencyUnavailableError`.

        Raises:
            DependencyUnavailableError: the server is down, restarting or unreachable
                (retriable: consumers and loops wait for it instead of dead-lettering).
            WriteConflictError: a statement met rows another transaction changed
                (serialization failure, deadlock); nothing of it was written.
        """
        try:
            async with self.pool.acquire() as conn:
                try:
                    yield conn
                except asyncpg.InternalClientError as exc:
                    # The protocol state of this connection is broken (an operation cut off
                    # by the server going away): never hand it out again, retry on a new one.
                    with contextlib.suppress(asyncpg.InterfaceError):  # already detached
                        conn.terminate()
                    raise self._lost(exc) from exc
                except _CONFLICT as exc:
                    raise WriteConflictError(
                        str(exc), sqlstate=getattr(exc, "sqlstate", None)
                    ) from exc
                except Exception as exc:
                    # Asked while the connection is still ours: afterwards it is the pool's.
                    if is_outage(exc, conn=conn):
                        raise self._lost(exc) from exc
                    raise
        except DependencyUnavailableError:
            raise
        except Exception as exc:  # acquiring or releasing (a connection broken meanwhile)
            if is_outage(exc):
                raise self._lost(exc) from exc
            raise

    def _lost(self, exc: BaseException) -> DependencyUnavailableError:
        return DependencyUnavailableError(
            f"lost PostgreSQL at {_redact(self.dsn)}: {type(exc).__name__}: {exc}",
            dsn=_redact(self.dsn),
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        """A connection inside a transaction, committed when the block exits cleanly.

        Raises:
            DependencyUnavailableError: as :meth:`connection`; the transaction did not
                commit, or its commit was not confirmed (callers' idempotency covers that).
        """
        async with self.connection() as conn, conn.transaction():
            yield conn

    async def ping(self, *, timeout: float = 2.0) -> bool:
        """True when the database answers ``select 1`` within ``timeout``."""
        try:
            async with asyncio.timeout(timeout), self.pool.acquire() as conn:
                return bool(await conn.fetchval("select 1") == 1)
        except Exception:
            return False


def _redact(dsn: str) -> str:
    """The DSN without its password, for messages and logs."""
    if "@" not in dsn or "://" not in dsn:
        return dsn
    scheme, rest = dsn.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}@{host}"
