"""The monitor's workflow figures in PostgreSQL: per consumer group, and a retention."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from tests.conftest import migrate_for
from tests.unit.monitor.support import at, event

from baton.config import BatonSettings
from baton.db import Database
from baton_monitor.metrics import Metrics, observe
from baton_monitor.state import Position
from baton_monitor.store import WorkflowStore

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.fixture
async def db(live_stack: BatonSettings) -> AsyncIterator[Database]:
    async with Database(dsn=live_stack.dsn, max_size=2) as database:
        await migrate_for(database, "monitor")
        yield database


async def test_figures_round_trip_per_group_and_go_after_the_retention(db: Database) -> None:
    group = f"t_{uuid.uuid4().hex[:10]}.monitor"
    store, other = WorkflowStore(db=db, owner=group), WorkflowStore(db=db, owner=f"{group}2")
    metrics = Metrics()
    done = event("TASK_COMPLETED", "wf_001", "fix", task_id="t1", agent_id="a1", duration=2)
    observe(metrics, done, now=at(1), position=Position(partition=1, offset=9))
    observe(metrics, event("TASK_PROGRESS", "wf_002", "fix"), now=at(1))
    await store.save(metrics.workflows)
    await store.save(metrics.workflows)  # again: an update, not a second row
    loaded = await store.load(["wf_001", "wf_002", "wf_003"])
    assert loaded == metrics.workflows
    assert loaded["wf_001"].applied == Position(partition=1, offset=9)
    assert await other.load(["wf_001"]) == {}  # another deployment's monitor
    assert await store.forget_before(datetime.now(UTC) - timedelta(hours=1)) == 0
    assert await store.forget_before(datetime.now(UTC) + timedelta(seconds=1)) == 2
    assert await store.load(["wf_001"]) == {}
