"""Shared fixtures.

Tests marked ``integration`` need the real Kafka broker and PostgreSQL. They run against the
suite's own stack, never the user's (``baton stack up`` with the default home and ports):
its own home ``~/.cache/baton-test`` and ports (Kafka 18092, PostgreSQL 18432; see
tests/stack.py). The session starts it when it is not running, stops it at the end when it
started it, and fails — never skips — when it cannot start it. Before any test runs, this
process's environment, which every subprocess inherits, is pointed at it:
``BATON_KAFKA_BOOTSTRAP``, ``BATON_PG_DSN``, ``BATON_HOME`` and the other ``BATON_KAFKA_*`` /
``BATON_PG_*`` / ``BATON_STACK_*`` variables of the shell are ignored, so a shell configured
for the user's own broker or database does not lead the tests there.
``BATON_TEST_USE_CONFIGURED=1`` uses the stack that environment configures instead, as found
(started by ``baton stack up`` when local, and left running).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from baton.bus import Bus, MemoryTransport
from baton.config import BatonSettings
from baton.db import Database
from tests.stack import (
    apply_test_environment,
    session_stack,
    share_jars,
    user_settings,
    uses_configured_stack,
)


def pytest_configure(config: pytest.Config) -> None:
    """Point this process and every subprocess at the suite's own stack (before collection:
    some test modules read the environment when they load)."""
    apply_test_environment(os.environ)
    if not uses_configured_stack(os.environ):  # the Kafka jars the user's stack fetched
        home = BatonSettings.from_env(os.environ).home
        share_jars(source=user_settings(os.environ).home, home=home)


@contextlib.asynccontextmanager
async def deployment_database(
    live_stack: BatonSettings, *services: str, max_size: int = 4
) -> AsyncIterator[tuple[BatonSettings, Database]]:
    """A fresh deployment's settings and database: a unique prefix, its own schema with the
    runtime's and ``services``' migrations applied; the schema is dropped at the end."""
    settings = live_stack.model_copy(update={"topic_prefix": unique_prefix(), "pg_schema": None})
    try:
        async with Database(dsn=settings.dsn, schema=settings.db_schema, max_size=max_size) as db:
            await migrate_for(db, *services)
            yield settings, db
    finally:
        await drop_schema(dsn=settings.dsn, schema=settings.db_schema)


async def drop_schema(*, dsn: str, schema: str) -> None:
    """Drop a test deployment's schema with its tables (a process still holding one of
    them is not waited for long: the schema then stays, harmless)."""
    from baton.db import quote_ident

    assert schema != "public", "a test never drops the default deployment's schema"
    with contextlib.suppress(Exception):
        async with Database(dsn=dsn) as db, db.connection() as conn:
            await conn.execute("set lock_timeout = '10s'")
            await conn.execute(f"drop schema if exists {quote_ident(schema)} cascade")


async def migrate_for(db: Database, *services: str) -> None:
    """Apply the runtime's migrations, then those of ``services``, to ``db``."""
    from baton.db import load_migrations, migrate
    from baton.runtime import RUNTIME_MIGRATIONS
    from baton.services import load_service

    await migrate(db, migrations=load_migrations(owner="runtime", directory=RUNTIME_MIGRATIONS))
    for name in services:
        directory = load_service(name).migrations
        assert directory is not None, f"{name} has no migrations"
        await migrate(db, migrations=load_migrations(owner=name, directory=directory))


_PREFIXES: set[str] = set()
"""Topic prefixes this test session made (see :func:`unique_prefix`)."""


@pytest.fixture(scope="session")
def live_stack() -> Iterator[BatonSettings]:
    """Settings of the suite's running Kafka + PostgreSQL (module docstring), started when
    needed and stopped at the end when this session started them.

    Test topics get 2 partitions, and the topics of every prefix this session made are
    deleted at its end: a broker keeps files open per partition, and leftovers would pile
    up. (Only this session's: another session may be using the same broker right now.)
    """
    from baton.topics import delete_topics

    settings = BatonSettings.from_env(os.environ).model_copy(update={"partitions": 2})
    with session_stack(settings=settings, own=not uses_configured_stack(os.environ)):
        yield settings
        if _PREFIXES:
            ours = "^(" + "|".join(sorted(_PREFIXES)) + r")\."
            delete = functools.partial(delete_topics, bootstrap=settings.bootstrap, pattern=ours)
            _in_thread(delete)


def _in_thread(make: Callable[[], Awaitable[object]]) -> None:
    """Run a coroutine to completion from sync code that may sit inside a running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: asyncio.run(make())).result()  # type: ignore[arg-type]


def unique_prefix() -> str:
    """A fresh topic prefix for one test; its topics are deleted when the session ends."""
    prefix = f"t_{uuid.uuid4().hex[:10]}"
    _PREFIXES.add(prefix)
    return prefix


BusFactory = Callable[..., Awaitable[Bus]]


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.integration)])
async def make_bus(request: pytest.FixtureRequest) -> AsyncIterator[BusFactory]:
    """Builds started buses on a fresh topic prefix, over the in-memory or the Kafka transport.

    Every bus made by one factory shares the prefix (and, in memory, the broker), so a test
    can have a publisher bus and a consumer bus talk.
    """
    kind: str = request.param
    prefix = unique_prefix()
    memory = MemoryTransport(partitions=4)
    base = request.getfixturevalue("live_stack") if kind == "kafka" else BatonSettings()
    created = False
    buses: list[Bus] = []

    async def factory(**overrides: Any) -> Bus:
        nonlocal created
        settings = base.model_copy(
            update={
                "topic_prefix": prefix,
                "partitions": 4,
                "retry_delays": (0.3, 0.6),
                "component": "test",
                **overrides,
            }
        )
        if kind == "kafka" and not created:
            from baton.topics import create_topics

            await create_topics(settings=settings)
            created = True
        bus = Bus(settings=settings, transport=memory if kind == "memory" else None)
        buses.append(bus)
        return bus

    yield factory
    for bus in buses:
        await bus.stop()
    if created:  # idle partitions slow the broker down (its restart most of all)
        from baton.topics import delete_topics

        with contextlib.suppress(Exception):  # the session's end deletes what is left
            await delete_topics(bootstrap=base.bootstrap, prefix=prefix)
