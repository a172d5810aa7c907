"""The ends of workflows that arrive together are released in one transaction.

The resource manager reads every event to find each workflow's end; those of one fetch go
to :meth:`ResourceHandlers.on_workflows_finished` as one list: one lock of the pools, one
working set, one write-back, one outbox insert and one state sync, however many workflows
end. Releasing them together decides exactly what releasing them one by one decides: the
same allocations freed and the same queued requests granted, in the same order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from tests.integration.test_resource_cost import Cost, Counting, Service, allocate, running

from baton.config import BatonSettings
from baton.protocol.event import Event
from baton.protocol.messages import RESOURCE_STATE_EVENT, RESOURCE_STATE_KEY

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

HELD = 4
"""Agents in the pool, each held by one workflow; as many more wait in the queue."""


def finished(number: int) -> Event:
    return Event(
        event_type="WORKFLOW_COMPLETED",
        workflow_id=f"wf_cost_{number:05d}",
        phase="last",
        data={"final_status": "success"},
    )


async def filled(service: Service) -> None:
    """Every agent held, and as many requests queued; nothing in the outbox yet."""
    async with service.db.transaction() as conn:
        for number in range(2 * HELD):
            await service.handlers.command(conn, allocate(number))
    await service.db.pool.execute("delete from baton_outbox where owner = $1", service.owner)


def counting(service: Service, cost: Cost) -> Callable[[], Any]:
    database = service.db

    @asynccontextmanager
    async def transaction() -> AsyncIterator[Any]:
        async with database.pool.acquire() as conn, conn.transaction():
            yield Counting(conn, cost)

    return transaction


async def published(service: Service) -> list[tuple[str, str]]:
    rows = await service.db.pool.fetch(
        "select value from baton_outbox where owner = $1 order by id", service.owner
    )
    events = [Event.parse(bytes(r["value"]).decode()) for r in rows]
    return [(e.event_type, e.workflow_id) for e in events if e.event_type != RESOURCE_STATE_EVENT]


async def test_workflows_ending_together_cost_one_transaction_and_decide_as_one_by_one(
    live_stack: BatonSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    costs: dict[int, Cost] = {}
    decided: dict[str, list[tuple[str, str]]] = {}
    for together in (1, 3):
        async with running(live_stack, agents=HELD) as service:
            await filled(service)
            cost = costs[together] = Cost()
            with monkeypatch.context() as patch:
                patch.setattr(service.db, "transaction", counting(service, cost))
                await service.handlers.on_workflows_finished([finished(n) for n in range(together)])
            if together == 3:
                decided["together"] = await published(service)
    assert 0 < costs[3].statements == costs[1].statements, costs

    async with running(live_stack, agents=HELD) as service:
        await filled(service)
        for number in range(3):
            await service.handlers.on_workflows_finished([finished(number)])
        decided["alone"] = await published(service)
    assert decided["together"] == decided["alone"]
    granted = [wf for kind, wf in decided["alone"] if kind == "RESOURCE_ALLOCATED"]
    assert granted == [f"wf_cost_{n:05d}" for n in range(HELD, HELD + 3)], decided


async def test_an_end_read_twice_is_released_once(live_stack: BatonSettings) -> None:
    async with running(live_stack, agents=HELD) as service:
        await filled(service)
        end = finished(0)
        await service.handlers.on_workflows_finished([end, end])
        await service.handlers.on_workflows_finished([end])
        states = await service.db.pool.fetchval(
            "select count(*) from baton_outbox where owner = $1 and key = $2",
            service.owner,
            RESOURCE_STATE_KEY.encode(),
        )
        events = await published(service)
    assert [kind for kind, _ in events].count("RESOURCE_ALLOCATED") == 1, events
    assert states == 1  # the second call changed nothing
