"""Two replicas of every service, one of each killed (-9) in turn (issue 17, 6a).

Ten service processes — hub, resource, status, monitor and recovery twice each, instances
``NAME-a`` and ``NAME-b``, each with its own HTTP port and ``BATON_INSTANCE_ID`` (static
membership) — run one deployment whose topics have four partitions, so each replica holds
two partitions of every topic it consumes. Simulated agents do the tasks. While
``BATON_FAULT_REPLICA_WORKFLOWS`` two-phase workflows run (default 200), replica ``-b`` of
each service is killed (-9) in turn, spread over the run, and is not started again: once
its session expires (6 s) the ``-a`` replica takes its partitions, with whatever it left
in flight, and carries the rest of the run alone.

Invariants:

- lost: none of the client's acknowledged events is missing from the topic, and the hub
  has every workflow COMPLETED;
- duplicates: no state transition twice (:func:`~tests.faults.support.duplicates`), and
  per workflow, counted by distinct event id, exactly one WORKFLOW_STARTED,
  WORKFLOW_COMPLETED, RESOURCE_ALLOCATED and RESOURCE_DEALLOCATED and, per phase, one
  PHASE_STARTED and PHASE_COMPLETED;
- every replica serves every workflow: just before ``status-b`` dies, both status replicas
  list every workflow completed by then; at the end the surviving one lists all of them
  (every ``next_cursor`` page where the API pages), each with the hub's status and phases
  done;
- the surviving monitor reports every workflow, its completions counted once; the
  surviving resource manager holds no agent any more;
- every survivor stops cleanly on SIGTERM.

About 75 s on a 2-core machine (3 minutes when a read model never catches up: the
checks wait for it). It runs with README's test command like the rest of
the fault suite.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from baton.bus import Bus
from baton.config import BatonSettings
from baton.protocol.commands import HubCommand
from baton.protocol.event import Event
from tests.behaviour.helpers import eventually
from tests.e2e.agents import Decision, EventLog, SimAgents
from tests.e2e.harness import Cluster, ServiceProcess
from tests.faults.history import read_to_end
from tests.faults.support import acknowledged, duplicates, ended_in, patiently, run_workflows

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

SERVICES = ["status", "resource", "hub", "monitor", "recovery"]
"""In the order their ``-b`` replicas are killed: ``status-b`` once both status replicas
have been compared, early in the run; the others one by one, every ``GAP`` workflows."""
WORKFLOWS = int(os.environ.get("BATON_FAULT_REPLICA_WORKFLOWS", "200"))
PARTITIONS = 4
PHASES = ("plan", "build")
FIRST = WORKFLOWS // 8
"""Workflows ended before the first kill."""
GAP = WORKFLOWS // 8
"""Workflows ended between one kill and the next (a failover takes a session timeout)."""
PAGE = 100
"""Status list page size: with 200 workflows, a paging API is read over several pages."""
CONVERGE_S = 60.0
"""How long a read model may take to catch up with the hub (it is eventually consistent)."""
MIDRUN_S = 30.0
"""How long, mid-run, a status replica may take to list the workflows completed so far
(the run goes on meanwhile)."""
ONCE_PER_WORKFLOW = (
    "WORKFLOW_STARTED",
    "WORKFLOW_COMPLETED",
    "RESOURCE_ALLOCATED",
    "RESOURCE_DEALLOCATED",
)
ONCE_PER_PHASE = ("PHASE_STARTED", "PHASE_COMPLETED")
Seen = tuple[str, int, int]
"""What a service says of a workflow: status, phases done, phases in all."""


@pytest.fixture(scope="module")
def live_stack(live_stack: BatonSettings) -> BatonSettings:
    """The session's stack; this module's topics get four partitions (two per replica)."""
    return live_stack.model_copy(update={"partitions": PARTITIONS})


def transitions_not_once(events: list[Event], names: list[str]) -> dict[str, int]:
    """(workflow, type[, phase]) → distinct events of it, where that is not exactly one."""
    unique = {e.event_id: e for e in events}.values()
    counts = Counter(
        f"{e.workflow_id} {e.event_type}"
        + (f" {e.phase}" if e.event_type in ONCE_PER_PHASE else "")
        for e in unique
        if e.event_type in ONCE_PER_WORKFLOW + ONCE_PER_PHASE
    )
    expected = [f"{n} {t}" for n in names for t in ONCE_PER_WORKFLOW]
    expected += [f"{n} {t} {p}" for n in names for t in ONCE_PER_PHASE for p in PHASES]
    return {key: counts[key] for key in {*expected, *counts} if counts[key] != 1}


async def listed(http: httpx.AsyncClient, replica: ServiceProcess) -> dict[str, Seen]:
    """Every workflow a status replica's ``/api/workflows`` lists: each ``next_cursor`` page
    where the API pages, else its plain list asked for as many as it gives."""
    url = f"http://127.0.0.1:{replica.port}/api/workflows"
    found: dict[str, Seen] = {}
    params: dict[str, Any] = {"limit": PAGE}
    while True:
        page = (await http.get(url, params=params)).raise_for_status().json()
        if "next_cursor" not in page:  # a plain list
            page = (await http.get(url, params={"limit": 10_000})).raise_for_status().json()
        for w in page["workflows"]:
            found[w["workflow_id"]] = (w["status"], w["phases_done"], w["phases_total"])
        if not page.get("next_cursor"):
            return found
        params = {"limit": PAGE, "cursor": page["next_cursor"]}


async def converged(
    http: httpx.AsyncClient,
    replica: ServiceProcess,
    expected: dict[str, Seen],
    *,
    within: float = CONVERGE_S,
) -> dict[str, tuple[Seen, Seen | None]]:
    """Workflows the replica does not show as ``expected`` (expected, shown), once it does
    or after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        shown = await listed(http, replica)
        wrong = {n: (s, shown.get(n)) for n, s in expected.items() if shown.get(n) != s}
        if not wrong or time.monotonic() > deadline:
            return wrong
        await asyncio.sleep(1.0)


