"""Two workflow-recovery replicas as processes, with the hub and the resource manager
(issue 17, point 3).

Agents' heartbeats spread over the partitions; each replica watches the agents and tasks of
the partitions it holds. An agent that falls silent holding a task is timed out once, its
task once, and reassigned once — whichever replica owns it, and when the replica owning it
is killed -9, by the other once the group has moved its partitions. Agents that keep
beating are never timed out, although neither replica reads all heartbeats. A due recovery
action is run by one replica only (one request to the hub, not one per replica).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from baton.bus import Bus
from baton.protocol.commands import ResourceCommand
from baton.protocol.event import Event
from tests.behaviour.helpers import eventually, eventually_async, settle
from tests.e2e.agents import Decision, EventLog, SimAgents
from tests.e2e.harness import Cluster, ServiceProcess
from tests.e2e.test_hub_resource import hub, until_status

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

POOL = 8
MISSES = 4
INTERVAL = 1.5
"""Agents are timed out after MISSES * INTERVAL = 6 s of silence. The simulated agents beat
every 0.3 s, yet on a loaded machine (a load average of 20 on two cores) a beating agent's
last heartbeat recorded by the replicas was up to 2.4 s old: the test process, the replicas
and the database all wait for a core. The window is two and a half times that, so that only
the agents that fell silent are timed out."""


def replicas_env(e2e_env: dict[str, str], pool: list[str]) -> dict[str, str]:
    return {
        **e2e_env,
        "BATON_HUB_FAILURE_POLICY": "recovery",
        "BATON_RECOVERY_AGENT_INTERVAL": str(INTERVAL),
        "BATON_RECOVERY_AGENT_MISSES": str(MISSES),
        "BATON_RECOVERY_CHECK_INTERVAL": "0.25",
        "BATON_RECOVERY_RETRY_BASE": "0.5",
        "BATON_RECOVERY_RETRY_MAX_DELAY": "1",
        "BATON_RESOURCE_POOLS": f'{{"agents": {len(pool)}}}',
        "BATON_RESOURCE_AGENT_IDS": ",".join(pool),
    }


async def alternating_pool(bus: Bus) -> list[str]:
    """Agent ids whose heartbeats go to partitions 0, 1, 1, 0, 0, 1, 1, 0.

    The resource manager allocates the first free ids in this order and the hub gives a
    workflow's first task to its first agent, so the first agents of two workflows
    allocated at once sit on different partitions: each replica owns one of them.
    """
    by_partition: dict[int, list[str]] = {0: [], 1: []}
    n = 0
    while min(len(ids) for ids in by_partition.values()) < POOL // 2:
        n += 1
        name = f"agent_{n:03d}"
        by_partition[await bus.partition_for(name)].append(name)
    zeros, ones = by_partition[0], by_partition[1]
    return [
        agent
        for k in range(0, POOL // 2, 2)
        for agent in (zeros[k], ones[k], ones[k + 1], zeros[k + 1])
    ]


async def no_agents_held(bus: Bus) -> bool:
    """Whether the resource manager holds no agent (a completed workflow's release is
    applied a moment after its completion)."""
    reply = await bus.request(
        Event(event_type=ResourceCommand.STATUS, workflow_id="global", phase="cli", data={}),
        service="resource",
        timeout=30,
    )
    return float(reply.data["pools"]["agents"]["used"]) == 0


def definition(workflow_id: str) -> dict[str, Any]:
    return {
        "definition": {
            "workflow_id": workflow_id,
            "name": workflow_id,
            "phases": ["work"],
            "tasks": [{"task_id": "t", "phase": "work"}],
            "resource_requirements": {"agents": 2, "duration": "1h"},
        }
    }


async def details(replica: ServiceProcess) -> dict[str, Any]:
    found = (await replica.health())["details"]
    assert isinstance(found, dict)
    return found


async def until_each_judges_a_partition(replicas: list[ServiceProcess]) -> None:
    """Both replicas hold one of the two partitions, held long enough to judge it."""

    async def split() -> bool:
        judged = [set((await details(r)).get("partitions_judged", ())) for r in replicas]
        return all(len(j) == 1 for j in judged) and set.union(*judged) == {0, 1}

    await eventually_async(split, timeout=60, what="each replica judging one partition")


def distinct(events: EventLog, event_type: str, workflow_id: str | None = None) -> list[Event]:
    """Events of a type once each: a replica's outbox relay may send one again with its id
    (consumers deduplicate by it)."""
    seen: dict[str, Event] = {}
    for e in events.events:
        if e.event_type == event_type and workflow_id in (None, e.workflow_id):
            seen.setdefault(e.event_id, e)
    return list(seen.values())


@asynccontextmanager
async def two_replicas(
    env: dict[str, str], log_dir: Path
) -> AsyncIterator[tuple[ServiceProcess, ServiceProcess]]:
    replicas = (
        ServiceProcess("recovery", env=env, log_dir=log_dir, instance="recovery-a"),
        ServiceProcess("recovery", env=env, log_dir=log_dir, instance="recovery-b"),
    )
    try:
        await asyncio.gather(*(r.start() for r in replicas))
        yield replicas
    finally:
        await asyncio.gather(*(r.stop() for r in replicas))


@asynccontextmanager
async def beating(agents: SimAgents, pool: list[str]) -> AsyncIterator[None]:
    task = asyncio.create_task(agents.heartbeat(pool, interval=0.3))
    try:
        await eventually(lambda: len(agents.beats) == len(pool), what="every agent beating")
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def policy_for(agents: SimAgents) -> None:
    """The first agent of an ``r*_silent`` workflow falls silent holding its task; the first
    attempt of an ``rr_retry`` workflow fails (and is retried after a backoff)."""

    def policy(event: Event) -> Decision:
        wf, attempt = event.workflow_id, event.data["attempt"]
        if "_silent" in wf and attempt == 1:
            agents.silent.add(event.data["agent_id"])
            return Decision(outcome="ignore")
        if wf.startswith("rr_retry") and attempt == 1:
            return Decision(outcome="fail", reason="connection reset by tool")
        return Decision(delay=0.05)

    agents.policy = policy


def assert_timed_out_once(events: EventLog, agents: SimAgents, workflows: list[str]) -> None:
    """Each silent agent timed out once, each of their tasks once and reassigned once, and
    no agent that kept beating was ever timed out."""
    timed_out = Counter(e.data["agent_id"] for e in distinct(events, "AGENT_TIMEOUT"))
    assert timed_out == Counter(agents.silent), (timed_out, agents.silent)
    for wf in workflows:
        timeouts = distinct(events, "TASK_TIMEOUT", wf)
        moves = distinct(events, "TASK_REASSIGNED", wf)
        assert len(timeouts) == 1, (wf, timeouts)
        assert len(moves) == 1, (wf, moves)
        assert timeouts[0].data["agent_id"] in agents.silent
        assert moves[0].data["old_agent"] == timeouts[0].data["agent_id"]


async def test_two_replicas_share_agents_time_out_once_and_run_actions_once(
    e2e_env: dict[str, str], client: tuple[Bus, SimAgents, EventLog], log_dir: Path
) -> None:
    bus, agents, events = client
    requests = EventLog(bus=bus, topic=bus.topics.commands("hub"))
    policy_for(agents)
    agents.attach()
    events.attach()
    requests.attach()
    async with bus:
        pool = await alternating_pool(bus)
        env = replicas_env(e2e_env, pool)
        async with (
            Cluster(["resource", "hub"], env=env, log_dir=log_dir),
            two_replicas(env, log_dir) as replicas,
            beating(agents, pool),
        ):
            await until_each_judges_a_partition(list(replicas))
            # Heartbeats land on both partitions, each agent's on one.
            assert all(len(parts) == 1 for parts in agents.beats.values()), agents.beats
            assert {p for parts in agents.beats.values() for p in parts} == {0, 1}

            # Failures retried after a backoff: due actions both replicas' loops see.
            retried = [f"rr_retry_{i}" for i in range(POOL // 2)]
            for wf in retried:
                await hub(bus, "CREATE_WORKFLOW", wf, definition(wf))
            for wf in retried:
                await until_status(bus, wf, "COMPLETED", timeout=90)
            # Their agents released too: the next two workflows get the pool's first four.
            await eventually_async(lambda: no_agents_held(bus), what="every agent released")

            # Two agents fall silent holding a task, one on each partition.
            silent_flows = ["rr_silent_0", "rr_silent_1"]
            for wf in silent_flows:
                await hub(bus, "CREATE_WORKFLOW", wf, definition(wf))
            await eventually(lambda: len(agents.silent) == 2, what="two agents falling silent")
            owners = {p for a in agents.silent for p in agents.beats[a]}
            assert owners == {0, 1}, (agents.silent, pool)  # see alternating_pool
            for wf in silent_flows:
                await until_status(bus, wf, "COMPLETED", timeout=90)
            await settle(2 * MISSES * INTERVAL)  # any second timeout would be out by now

            assert_timed_out_once(events, agents, silent_flows)
            counts = [await details(r) for r in replicas]
            assert [c["agents_timed_out"] for c in counts] == [1, 1], counts

            # Every recovery action reached the hub once: one request per action id (the
            # requester's own retries resend the same event; another replica would not).
            sent: dict[str, set[str]] = {}
            for e in requests.events:
                if e.event_type == "RECOVER_TASK" and e.request_id:
                    sent.setdefault(e.request_id, set()).add(e.event_id)
            failures = {f"act_{e.event_id}" for e in distinct(events, "RECOVERY_REQUESTED")}
            assert len(failures) == len(retried)
            assert failures <= set(sent), sent
            assert len(sent) == len(retried) + len(silent_flows), sent
            assert all(len(ids) == 1 for ids in sent.values()), sent


async def test_the_other_replica_takes_over_a_killed_ones_agents(
    e2e_env: dict[str, str], client: tuple[Bus, SimAgents, EventLog], log_dir: Path
) -> None:
    bus, agents, events = client
    policy_for(agents)
    agents.attach()
    events.attach()
    async with bus:
        pool = await alternating_pool(bus)
        env = replicas_env(e2e_env, pool)
        async with (
            Cluster(["resource", "hub"], env=env, log_dir=log_dir),
            two_replicas(env, log_dir) as replicas,
            beating(agents, pool),
        ):
            await until_each_judges_a_partition(list(replicas))
            await hub(bus, "CREATE_WORKFLOW", "rk_silent", definition("rk_silent"))
            await eventually(lambda: bool(agents.silent), what="an agent falling silent")
            (silent,) = agents.silent
            (partition,) = agents.beats[silent]
            # kill -9 the replica owning the silent agent before its timeout is due.
            held = [set((await details(r))["partitions_held"]) for r in replicas]
            owner, survivor = replicas if partition in held[0] else replicas[::-1]
            await owner.kill9()

            await until_status(bus, "rk_silent", "COMPLETED", timeout=90)
            assert set((await details(survivor))["partitions_held"]) == {0, 1}
            await settle(2 * MISSES * INTERVAL)
            # The survivor timed it out once, and none of the agents whose heartbeats went
            # unread while the group noticed the kill.
            assert_timed_out_once(events, agents, ["rk_silent"])
            assert (await details(survivor))["agents_timed_out"] == 1
