"""The agent feed: one consumer group per worker process, events only where they matter."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from baton.bus import Bus, MemoryTransport
from baton.client import AgentWorker, ClientError, Task
from baton.client.feed import UNCLAIMED_LIMIT, AgentFeed
from baton.config import BatonSettings
from baton.protocol.event import Event
from tests.behaviour.helpers import eventually
from tests.unit.client.conftest import ClientFactory

pytestmark = pytest.mark.timeout(60)


def assigned(agent: str, task: str, *, wf: str = "wf_1", token: int = 1) -> Event:
    data = {"task_id": task, "agent_id": agent, "fencing_token": token, "attempt": token}
    return Event(event_type="TASK_ASSIGNED", workflow_id=wf, phase="p", data=data)


@dataclass
class Member:
    agent_id: str
    workflows: set[str] = field(default_factory=set)
    got: list[Event] = field(default_factory=list)

    def holds(self, workflow_id: str) -> bool:
        return workflow_id in self.workflows

    def deliver(self, event: Event) -> None:
        self.got.append(event)


async def test_agents_of_one_client_share_a_group_and_each_gets_its_own_tasks(
    make_client: ClientFactory, memory: MemoryTransport, settings: BatonSettings
) -> None:
    client = make_client("workers")
    ran: list[tuple[str, str]] = []

    async def handle(task: Task) -> dict[str, Any]:
        ran.append((task.agent_id, task.task_id))
        return {}

    workers = [
        AgentWorker(client=client, agent_id=f"agent_{i}", handler=handle, heartbeat_interval=5)
        for i in range(3)
    ]
    hub = Bus(settings=settings.model_copy(update={"component": "fake-hub"}), transport=memory)
    async with hub:
        for w in workers:
            await w.start()
        assert {w.group for w in workers} == {"unit.agent.workers"}
        for i in range(3):
            await hub.publish(assigned(f"agent_{i}", f"t{i}", wf=f"wf_{i}"))
        await eventually(lambda: len(ran) == 3, what="three tasks run")
        assert sorted(ran) == [("agent_0", "t0"), ("agent_1", "t1"), ("agent_2", "t2")]
        with pytest.raises(ClientError):
            await AgentFeed.of(client).join(Member("agent_1"))
        for w in workers:
            await w.stop()
    assert AgentFeed.of(client).members == []


async def test_an_assignment_waits_for_its_agent_unless_taken_away_meanwhile() -> None:
    stub = _StubClient()
    feed = AgentFeed(client=stub)  # type: ignore[arg-type]
    feed.dispatch(assigned("late", "t1", wf="wf_1"))
    feed.dispatch(assigned("late", "t2", wf="wf_2"))
    feed.dispatch(Event(event_type="WORKFLOW_CANCELLED", workflow_id="wf_2", phase="p", data={}))
    late = Member("late")
    await feed.join(late)
    assert [(e.workflow_id, e.data["task_id"]) for e in late.got] == [("wf_1", "t1")]


async def test_events_reach_only_the_agents_they_concern() -> None:
    stub = _StubClient()
    feed = AgentFeed(client=stub)  # type: ignore[arg-type]
    busy, idle = Member("busy", workflows={"wf_1"}), Member("idle")
    await feed.join(busy)
    await feed.join(idle)
    feed.dispatch(Event(event_type="WORKFLOW_COMPLETED", workflow_id="wf_1", phase="p", data={}))
    feed.dispatch(assigned("idle", "t9", wf="wf_9"))
    assert [e.event_type for e in busy.got] == ["WORKFLOW_COMPLETED"]
    assert [e.event_type for e in idle.got] == ["TASK_ASSIGNED"]


def test_kept_assignments_are_bounded() -> None:
    stub = _StubClient()
    feed = AgentFeed(client=stub)  # type: ignore[arg-type]
    for i in range(UNCLAIMED_LIMIT + 50):
        feed.dispatch(assigned(f"elsewhere_{i}", "t", wf=f"wf_{i}"))
    late = Member(f"elsewhere_{UNCLAIMED_LIMIT + 49}")
    asyncio.run(feed.join(late))
    assert len(late.got) == 1


class _StubClient:
    """Just enough of a client for the feed: a name and a subscription that does nothing."""

    component = "stub"
    settings = BatonSettings(topic_prefix="unit")

    async def subscribe(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []

    async def unsubscribe(self, group: str) -> None:
        return None
