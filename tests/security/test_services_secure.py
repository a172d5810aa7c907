"""All five services on the secured broker, each as its own principal, run a workflow.

Proves the ACL policy lets the system work: every service connects over SASL_SSL as
``User:<service>`` with only its prefixed ACLs, answers /health ``healthy``, and a workflow
driven by simulated agents reaches COMPLETED. The test client (requests to the hub, the
agents' reports) connects as ``admin``: there is no client or agent principal yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from baton.bus import Bus
from baton.bus.kafka import KafkaTransport
from baton.config import SERVICES, BatonSettings, deployment_schema
from baton.security.acl import CLIENT
from baton.stack.secure_kafka import ADMIN
from baton.topics import create_topics, delete_topics
from baton_monitor.lag import consumer_lags
from tests.e2e.agents import Decision, EventLog, SimAgents
from tests.e2e.harness import ServiceProcess
from tests.e2e.test_hub_resource import hub, until_status
from tests.security.conftest import SecureKafka
from tests.security.databases import migrated_database

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "security"

WORKFLOW = {
    "workflow_id": "secure_001",
    "name": "Secured run",
    "priority": "high",
    "phases": ["design", "build"],
    "resource_requirements": {"agents": 2, "duration": "1h"},
}


@contextlib.asynccontextmanager
async def _deployment(kafka: SecureKafka) -> AsyncIterator[str]:
    """A fresh topic prefix with its topics (made by admin) and its service ACLs."""
    prefix = f"t_secsvc_{uuid.uuid4().hex[:8]}"
    admin = BatonSettings.from_env(kafka.stack.env(user=ADMIN), topic_prefix=prefix, partitions=1)
    await kafka.stack.apply_acls(prefix=prefix)
    await create_topics(settings=admin)
    try:
        yield prefix
    finally:
        with contextlib.suppress(Exception):
            security = admin.kafka_security
            await delete_topics(bootstrap=admin.bootstrap, prefix=prefix, security=security)
        await kafka.stack.remove_acls(prefix=prefix)


@contextlib.asynccontextmanager
async def _services(
    envs: dict[str, dict[str, str]], log_dir: Path
) -> AsyncIterator[dict[str, ServiceProcess]]:
    """Every service as its own process with its own environment (so its own principal)."""
    procs = {name: ServiceProcess(name, env=env, log_dir=log_dir) for name, env in envs.items()}
    try:
        await asyncio.gather(*(p.start(timeout=60) for p in procs.values()))
        yield procs
    finally:
        codes = await asyncio.gather(*(p.stop() for p in procs.values()))
    for (name, proc), code in zip(procs.items(), codes, strict=True):
        assert code == 0, f"{name} exited {code} on SIGTERM:\n{proc.tail()}"


async def _health(proc: ServiceProcess) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=5.0) as http:
        body: dict[str, Any] = (await http.get(f"http://127.0.0.1:{proc.port}/health")).json()
        return body


async def _eventually_healthy(procs: dict[str, ServiceProcess], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    reports: dict[str, Any] = {}
    while time.monotonic() < deadline:
        reports = {name: await _health(p) for name, p in procs.items()}
        if all(r["status"] == "healthy" for r in reports.values()):
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"not all healthy after {timeout}s: {reports}")


async def _get(port: int, path: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=5.0) as http:
        body: dict[str, Any] = (await http.get(f"http://127.0.0.1:{port}{path}")).json()
        return body


async def _until(port: int, path: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + 60  # faust's windows start a few seconds after the rest
    body = await _get(port, path)
    while not done(body):
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.5)
        body = await _get(port, path)
    return body


async def test_five_services_run_a_workflow_over_sasl_ssl_with_their_own_principals(
    secure_kafka: SecureKafka,
) -> None:
    started = time.monotonic()
    log_dir = ARTIFACTS / "services_secure"
    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("*.log"):
        old.unlink()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_KAFKA_")}
    async with (
        _deployment(secure_kafka) as prefix,
        migrated_database("baton_sec_e2e", schema=deployment_schema(prefix)) as db,
    ):
        common = {
            **base_env,
            "BATON_TOPIC_PREFIX": prefix,
            "BATON_PG_DSN": db.app,  # DML only: the owner role migrated the schema
            "BATON_PARTITIONS": "1",
            "BATON_HEARTBEAT_INTERVAL": "2",
            "BATON_RETRY_DELAYS": "0.5,1,2",
            "BATON_MONITOR_LAG_INTERVAL": "1",
            "BATON_RESOURCE_POOLS": '{"agents": 4}',
            "BATON_TEST_LOG_DIR": str(log_dir),
        }
        envs = {name: {**common, **secure_kafka.stack.env(user=name)} for name in SERVICES}
        # The test's client and its simulated agents: the clients' principal, not admin.
        client_env = {**common, **secure_kafka.stack.env(user=CLIENT)}
        settings = BatonSettings.from_env(client_env, component="secure-client")
        assert settings.kafka_security.protocol == "SASL_SSL"
        bus = Bus(settings=settings)
        agents, events = SimAgents(bus=bus), EventLog(bus=bus)
        agents.policy = lambda e: Decision(delay=0.05)
        agents.attach()
        events.attach()
        async with _services(envs, log_dir) as procs, bus:
            ready_s = time.monotonic() - started
            await _eventually_healthy(procs, timeout=30)
            await hub(bus, "CREATE_WORKFLOW", "secure_001", {"definition": WORKFLOW})
            await until_status(bus, "secure_001", "COMPLETED", timeout=45)
            completed_s = time.monotonic() - started
            # The monitor's faust windows (own principal, own changelog topics) saw it too.
            port = procs["monitor"].port
            await _until(
                port,
                "/api/windows",
                # hopping (the last 4 min at least), not the 1-minute tumbling window,
                # which may roll over before the windows catch up
                lambda w: w["hopping"]["counts"].get("WORKFLOW_COMPLETED", 0) >= 1,
            )
            # Its lag reader describes every service's groups and their topics' offsets,
            # commands topics included (which it may not read).
            groups = {f"{prefix}.hub.rpc", f"{prefix}.resource.rpc", f"{prefix}.hub"}
            report = await _until(
                port, "/api/report", lambda r: groups <= set(r.get("consumer_lag", {}))
            )
            lagging = report["consumer_lag"]
            reports = {name: await _health(p) for name, p in procs.items()}
        # With the services stopped, one record more on each commands topic: the monitor's
        # principal must see it as lag of the hub's and the resource manager's rpc groups.
        transport = KafkaTransport(settings=settings)
        await transport.start()
        try:
            for name in ("hub", "resource"):
                topic = settings.topics.commands(name)
                await (await transport.enqueue(topic, key=b"k", value=b"{}", headers=[]))
        finally:
            await transport.stop()
        monitor = BatonSettings.from_env(envs["monitor"])
        lags = await consumer_lags(
            bootstrap=monitor.bootstrap, prefix=prefix, security=monitor.kafka_security
        )
        assert lags[f"{prefix}.hub.rpc"] == lags[f"{prefix}.resource.rpc"] == 1, lags
        for name, report in reports.items():
            assert report["status"] == "healthy", (name, report)
            assert report["dependencies"] == {"kafka": "healthy", "postgresql": "healthy"}
        for name, proc in procs.items():
            log = proc.log_path.read_text(errors="replace")
            assert "AuthorizationFailed" not in log, f"{name}:\n{proc.tail()}"
            assert "could not read consumer lag" not in log, f"{name}:\n{proc.tail()}"
    workflow_events = events.of("secure_001", prefix="WORKFLOW_")
    assert workflow_events[0] == "WORKFLOW_CREATED"
    assert workflow_events[-1] == "WORKFLOW_COMPLETED"
    print(
        f"\nsecured run: services={len(reports)} healthy="
        f"{sum(r['status'] == 'healthy' for r in reports.values())} ready_in={ready_s:.1f}s "
        f"completed_at={completed_s:.1f}s assignments={len(agents.assignments)} "
        f"total={time.monotonic() - started:.1f}s lag_groups={sorted(lagging)}"
    )