async def in_the_hub(bus: Bus, name: str) -> Seen:
    state = (await patiently(bus, HubCommand.GET, name, {}))["workflow"]
    done = sum(1 for p in state["phases"] if p["status"] in ("completed", "skipped"))
    return str(state["status"]), done, len(state["phases"])


async def monitor_misses(
    http: httpx.AsyncClient, replica: ServiceProcess, names: list[str]
) -> dict[str, Any]:
    """Workflows whose report from the monitor is not: completed, one WORKFLOW_COMPLETED,
    one PHASE_COMPLETED per phase (what it reports instead), once right or after
    :data:`CONVERGE_S`."""
    url = f"http://127.0.0.1:{replica.port}/api/report"
    deadline = time.monotonic() + CONVERGE_S
    gate = asyncio.Semaphore(20)  # a few at a time, not 200 one after another

    async def miss(name: str) -> Any:
        """What the monitor reports instead, or None when it is right."""
        async with gate:
            response = await http.get(url, params={"workflow": name})
        if response.status_code == 404:
            return "not reported"
        body = response.raise_for_status().json()
        counted = [body["events"].get(t, 0) for t in ("WORKFLOW_COMPLETED", "PHASE_COMPLETED")]
        right = [body["status"], *counted] == ["completed", 1, len(PHASES)]
        return None if right else [body["status"], *counted]

    left, wrong = list(names), dict[str, Any]()
    while left:
        found = await asyncio.gather(*(miss(name) for name in left))
        wrong = {name: w for name, w in zip(left, found, strict=True) if w is not None}
        left = list(wrong)
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)
    return wrong


async def agents_held(bus: Bus) -> float:
    """Agents the resource manager holds once every workflow has ended (after
    :data:`CONVERGE_S` at most): zero when every allocation was released."""
    deadline = time.monotonic() + CONVERGE_S
    while True:
        reply = await patiently(bus, "RESOURCE_STATUS", "global", {}, service="resource")
        used = float(reply["pools"]["agents"]["used"])
        if used == 0 or time.monotonic() > deadline:
            return used
        await asyncio.sleep(1.0)


