"""A superseded assignment's late report never stalls the workflow (issue 16, point 1).

The hub and the resource manager run as processes, and so do two agent workers
(``gated_agent.py``). The first agent to get the task freezes (SIGSTOP) as its attempt
starts; the task overruns its execution timeout (from the workflow definition) and the hub
gives it to the other agent with a newer fencing token. The frozen agent is then resumed
with SIGCONT and reports its stale result at once; the hub rejects it. The current holder
must keep its task — its worker has seen the late report before it is allowed to finish —
and its own result completes the workflow.

The execution timeout applies to the holder's attempt too: it is long enough for the late
report to travel the whole way on a busy machine, and the first attempt freezes itself the
moment it starts, so that the test never races the hub's clock.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from baton.bus import TopicPartition
from baton.client import BatonClient
from baton.config import BatonSettings
from baton.protocol.event import Event
from tests.behaviour.helpers import eventually, eventually_async
from tests.e2e.harness import Cluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

AGENT_SCRIPT = Path(__file__).with_name("gated_agent.py")
AGENTS = ("agent_001", "agent_002")
EXECUTION_TIMEOUT = 8
"""Seconds an attempt may run. The first attempt waits this out; the holder's must outlast
the late report's whole way (agent, hub, holder's worker, test): 2.1 s with a load average
of 11 on two cores, where a 2-second timeout took the task from the holder too."""
DEFINITION = {
    "workflow_id": "late_report",
    "name": "A late report",
    "phases": ["build"],
    "resource_requirements": {"agents": 2, "duration": "1h"},
    "tasks": [{"task_id": "build", "phase": "build", "execution_timeout": f"{EXECUTION_TIMEOUT}s"}],
    "rules": [
        {
            "rule_id": "retry_overruns",
            "name": "Give an overrunning task to another agent",
            "condition_key": "failure_type",
            "condition_operator": "==",
            "condition_value": "execution_timeout",
            "decision": "retry",
            "priority": 100,
        }
    ],
}


async def caught_up(
    admin: AIOKafkaAdminClient, group: str, ends: dict[TopicPartition, int]
) -> bool:
    """True when ``group`` has committed at least ``ends`` on every partition."""
    offsets = await admin.list_consumer_group_offsets(group)
    committed = {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}
    return all(
        end == 0 or committed.get((tp.topic, tp.partition), -1) >= end for tp, end in ends.items()
    )


def stopped(pid: int) -> bool:
    """True while process ``pid`` is stopped (by a signal)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "T"


async def test_a_late_report_of_a_frozen_agent_leaves_the_task_to_its_new_holder(
    e2e_env: dict[str, str], log_dir: Path, tmp_path: Path
) -> None:
    env = {
        **e2e_env,
        "BATON_RESOURCE_POOLS": '{"agents": 2}',
        "BATON_HUB_TIMEOUT_INTERVAL": "0.25",
    }
    settings = BatonSettings.from_env(env)
    events: list[Event] = []
    seen = BatonClient(component="e2e-observer", settings=settings)

    async def record(event: Event) -> None:
        if event.workflow_id == "late_report":
            events.append(event)

    def first(kind: str, **data: object) -> Event | None:
        return next(
            (
                e
                for e in events
                if e.event_type == kind and all(e.data.get(k) == v for k, v in data.items())
            ),
            None,
        )

    await seen.subscribe("#", record, group=f"log-{uuid.uuid4().hex[:6]}")
    procs: dict[str, asyncio.subprocess.Process] = {}
    (tmp_path / "freeze.build.1").touch()  # whichever agent gets the first attempt
    async with Cluster(["resource", "hub"], env=env, log_dir=log_dir), seen:
        try:
            for agent in AGENTS:
                log = (log_dir / f"gated-{agent}.log").open("ab")
                procs[agent] = await asyncio.create_subprocess_exec(
                    sys.executable, str(AGENT_SCRIPT), agent, str(tmp_path),
                    env=env, stdout=log, stderr=log,
                )  # fmt: skip
                log.close()
            # Both read their assignments before the task's clock starts.
            await eventually(
                lambda: all((tmp_path / f"ready.{a}").exists() for a in AGENTS),
                timeout=120,
                what="both agents holding their partitions",
            )
            await seen.create_workflow(DEFINITION, timeout=30)

            # The first holder starts and freezes mid-task.
            await eventually(
                lambda: first("TASK_STARTED", fencing_token=1) is not None,
                timeout=60,
                what="the first attempt started",
            )
            started = first("TASK_STARTED", fencing_token=1)
            assert started is not None
            frozen = str(started.data["agent_id"])
            holder = next(a for a in AGENTS if a != frozen)
            await eventually(
                lambda: stopped(procs[frozen].pid), timeout=30, what=f"{frozen} frozen"
            )

            # Its task overruns and goes to the other agent with a newer token.
            await eventually(
                lambda: first("TASK_STARTED", fencing_token=2, agent_id=holder) is not None,
                timeout=EXECUTION_TIMEOUT + 60,
                what=f"the task timed out and started again on {holder}",
            )
            timed_out = first("TASK_TIMEOUT", task_id="build")
            assert timed_out is not None
            assert timed_out.data["agent_id"] == frozen
            assert stopped(procs[frozen].pid), f"{frozen} ran again before the test resumed it"

            # The frozen agent wakes up and reports at once.
            os.kill(procs[frozen].pid, signal.SIGCONT)
            await eventually(
                lambda: first("TASK_RESULT_REJECTED", agent_id=frozen) is not None,
                timeout=60,
                what=f"{frozen}'s late report rejected by the hub",
            )
            late = first("TASK_COMPLETED", agent_id=frozen)
            assert late is not None
            assert late.data["fencing_token"] == 1, late.data
            rejected = first("TASK_RESULT_REJECTED", agent_id=frozen)
            assert rejected is not None
            assert f"held by {holder}" in rejected.data["reason"], rejected.data

            # The holder's worker has read everything up to the rejection (so the late
            # report too) before its attempt is allowed to end.
            ends = await seen.bus.transport.end_offsets(settings.topics.events)
            group = f"{settings.topic_prefix}.agent.gated-{holder}"  # its process's agents
            admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
            await admin.start()
            try:
                await eventually_async(
                    lambda: caught_up(admin, group, ends),
                    timeout=60,
                    what=f"{holder}'s worker read the late report",
                )
            finally:
                await admin.close()
            assert not (tmp_path / f"cancelled.{holder}.build.2").exists(), (
                f"the late report of {frozen} took the task away from {holder}"
            )
            (tmp_path / "build.2").touch()

            done = await seen.wait_for_workflow("late_report", timeout=60)
            assert done.status == "COMPLETED", done.state.get("failure_reason")
            finished = [
                e
                for e in events
                if e.event_type == "TASK_COMPLETED" and e.source == f"gated-{holder}"
            ]
            assert [e.data["fencing_token"] for e in finished] == [2]
        finally:
            for proc in procs.values():
                if proc.returncode is None:
                    proc.send_signal(signal.SIGCONT)  # a stopped process cannot handle SIGTERM
                    proc.send_signal(signal.SIGTERM)
            for agent, proc in procs.items():
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()  # never leave an orphan that outlives the test's topics
                    await proc.wait()
                    raise AssertionError(f"{agent} did not stop on SIGTERM") from None
