"""Recovery's backoff and agent avoidance with the services as processes (issue 16, point 4).

A task that keeps failing is tried again after delays that grow attempt by attempt — the
decision's ``delay_seconds`` is the wait actually observed, and a pending delay survives a
kill -9 of workflow-recovery (its due time is in PostgreSQL). A reassignment away from an
agent goes to the workflow's other agent, waiting for it to be free rather than going back
to the avoided agent that happens to be free.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from baton.bus import Bus
from baton.protocol.event import Event
from tests.behaviour.helpers import eventually
from tests.e2e.agents import Decision, EventLog, SimAgents
from tests.e2e.harness import Cluster
from tests.e2e.test_hub_resource import hub, until_status

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

AGENTS = [f"agent_{i:03d}" for i in range(1, 7)]
BASE = 1.0
"""BATON_RECOVERY_RETRY_BASE: waits of [0.5, 1), [1, 2), [2, 4) s after attempts 1, 2, 3."""
SLACK = timedelta(milliseconds=5)
"""Event timestamps travel with millisecond precision."""


def backoff_env(e2e_env: dict[str, str]) -> dict[str, str]:
    return {
        **e2e_env,
        "BATON_HUB_FAILURE_POLICY": "recovery",
        "BATON_RECOVERY_RETRY_BASE": str(BASE),
        "BATON_RECOVERY_RETRY_MAX_DELAY": "30",
        "BATON_RECOVERY_MAX_ATTEMPTS": "4",
        "BATON_RESOURCE_POOLS": f'{{"agents": {len(AGENTS)}}}',
    }


def definition(workflow_id: str, tasks: list[str]) -> dict[str, Any]:
    return {
        "definition": {
            "workflow_id": workflow_id,
            "name": workflow_id,
            "phases": ["work"],
            "tasks": [{"task_id": t, "phase": "work"} for t in tasks],
            "resource_requirements": {"agents": 2, "duration": "1h"},
        }
    }


def of(events: EventLog, workflow_id: str, event_type: str) -> list[Event]:
    return [e for e in events.events if e.workflow_id == workflow_id and e.event_type == event_type]


def decisions(events: EventLog, workflow_id: str) -> list[dict[str, Any]]:
    """Each task failure's decision once (the outbox may send one again after a kill -9;
    the workflow's own failure is reported without one)."""
    reported = {
        e.data["error_report"]["error_id"]: e.data["decision"]
        for e in of(events, workflow_id, "ERROR_REPORTED")
        if e.data["decision"] is not None
    }
    return list(reported.values())


async def until_logged(events: EventLog, workflow_id: str, event_type: str) -> None:
    """The log has caught up with the workflow up to ``event_type`` (one partition, in order)."""
    await eventually(lambda: bool(of(events, workflow_id, event_type)), what=event_type)


def assert_spaced_by_growing_delays(events: EventLog, workflow_id: str) -> list[Event]:
    """Three waits that grow, each elapsed before the next attempt was assigned."""
    decided = decisions(events, workflow_id)
    assert [d["kind"] for d in decided][3:] == ["fail"], decided
    waits = [d["delay_seconds"] for d in decided[:3]]
    assert 0 < waits[0] < waits[1] < waits[2], waits
    for n, wait in enumerate(waits, start=1):  # equal jitter: within [½, 1) of the ceiling
        assert BASE * 2 ** (n - 1) / 2 <= wait < BASE * 2 ** (n - 1), waits
    failed = of(events, workflow_id, "RECOVERY_REQUESTED")
    assigned = of(events, workflow_id, "TASK_ASSIGNED")
    assert len(failed) == 4, failed
    assert len(assigned) == 4, assigned
    for failure, wait, again in zip(failed, waits, assigned[1:], strict=False):
        waited = again.timestamp - failure.timestamp
        assert waited + SLACK >= timedelta(seconds=wait), (workflow_id, waited, wait)
    return assigned