async def test_two_replicas_of_every_service_lose_and_double_nothing(
    e2e_env: dict[str, str],
    client: tuple[Bus, SimAgents, EventLog],
    log_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bus, agents, events = client
    agents.policy = lambda e: Decision(delay=0.05)
    agents.attach()
    events.attach()
    published = acknowledged(bus)
    finished = ended_in(events.events)
    env = {
        **e2e_env,
        "BATON_PARTITIONS": str(PARTITIONS),
        "BATON_RESOURCE_POOLS": '{"agents": 16}',
        "BATON_HUB_FAILURE_POLICY": "recovery",
        "BATON_LOG_LEVEL": os.environ.get("BATON_FAULT_LOG_LEVEL", "WARNING"),
    }
    names = [f"rp_{i:03d}" for i in range(WORKFLOWS)]
    victims = [f"{service}-b" for service in SERVICES]
    killed_at: dict[str, int] = {}
    midrun: dict[str, dict[str, tuple[Seen, Seen | None]]] = {}
    done_now: dict[str, Seen] = {}
    async with (
        Cluster(SERVICES, env=env, log_dir=log_dir, replicas=2) as cluster,
        bus,
        httpx.AsyncClient(timeout=10.0) as http,
    ):
        began = time.monotonic()
        work = asyncio.create_task(
            run_workflows(bus, names, finished=finished, timeout=480, phases=PHASES)
        )

        async def ended(count: int) -> None:
            await eventually(
                lambda: len(finished()) >= count or work.done(),
                timeout=600,
                what=f"{count} workflows ended",
            )

        async def compare_status_then_kill() -> None:
            """Both status replicas list what has completed so far; then status-b dies.
            (Beside the other kills: a slow or failing comparison does not delay them.)"""
            nonlocal midrun, done_now
            await ended(FIRST)
            done_now = dict.fromkeys(finished(), ("COMPLETED", len(PHASES), len(PHASES)))
            replicas = ("status-a", "status-b")
            checks = (converged(http, cluster[r], done_now, within=MIDRUN_S) for r in replicas)
            midrun = dict(zip(replicas, await asyncio.gather(*checks), strict=True))
            killed_at["status-b"] = len(finished())
            await cluster["status-b"].kill9()

        status_killed = asyncio.create_task(compare_status_then_kill())
        for k, victim in enumerate(victims[1:], start=1):
            await ended(FIRST + k * GAP)
            killed_at[victim] = len(finished())
            await cluster[victim].kill9()
        await status_killed
        unfinished = await work
        took = time.monotonic() - began
        survivors = {n: p for n, p in cluster.services.items() if n not in victims}
        gate = asyncio.Semaphore(20)  # 200 round trips one after another took seconds

        async def asked(name: str) -> Seen:
            async with gate:
                return await in_the_hub(bus, name)

        hub = dict(zip(names, await asyncio.gather(*(asked(n) for n in names)), strict=True))
        status_wrong = await converged(http, cluster["status-a"], hub)
        monitor_wrong = await monitor_misses(http, cluster["monitor-a"], names)
        held = await agents_held(bus)
        await read_to_end(bus, events)
        alive = {n: p.proc and p.proc.returncode for n, p in survivors.items()}

    seen = {e.event_id for e in events.events}
    lost = [i for i in published if i not in seen]
    doubled = duplicates(events.events)
    not_once = transitions_not_once(events.events, names)
    lines = [
        "",
        f"workflows {WORKFLOWS} on 2 replicas x 5 services, {PARTITIONS} partitions; "
        f"run {took:.0f}s, events {len(seen)}",
        "killed (-9, not restarted) after n workflows ended: "
        + ", ".join(f"{v} {n}" for v, n in killed_at.items()),
        f"unfinished {len(unfinished)}; acknowledged events not seen {len(lost)} of "
        f"{len(published)}; duplicate transitions {doubled}; not exactly once {len(not_once)}",
        "status replicas mid-run, completed workflows not listed as such: "
        + ", ".join(f"{r} {len(w)} of {len(done_now)}" for r, w in midrun.items()),
        f"surviving status replica disagreeing with the hub: {len(status_wrong)} of {WORKFLOWS}",
        f"surviving monitor not reporting a workflow once: {len(monitor_wrong)} of {WORKFLOWS}",
        f"agents still held by the resource manager: {held}",
        f"e.g. status mid-run {[list(w.items())[:3] for w in midrun.values()]}",
        f"e.g. status at the end (hub's, shown) {list(status_wrong.items())[:5]}",
        f"e.g. monitor {list(monitor_wrong.items())[:5]}",
        f"e.g. not once {sorted(not_once.items())[:5]}",
    ]
    (log_dir / "table.txt").write_text("\n".join(lines) + "\n")
    with capsys.disabled():  # the table is the scenario's report: shown even when it passes
        print("\n".join(lines))
    assert WORKFLOWS >= 200 or "BATON_FAULT_REPLICA_WORKFLOWS" in os.environ
    assert not lost
    assert not unfinished, sorted(unfinished)
    assert all(s == ("COMPLETED", len(PHASES), len(PHASES)) for s in hub.values())
    assert doubled == 0
    assert not not_once, dict(sorted(not_once.items())[:20])
    assert midrun
    assert not any(midrun.values()), {r: list(w.items())[:5] for r, w in midrun.items()}
    assert not status_wrong, list(status_wrong.items())[:10]
    assert not monitor_wrong, list(monitor_wrong.items())[:10]
    assert held == 0
    assert alive == dict.fromkeys(survivors, None), alive  # no survivor died
    assert all(n < WORKFLOWS for n in killed_at.values()), killed_at  # each mid-run
