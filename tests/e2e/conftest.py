"""End-to-end fixtures: a fresh topic prefix, migrated database, services as processes."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from baton.bus import Bus
from baton.config import BatonSettings
from baton.db import Database
from baton.topics import create_topics, delete_topics
from tests.conftest import drop_schema, migrate_for, unique_prefix
from tests.e2e.agents import EventLog, SimAgents

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"


@pytest.fixture
async def e2e_env(
    live_stack: BatonSettings, request: pytest.FixtureRequest
) -> AsyncIterator[dict[str, str]]:
    """Environment for service processes: a fresh deployment (:func:`deployment`)."""
    log_dir = ARTIFACTS / request.node.name
    async with deployment(live_stack, log_dir=log_dir) as env:
        yield env


@contextlib.asynccontextmanager
async def deployment(live_stack: BatonSettings, *, log_dir: Path) -> AsyncIterator[dict[str, str]]:
    """A fresh prefix with its topics and migrated schema; yields its processes' environment.

    The prefix is a deployment of its own: its tables are in its own schema (named after
    it), empty at the start, whatever other tests and sessions sharing the database do.
    The prefix's topics and schema are deleted at the end: thousands of idle partitions
    slow the broker down, its restart most of all (the fault suite restarts it).
    """
    prefix = unique_prefix()
    settings = live_stack.model_copy(update={"topic_prefix": prefix, "pg_schema": None})
    await create_topics(settings=settings)
    async with Database(dsn=settings.dsn, schema=settings.db_schema) as db:
        await migrate_for(db, "hub", "resource", "status", "recovery", "monitor")
    _empty_log_dir(log_dir)
    try:
        yield {
            **os.environ,
            "BATON_TOPIC_PREFIX": prefix,
            "BATON_KAFKA_BOOTSTRAP": settings.bootstrap,
            "BATON_PG_DSN": settings.dsn,
            "BATON_PG_SCHEMA": settings.db_schema,
            "BATON_HEARTBEAT_INTERVAL": "2",
            "BATON_PARTITIONS": "2",
            "BATON_RETRY_DELAYS": "0.5,1,2",
            "BATON_TEST_LOG_DIR": str(log_dir),
        }
    finally:
        with contextlib.suppress(Exception):  # the session's end deletes what is left
            await delete_topics(bootstrap=settings.bootstrap, prefix=prefix)
        await drop_schema(dsn=settings.dsn, schema=settings.db_schema)


def _empty_log_dir(log_dir: Path) -> None:
    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("*.log"):
        old.unlink()


@pytest.fixture
def log_dir(e2e_env: dict[str, str]) -> Path:
    return Path(e2e_env["BATON_TEST_LOG_DIR"])


@pytest.fixture
async def client(e2e_env: dict[str, str]) -> AsyncIterator[tuple[Bus, SimAgents, EventLog]]:
    """A client bus with simulated agents and an event log attached (not started)."""
    settings = BatonSettings.from_env(e2e_env, component="e2e-client", request_timeout=30)
    bus = Bus(settings=settings)
    agents, events = SimAgents(bus=bus), EventLog(bus=bus)
    yield bus, agents, events
    await bus.stop()
