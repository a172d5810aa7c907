"""A broker of a three-broker cluster lost mid-run (issue 17, 6b).

The test starts its own Kafka cluster with the project's own code — ``baton stack up
--brokers 3`` (``KafkaStack.up(brokers=3)``) in a home of its own, on ports from
``BATON_FAULT_CLUSTER_PORT`` (default 29092, below Linux's ephemeral range so no client
connection can hold one of them) upward, moved on when a port is taken — and stops it at the
end, so it never touches the stack a developer or the rest of the suite uses; PostgreSQL is
the session's.
Its topics get replication 3 and ``min.insync.replicas`` 2; every producer is idempotent
with ``acks=all``.

The five services run as processes. While a batch of workflows runs, the broker that leads
the most partitions of the events topic is killed (-9), the run goes on with two brokers for
a while, and the dead broker is started again (``baton stack up`` restarts the missing
node). Invariants: no event the client saw acknowledged is missing from the topic, no state
transition happens twice, every workflow completes, and no service was restarted — each
process is the one started first, and stops cleanly on SIGTERM at the end. The restarted
broker catches up: every events partition has three in-sync replicas again.

Size: ``BATON_FAULT_CLUSTER_WORKFLOWS`` workflows (default 60); about 2½ minutes, cluster
start and stop included. It runs with README's test command like the rest of the fault
suite; marked ``cluster`` (it starts three more JVMs), so ``pytest -m "not cluster"``
leaves it out and ``pytest -m cluster`` runs it alone.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from baton.bus import Bus
from baton.config import BatonSettings
from baton.stack.kafka import KafkaLayout, KafkaStack
from baton.topics import describe_topics
from tests.e2e.agents import Decision, EventLog, SimAgents
from tests.e2e.harness import Cluster
from tests.faults.history import read_to_end
from tests.faults.support import (
    acknowledged,
    duplicates,
    kill_broker,
    partition_leaders,
    run_workflows,
)
from tests.stack import share_jars

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.timeout(1200)]

SERVICES = ["resource", "hub", "status", "monitor", "recovery"]
BROKERS = 3
PORT = int(os.environ.get("BATON_FAULT_CLUSTER_PORT", "29092"))
WORKFLOWS = int(os.environ.get("BATON_FAULT_CLUSTER_WORKFLOWS", "60"))
OUTAGE_S = 15.0
"""How long the run goes on with two brokers before the third comes back."""


def _blocking(work: Any) -> Any:
    """Run a coroutine to its end from a sync fixture (in a thread: a loop may be running)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()


