"""The fault suite (issue 6): the five services as processes, faults at random points,
invariants checked from a recorded history of every acknowledged event.

Scenarios, each mid-run of a batch of three-phase workflows: kill -9 of each service in
turn; the Kafka broker killed (-9) and restarted; PostgreSQL restarted; a second hub paused
(SIGSTOP) past its consumer session timeout while the first takes its partitions, then
resumed (a zombie); poison records mixed into the stream; and at the end every recorded
event replayed. Invariants, per run:

- lost: events the client published (acknowledged by the broker) never seen on the topic,
  plus workflows that neither completed nor failed with an error report;
- duplicates: state transitions that happened twice — same workflow, type, phase, task
  and attempt among distinct events (an event delivered twice is the same event);
- order: per workflow, WORKFLOW_CREATED first and WORKFLOW_COMPLETED last;
- resume: a killed service handles events again within 10 s of its restart (its dead
  predecessor's partitions move once the 6 s consumer session expires); after a broker or
  database restart, or a zombie's wake-up, every service is healthy within 10 s.

Size: ``BATON_FAULT_WORKFLOWS`` workflows per scenario (default 48 ≈ 1,400 events, so that
the one run in which every service is killed in turn carries more than 10,000 events, which
the suite asserts; ``baton workflow-recovery test-scenarios`` runs 320, 10,000 per
scenario) and ``BATON_FAULT_RUNS`` runs of each scenario (default 1). The table is printed
at the end.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from baton.bus import Bus
from baton.config import BatonSettings
from tests.e2e.agents import Decision, EventLog, SimAgents
from tests.e2e.harness import Cluster, ServiceProcess
from tests.faults.history import quiesce, replay
from tests.faults.support import (
    Row,
    acknowledged,
    duplicates,
    kill_service,
    restart_broker,
    restart_postgres,
    run_workflows,
    zombie,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

SERVICES = ["resource", "hub", "status", "monitor", "recovery"]
WORKFLOWS = int(os.environ.get("BATON_FAULT_WORKFLOWS", "48"))
RUNS = int(os.environ.get("BATON_FAULT_RUNS", "1"))
POISON = [
    "not an event at all",
    "TASK_COMPLETED:wf:phase:{not json",
    "lowercase:wf:phase:{}",
    "TASK_COMPLETED:" + "x" * 300 + ":phase:{}",
]


async def test_fault_suite(
    e2e_env: dict[str, str],
    client: tuple[Bus, SimAgents, EventLog],
    log_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bus, agents, events = client
    agents.policy = lambda e: Decision(delay=0.05)
    agents.attach()
    events.attach()
    published = acknowledged(bus)  # what is published; the replay below only sends
    env = {
        **e2e_env,
        "BATON_RESOURCE_POOLS": '{"agents": 16}',
        "BATON_HUB_FAILURE_POLICY": "recovery",
        "BATON_LOG_LEVEL": os.environ.get("BATON_FAULT_LOG_LEVEL", "WARNING"),
    }
    settings = BatonSettings.from_env(env)
    rng = random.Random(int(os.environ.get("BATON_FAULT_SEED", "7")))
    rows: dict[str, Row] = {}
    ended: set[str] = set()
    seen_upto = 0

    def finished() -> set[str]:
        nonlocal seen_upto
        for event in events.events[seen_upto:]:
            if event.event_type in ("WORKFLOW_COMPLETED", "WORKFLOW_FAILED"):
                ended.add(event.workflow_id)
        seen_upto = len(events.events)
        return ended

    async def scenario(name: str, tag: str, fault: Callable[[], Awaitable[float]]) -> None:
        """Run a batch of workflows, strike with ``fault`` at a random point, count."""
        row = rows.setdefault(name, Row(name))
        names = [f"{tag}_{i:03d}" for i in range(WORKFLOWS)]
        before = len(events.events)
        work = asyncio.create_task(run_workflows(bus, names, finished=finished))
        await asyncio.sleep(rng.uniform(0.5, 3.0))
        resumed = await fault()
        row.lost += len(await work)
        row.runs += 1
        row.events += len(events.events) - before
        row.resume_s = max(row.resume_s, resumed)

    async def poison() -> float:
        for line in POISON * 5:
            await asyncio.sleep(rng.uniform(0.0, 0.2))
            await (
                await bus.send_raw(
                    bus.topics.events, key=b"poison", value=line.encode(), headers=[]
                )
            )
        return 0.0

    async with Cluster(SERVICES, env=env, log_dir=log_dir) as cluster, bus:
        for run in range(RUNS):
            for victim in SERVICES:
                await scenario(
                    f"kill -9 {victim}",
                    f"f{run}_{victim}",
                    lambda v=victim: kill_service(cluster, v),  # type: ignore[misc]
                )
            await scenario(
                "broker restart", f"f{run}_broker", lambda: restart_broker(cluster, settings)
            )
            await scenario(
                "postgres restart", f"f{run}_pg", lambda: restart_postgres(cluster, settings)
            )
            second = ServiceProcess("hub", env=env, log_dir=log_dir, instance="hub-2")
            await second.start()
            try:
                await scenario("zombie hub (SIGSTOP)", f"f{run}_zombie", lambda s=second: zombie(s))  # type: ignore[misc]
            finally:
                assert await second.stop() == 0, second.tail()
            await scenario("poison records", f"f{run}_poison", poison)

        row = rows.setdefault("replay everything", Row("replay everything"))
        await quiesce(bus, events, agents, services=SERVICES)  # stragglers of the history
        transitions_before = duplicates(events.events)
        history = list({e.event_id: e for e in events.events}.values())
        await replay(bus, history)
        await quiesce(bus, events, agents, services=SERVICES)  # and whatever the replay caused
        row.runs = 1
        row.events = len(history)
        row.duplicates = duplicates(events.events) - transitions_before

    seen = {e.event_id for e in events.events}
    lost_events = [i for i in published if i not in seen]
    total_dupes = duplicates(events.events)
    for row in rows.values():
        if row.scenario != "replay everything":
            row.duplicates = total_dupes  # counted over the whole history
    lines = ["", "scenario                runs  events   lost  duplicates  resume (s)"]
    lines += [
        f"{row.scenario:<22} {row.runs:>5} {row.events:>7} {row.lost:>6} "
        f"{row.duplicates:>11} {row.resume_s:>11.1f}"
        for row in rows.values()
    ]
    lines.append(f"acknowledged events not seen: {len(lost_events)} of {len(published)}")
    (log_dir / "table.txt").write_text("\n".join(lines) + "\n")
    with capsys.disabled():  # the table is the suite's report: shown even when it passes
        print("\n".join(lines))
    assert len(history) >= 10_000 or WORKFLOWS < 48, f"a run of only {len(history)} events"
    assert not lost_events
    assert all(r.lost == 0 for r in rows.values()), rows
    assert total_dupes == 0
    assert all(r.resume_s < 10 for r in rows.values()), rows
    for name in {e.workflow_id for e in events.events if e.event_type == "WORKFLOW_CREATED"}:
        lifecycle = [
            e.event_type
            for e in sorted(
                {e.event_id: e for e in events.events}.values(), key=lambda e: e.event_id
            )
            if e.workflow_id == name and e.event_type.startswith("WORKFLOW_")
        ]
        assert lifecycle[0] == "WORKFLOW_CREATED", (name, lifecycle)
        assert lifecycle[-1] == "WORKFLOW_COMPLETED", (name, lifecycle)
