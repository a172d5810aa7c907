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
from tests.conftest import migrate_for, unique_prefix
from tests.e2e.agents import EventLog, SimAgents

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"


@pytest.fixture
async def e2e_env(
    live_stack: BatonSettings, request: pytest.FixtureRequest
) -> AsyncIterator[dict[str, str]]:
    """Environment for service processes: a fresh prefix, topics and migrations ready.

    The prefix's topics are deleted when the test ends: thousands of idle partitions slow
    the broker down, its restart most of all (the fault suite restarts it).
    """
    prefix = unique_prefix()
    settings = live_stack.model_copy(update={"topic_prefix": prefix})
    await create_topics(settings=settings)
    async with Database(dsn=settings.dsn) as db:
        await migrate_for(db, "hub", "resource", "status", "recovery")
        # The services' tables are shared by every run: start each test from empty ones.
        await db.pool.execute(
            "truncate hub_workflows, resource_state, status_workflows, status_singletons, "
            "status_history, recovery_checkpoints, recovery_reports, recovery_actions, "
            "recovery_state"
        )
    log_dir = ARTIFACTS / request.node.name
    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("*.log"):
        old.unlink()
    yield {
        **os.environ,
        "BATON_TOPIC_PREFIX": prefix,
        "BATON_KAFKA_BOOTSTRAP": settings.bootstrap,
        "BATON_PG_DSN": settings.dsn,
        "BATON_HEARTBEAT_INTERVAL": "2",
        "BATON_PARTITIONS": "2",
        "BATON_RETRY_DELAYS": "0.5,1,2",
        "BATON_LOG_DIR": str(log_dir),
    }
    with contextlib.suppress(Exception):  # the session's end deletes what is left
        await delete_topics(bootstrap=settings.bootstrap, prefix=prefix)


@pytest.fixture
def log_dir(e2e_env: dict[str, str]) -> Path:
    return Path(e2e_env["BATON_LOG_DIR"])


@pytest.fixture
async def client(e2e_env: dict[str, str]) -> AsyncIterator[tuple[Bus, SimAgents, EventLog]]:
    """A client bus with simulated agents and an event log attached (not started)."""
    settings = BatonSettings.from_env(e2e_env, component="e2e-client", request_timeout=30)
    bus = Bus(settings=settings)
    agents, events = SimAgents(bus=bus), EventLog(bus=bus)
    yield bus, agents, events
    await bus.stop()
