"""The resource manager's answers are pruned by the runtime's pruner (real PostgreSQL):
settled ones past ``BATON_RETENTION_ANSWERS`` go, in batches; an answer whose request
still holds an allocation or waits in the queue stays, whatever its age."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from tests.conftest import deployment_database

from baton.config import BatonSettings
from baton.errors import ConfigError
from baton.runtime import Pruner, RetentionConfig
from baton_resource.retention import resource_rules

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

_ids = itertools.count()


async def answers(conn: Any, count: int, *, age: str) -> list[str]:
    names = [f"req{next(_ids)}" for _ in range(count)]
    await conn.execute(
        "insert into resource_answers (request_id, updated_at, response) "
        "select id, now() - $2::text::interval, '{}' from unnest($1::text[]) id",
        names,
        age,
    )
    return names


async def hold(conn: Any, request_id: str) -> None:
    await conn.execute(
        "insert into resource_allocations (allocation_id, request_id, workflow_id, "
        "expected_end, lease_deadline, record) values ($1, $2, 'wf', now(), now(), '{}')",
        f"alloc_{request_id}",
        request_id,
    )


async def queue(conn: Any, request_id: str) -> None:
    await conn.execute(
        "insert into resource_queue (request_id, workflow_id, priority, agents, queued_at, "
        "rank_key, seq, record) values ($1, 'wf', 'low', 1, now(), 0, 1, '{}')",
        request_id,
    )


async def test_settled_answers_past_the_window_go_held_and_queued_ones_stay(
    live_stack: BatonSettings,
) -> None:
    async with deployment_database(live_stack, "resource") as (_, db):
        async with db.transaction() as conn:
            settled = await answers(conn, 7, age="2 days")
            held, queued = await answers(conn, 2, age="2 days")
            await hold(conn, held)
            await queue(conn, queued)
            recent = await answers(conn, 3, age="1 hour")
        config = RetentionConfig.from_env({"BATON_RETENTION_ANSWERS": "1d"})
        pruner = Pruner(db=db, rules=resource_rules(config), batch=3, interval=60)

        deleted = await pruner.prune()

        assert deleted == {"resource_answers": 7}
        assert pruner.batches["resource_answers"] == 3  # 3 + 3 + 1
        async with db.connection() as conn:
            left = {r[0] for r in await conn.fetch("select request_id from resource_answers")}
        assert left == {held, queued, *recent}
        assert not left & set(settled)


def test_the_answers_window_is_a_duration_of_at_most_a_year() -> None:
    assert RetentionConfig.from_env({}).answers == 86_400
    assert RetentionConfig.from_env({"BATON_RETENTION_ANSWERS": "90s"}).answers == 90
    with pytest.raises(ConfigError, match="BATON_RETENTION_ANSWERS"):
        RetentionConfig.from_env({"BATON_RETENTION_ANSWERS": "400d"})