async def test_retries_wait_growing_delays_that_survive_a_restart(
    e2e_env: dict[str, str], client: tuple[Bus, SimAgents, EventLog], log_dir: Path
) -> None:
    bus, agents, events = client

    def policy(event: Event) -> Decision:
        if event.workflow_id == "bo_retry":  # stays on the task's agent: a retry
            return Decision(outcome="fail", reason="connection reset by tool")
        return Decision(outcome="fail", reason="tool crashed")  # moves: a reassignment

    agents.policy = policy
    agents.attach()
    events.attach()
    async with (
        Cluster(
            ["resource", "hub", "recovery"], env=backoff_env(e2e_env), log_dir=log_dir
        ) as cluster,
        bus,
    ):
        beating = asyncio.create_task(agents.heartbeat(AGENTS, interval=1.0))
        try:
            for wf in ("bo_retry", "bo_move"):
                await hub(bus, "CREATE_WORKFLOW", wf, definition(wf, ["t"]))
            # Kill -9 workflow-recovery while the third wait of each workflow is pending:
            # the actions are stored with their due time, so they still run, and not early.
            await eventually(
                lambda: all(len(decisions(events, wf)) >= 3 for wf in ("bo_retry", "bo_move")),
                what="the third decisions",
            )
            killed_at = datetime.now(UTC)
            await cluster["recovery"].kill9()
            await cluster["recovery"].start()
            for wf in ("bo_retry", "bo_move"):
                await until_status(bus, wf, "FAILED", timeout=60)
                await until_logged(events, wf, "WORKFLOW_FAILED")
            # An action decided before the kill ran after it: nothing else re-dispatches.
            last = [of(events, wf, "TASK_ASSIGNED")[3].timestamp for wf in ("bo_retry", "bo_move")]
            assert max(last) > killed_at, (last, killed_at)
            # The third failure of the retried task moves it (its retries look less likely).
            assert [d["kind"] for d in decisions(events, "bo_retry")][:2] == ["retry"] * 2
            assert [d["kind"] for d in decisions(events, "bo_move")][:3] == ["reassign"] * 3
            assert_spaced_by_growing_delays(events, "bo_retry")
            moved = assert_spaced_by_growing_delays(events, "bo_move")
            holders = [e.data["agent_id"] for e in moved]
            for before, after, decided in zip(
                holders, holders[1:], decisions(events, "bo_move"), strict=False
            ):
                assert decided["avoid_agents"] == [before]
                assert after != before, holders
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating


async def test_a_reassignment_waits_for_the_other_agent_instead_of_the_avoided_one(
    e2e_env: dict[str, str], client: tuple[Bus, SimAgents, EventLog], log_dir: Path
) -> None:
    bus, agents, events = client
    failed: set[str] = set()

    def policy(event: Event) -> Decision:
        task = event.data["task_id"]
        if task == "slow":  # holds the other agent well past the reassignment's wait
            return Decision(delay=4.0)
        if task not in failed:
            failed.add(task)
            return Decision(outcome="fail", reason="tool crashed")
        return Decision()

    agents.policy = policy
    agents.attach()
    events.attach()
    async with (
        Cluster(["resource", "hub", "recovery"], env=backoff_env(e2e_env), log_dir=log_dir),
        bus,
    ):
        beating = asyncio.create_task(agents.heartbeat(AGENTS, interval=1.0))
        try:
            await hub(bus, "CREATE_WORKFLOW", "bo_avoid", definition("bo_avoid", ["flaky", "slow"]))
            await until_status(bus, "bo_avoid", "COMPLETED", timeout=60)
            await until_logged(events, "bo_avoid", "WORKFLOW_COMPLETED")
            decided = decisions(events, "bo_avoid")
            assert [d["kind"] for d in decided] == ["reassign"], decided
            flaky = [
                e for e in of(events, "bo_avoid", "TASK_ASSIGNED") if e.data["task_id"] == "flaky"
            ]
            slow = next(
                e for e in of(events, "bo_avoid", "TASK_ASSIGNED") if e.data["task_id"] == "slow"
            )
            first, second = (e.data["agent_id"] for e in flaky)
            assert decided[0]["avoid_agents"] == [first]
            # The avoided agent was free all along; the task waited for the other one.
            assert second == slow.data["agent_id"] != first
            assert "avoided_agent_used" not in flaky[1].data
            slow_done = next(
                e for e in of(events, "bo_avoid", "TASK_COMPLETED") if e.data["task_id"] == "slow"
            )
            assert events.events.index(flaky[1]) > events.events.index(slow_done)
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