def _bindable(port: int) -> bool:
    """Whether nothing listens on, or is connected from, ``127.0.0.1:port`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the broker binds
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port_base(start: int) -> int:
    """The first base from ``start`` (in steps of 100) whose brokers' and controllers' ports
    are all free: a taken port makes a node exit during start-up."""
    for base in range(start, start + 100 * 50, 100):
        layout = KafkaLayout(brokers=BROKERS, port=base)
        ports = [layout.broker_port(n) for n in layout.nodes]
        ports += [layout.controller_port(n) for n in layout.nodes]
        if all(_bindable(p) for p in ports):
            return base
    raise RuntimeError(f"no free ports for a {BROKERS}-broker cluster from {start} upward")


@pytest.fixture(scope="module")
def live_stack(
    live_stack: BatonSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BatonSettings]:
    """This module's Kafka: a three-broker cluster of its own; the session's PostgreSQL."""
    base = live_stack
    home = tmp_path_factory.mktemp("kafka-cluster")
    share_jars(source=base.home, home=home)
    local = base.model_copy(
        update={
            "home": home,
            "stack_kafka_port": _free_port_base(PORT),
            "kafka_bootstrap": None,
            "pg_dsn": base.dsn,
            "partitions": 6,  # two led by each broker
        }
    )
    stack = KafkaStack(settings=local)
    try:
        report = _blocking(stack.up(brokers=BROKERS, max_wait=180))
        yield local.model_copy(update={"kafka_bootstrap": report.endpoint})
    finally:
        _blocking(_discard(stack))


async def _discard(stack: KafkaStack) -> None:
    """Stop the module's cluster for good: kill -9, then ``down`` tidies up. Its data goes
    with its home, so a clean shutdown (15-20 s for three brokers) would buy nothing."""
    for broker in (await stack.status()).brokers:
        if broker.pid is not None and broker.state != "stopped":
            await kill_broker(stack, broker.node)
    await stack.down()


async def test_losing_the_leading_broker_loses_and_doubles_nothing(
    live_stack: BatonSettings,
    e2e_env: dict[str, str],
    client: tuple[Bus, SimAgents, EventLog],
    log_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bus, agents, events = client
    agents.policy = lambda e: Decision(delay=0.05)
    agents.attach()
    events.attach()
    topic = bus.topics.events
    stack = KafkaStack(settings=live_stack)
    assert len(stack.layout.nodes) == BROKERS
    config = (await describe_topics(bootstrap=live_stack.bootstrap, names=[topic]))[0]["config"]
    assert config["min.insync.replicas"] == "2"
    assert {isr for _, isr in (await partition_leaders(live_stack.bootstrap, topic)).values()} == {
        BROKERS
    }

    published = acknowledged(bus)
    env = {
        **e2e_env,
        "BATON_RESOURCE_POOLS": '{"agents": 16}',
        "BATON_HUB_FAILURE_POLICY": "recovery",
        "BATON_LOG_LEVEL": os.environ.get("BATON_FAULT_LOG_LEVEL", "WARNING"),
    }
    ended: set[str] = set()

    def finished() -> set[str]:
        ended.update(
            e.workflow_id
            for e in events.events
            if e.event_type in ("WORKFLOW_COMPLETED", "WORKFLOW_FAILED")
        )
        return ended

    names = [f"bf_{i:03d}" for i in range(WORKFLOWS)]
    async with Cluster(SERVICES, env=env, log_dir=log_dir) as cluster, bus:
        began = time.monotonic()
        work = asyncio.create_task(run_workflows(bus, names, finished=finished, timeout=600))
        while len(finished()) < WORKFLOWS // 4:  # mid-run
            assert not work.done(), work
            await asyncio.sleep(0.2)
        leaders = await partition_leaders(live_stack.bootstrap, topic)
        led = [leader for leader, _ in leaders.values()]
        victim = max(stack.layout.nodes, key=led.count)
        before = len(events.events)
        await kill_broker(stack, victim)
        killed = time.monotonic()
        await asyncio.sleep(OUTAGE_S)
        moved = await partition_leaders(live_stack.bootstrap, topic)
        during = len(events.events) - before
        await stack.up()  # starts the missing node again, as `baton stack up` does
        restarted = time.monotonic() - killed
        unfinished = await work
        took = time.monotonic() - began
        deadline = time.monotonic() + 120
        while True:  # the restarted broker catches up and rejoins every ISR
            caught_up = await partition_leaders(live_stack.bootstrap, topic)
            if all(isr == BROKERS for _, isr in caught_up.values()):
                break
            assert time.monotonic() < deadline, f"ISRs never full again: {caught_up}"
            await asyncio.sleep(1.0)
        await read_to_end(bus, events)
        starts = {name: process.starts for name, process in cluster.services.items()}
        alive = {
            name: process.proc and process.proc.returncode
            for name, process in cluster.services.items()
        }

    seen = {e.event_id for e in events.events}
    lost = [i for i in published if i not in seen]
    doubled = duplicates(events.events)
    lines = [
        "",
        f"broker {victim} of {BROKERS} killed (-9), leading {led.count(victim)} of "
        f"{len(led)} partitions of {topic}; started again after {restarted:.1f}s",
        f"workflows {WORKFLOWS}, unfinished {len(unfinished)}, events {len(seen)} "
        f"({during} while the broker was down), run {took:.0f}s",
        f"acknowledged events not seen: {len(lost)} of {len(published)}; "
        f"duplicate transitions: {doubled}",
    ]
    (log_dir / "table.txt").write_text("\n".join(lines) + "\n")
    with capsys.disabled():
        print("\n".join(lines))
    assert led.count(victim) >= 1
    assert all(leader != victim for leader, _ in moved.values()), moved
    assert during > 0, "nothing happened while the broker was down"
    assert not lost
    assert doubled == 0
    assert not unfinished, sorted(unfinished)
    assert starts == dict.fromkeys(SERVICES, 1), starts  # no service restarted by hand
    assert alive == dict.fromkeys(SERVICES, None), alive  # and none died
    for name in names:
        lifecycle = [
            e.event_type
            for e in {e.event_id: e for e in events.events}.values()
            if e.workflow_id == name and e.event_type.startswith("WORKFLOW_")
        ]
        assert lifecycle[0] == "WORKFLOW_CREATED", (name, lifecycle)
        assert lifecycle[-1] == "WORKFLOW_COMPLETED", (name, lifecycle)
