"""The shared service runtime against real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, ClassVar

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families
from tests.behaviour.helpers import eventually, eventually_async
from tests.conftest import drop_schema, unique_prefix

from baton.bus import Bus
from baton.bus import kafka as kafka_module
from baton.bus.kafka import KafkaTransport
from baton.config import BatonSettings
from baton.db import Database, load_migrations, migrate
from baton.errors import RemoteError
from baton.protocol.event import Event
from baton.runtime import RUNTIME_MIGRATIONS, Service, ServiceRunner, durable_responder
from baton.runtime.metrics import MetricsMiddleware, ServiceMetrics
from baton.topics import create_topics

pytestmark = pytest.mark.integration


class Counter(Service):
    """A tiny service: answers COUNT requests once per request id, emitting an event."""

    name: ClassVar[str] = "hub"
    capabilities = ("counting",)
    applied: ClassVar[list[str]] = []
    failed: ClassVar[list[str]] = []

    async def setup(self) -> None:
        async def count(conn: Any, request: Event) -> dict[str, Any]:
            if request.data.get("fail"):
                from baton.errors import HandlerError

                # Written, then undone: nothing of a failed request is kept but its error.
                await self.outbox.add(conn, Event.parse("UNDONE:wf_1:count:{}"))
                Counter.failed.append(request.request_id or "")
                raise HandlerError("asked to fail", retriable=False)
            Counter.applied.append(request.request_id or "")
            await self.outbox.add(
                conn,
                Event(
                    event_type="COUNTED",
                    workflow_id=request.workflow_id,
                    phase="count",
                    data={"n": len(Counter.applied)},
                ),
            )
            return {"n": len(Counter.applied)}

        self.bus.serve(
            "hub",
            durable_responder(
                db=self.db, owner="hub", handler=count, after_commit=self.outbox.notify
            ),
        )

    def health_details(self) -> dict[str, Any]:
        return {"queue_size": 0, "applied": len(Counter.applied)}


async def test_runner_serves_health_registers_and_applies_requests_once(
    live_stack: BatonSettings,
) -> None:
    settings = live_stack.model_copy(
        update={
            "topic_prefix": unique_prefix(),
            "http_port": 0,
            "heartbeat_interval": 0.5,
            "request_timeout": 20.0,
        }
    )
    await create_topics(settings=settings)
    # The runner works in the prefix's own schema (a deployment of its own).
    async with Database(dsn=settings.dsn, schema=settings.db_schema) as db:
        await migrate(db, migrations=load_migrations(owner="runtime", directory=RUNTIME_MIGRATIONS))
    seen: list[Event] = []
    watcher = Bus(settings=settings.model_copy(update={"component": "watcher"}))

    async def record(event: Event) -> None:
        seen.append(event)

    watcher.subscribe("#", record, group=f"w-{unique_prefix()}")
    runner = ServiceRunner(Counter, settings=settings)
    Counter.applied.clear()
    Counter.failed.clear()
    async with watcher:
        await runner.start()
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runner.port}") as http:
                health = (await http.get("/health")).json()
                assert health["status"] == "healthy", health
                assert health["dependencies"] == {"kafka": "healthy", "postgresql": "healthy"}
                assert (await http.get("/ready")).status_code == 200
                metrics = (await http.get("/metrics")).text
                families = {f.name: f for f in text_string_to_metric_families(metrics)}
                assert families["baton_handler_seconds"].type == "histogram"
                assert families["baton_events_handled"].type == "counter"

            client = Bus(settings=settings.model_copy(update={"component": "client"}))
            async with client:
                request_id = f"req_{unique_prefix()}"  # the database outlives test runs
                request = Event.parse("COUNT:wf_1:count:{}").replace(request_id=request_id)
                first = await client.request(request, service="hub")
                again = await client.request(request, service="hub")
                assert first.data == again.data == {"n": 1}
                assert Counter.applied == [request_id]
                failing = Event.parse('COUNT:wf_1:count:{"fail":true}').replace(
                    request_id=f"req_{unique_prefix()}"
                )
                for _ in range(2):  # a repeat gets the stored error
                    with pytest.raises(RemoteError) as info:
                        await client.request(failing, service="hub")
                    assert info.value.error["error"] == "HandlerError"
                assert Counter.failed == [failing.request_id]  # applied once, then replayed

            def types() -> list[str]:
                return [e.event_type for e in seen]

            await eventually(lambda: types().count("COMPONENT_HEARTBEAT") >= 2, what="heartbeats")
            await eventually(lambda: "COUNTED" in types(), what="outbox relay")
            assert types().count("COUNTED") == 1
            assert "UNDONE" not in types()
            assert "SYSTEM_STARTUP" in types()
            assert "COMPONENT_REGISTERED" in types()
            registered = next(e for e in seen if e.event_type == "COMPONENT_REGISTERED")
            assert registered.data["component_registration"]["capabilities"] == ["counting"]
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runner.port}") as http:
                metrics = (await http.get("/metrics")).text
            samples = [s for f in text_string_to_metric_families(metrics) for s in f.samples]
            handled = [
                s
                for s in samples
                if s.name == "baton_events_handled_total" and s.labels["service"] == "hub"
            ]
            assert sum(s.value for s in handled) >= 4  # four requests handled
            assert any(s.name == "baton_handler_seconds_count" and s.value >= 3 for s in samples)
            assert any(s.name == "baton_events_published_total" for s in samples)
            timed = {
                s.labels["event_type"] for s in samples if s.name == "baton_handler_seconds_count"
            }
            assert "custom" in timed  # COUNT is no registered type: one label for all such
            names = {s.name for s in samples}
            assert {"process_cpu_seconds_total", "python_gc_collections_total"} <= names
            commands = settings.topics.commands("hub")

            async def commands_caught_up() -> bool:
                # Lag per partition of the commands topic: end offset - committed offset.
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runner.port}") as http:
                    text = (await http.get("/metrics")).text
                lag = [
                    s
                    for f in text_string_to_metric_families(text)
                    for s in f.samples
                    if s.name == "baton_consumer_lag" and s.labels["topic"] == commands
                ]
                return bool(lag) and all(s.value == 0 for s in lag)

            await eventually_async(commands_caught_up, what="commands lag read and zero")
        finally:
            await runner.stop()
            await runner.stop()  # idempotent
            await drop_schema(dsn=settings.dsn, schema=settings.db_schema)
        await eventually(lambda: "SYSTEM_SHUTDOWN" in [e.event_type for e in seen], what="shutdown")
        await asyncio.sleep(0)


async def test_two_copies_of_one_request_at_once_are_applied_once(
    live_stack: BatonSettings,
) -> None:
    """A zombie and the partition's new owner handling one request together: one applies
    it, the other returns the stored reply."""
    applied: list[str] = []

    async def slow(conn: Any, request: Event) -> dict[str, Any]:
        applied.append(request.request_id or "")
        await asyncio.sleep(0.3)  # both copies are in flight at once
        return {"n": len(applied)}

    owner = f"concurrent-{uuid.uuid4().hex[:8]}"
    async with Database(dsn=live_stack.dsn, max_size=4) as db:
        await migrate(db, migrations=load_migrations(owner="runtime", directory=RUNTIME_MIGRATIONS))
        respond = durable_responder(db=db, owner=owner, handler=slow)
        request = Event(event_type="COUNT", workflow_id="wf", phase="p", data={}).replace(
            request_id="req_same"
        )
        replies = await asyncio.gather(respond(request), respond(request))
    assert applied == ["req_same"]
    assert replies[0] == replies[1] == {"n": 1}


async def test_a_services_connections_carry_its_name(live_stack: BatonSettings) -> None:
    """PostgreSQL tells a service's sessions apart (pg_stat_activity, the server log)."""
    async with Database(dsn=live_stack.dsn, max_size=1, application_name="baton-hub") as db:
        assert await db.pool.fetchval("show application_name") == "baton-hub"
        assert await db.pool.fetchval(
            "select count(*) from pg_stat_activity where application_name = 'baton-hub' "
            "and pid = pg_backend_pid()"
        )


async def test_a_connection_comes_back_to_the_pool_as_it_was_left(
    live_stack: BatonSettings,
) -> None:
    """No reset query on release (a round trip per transaction): session settings survive,
    so nothing in Baton may rely on the pool resetting them; an open transaction does not."""
    async with Database(dsn=live_stack.dsn, min_size=1, max_size=1) as db:
        async with db.connection() as conn:
            await conn.execute("set application_name = 'left_as_it_was'")
            pid = await conn.fetchval("select pg_backend_pid()")
        async with db.connection() as conn:
            assert await conn.fetchval("select pg_backend_pid()") == pid  # the same session
            assert await conn.fetchval("show application_name") == "left_as_it_was"
        with pytest.raises(RuntimeError):
            await _fail_in_a_transaction(db)
        async with db.connection() as conn:
            assert not await conn.fetchval("select to_regclass('pg_temp.left_open') is not null")


async def _fail_in_a_transaction(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute("create temp table left_open (n int)")
        raise RuntimeError("the block fails")


async def test_consumer_lag_counts_records_until_they_are_handled_and_committed(
    live_stack: BatonSettings,
) -> None:
    settings = live_stack.model_copy(update={"topic_prefix": unique_prefix()})
    await create_topics(settings=settings)
    metrics = ServiceMetrics(service="hub")
    bus = Bus(settings=settings, middleware=[MetricsMiddleware(metrics)])
    metrics.watch_bus(bus)
    group = f"{settings.topic_prefix}.hub"
    release = asyncio.Event()
    seen: list[str] = []

    async def handle(event: Event) -> None:
        seen.append(event.event_type)
        if event.event_type == "PHASE_STARTED":
            await release.wait()

    bus.subscribe("#", handle, group=group)
    events = settings.topics.events

    async def lag() -> dict[int, float]:
        text = (await metrics.scrape()).decode()
        return {
            int(s.labels["partition"]): s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name == "baton_consumer_lag" and s.labels["topic"] == events
        }

    async with bus:
        partition = await bus.partition_for("wf_1")

        async def behind(records: int) -> bool:
            return (await lag()).get(partition) == records

        await bus.publish(Event.parse("WORKFLOW_STARTED:wf_1:setup:{}"))
        await eventually_async(lambda: behind(0), what="the first event committed")
        for _ in range(3):
            await bus.publish(Event.parse("PHASE_STARTED:wf_1:setup:{}"))
        await eventually(lambda: "PHASE_STARTED" in seen, what="a phase held")
        # Fetched by the client already, the held records still count until committed.
        await eventually_async(lambda: behind(3), what="three records behind")
        release.set()
        await eventually_async(lambda: behind(0), what="caught up")
        assert all(value == 0 for value in (await lag()).values())


async def test_health_probes_reuse_one_kafka_client(
    live_stack: BatonSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every /health asks Kafka for its topics; a started transport asks through one client
    it keeps, not a new connection per probe."""
    made: list[object] = []
    real = AIOKafkaAdminClient

    def counted(**options: Any) -> Any:
        made.append(options)
        return real(**options)

    monkeypatch.setattr(kafka_module, "AIOKafkaAdminClient", counted)
    transport = KafkaTransport(settings=live_stack)
    await transport.start()
    try:
        answers = [await transport.existing_topics() for _ in range(5)]
        known = min(answers[0])
        one = await transport.existing_topics(among=[known, "no-such-topic-anywhere"])
    finally:
        await transport.stop()
    assert len(made) == 1
    assert all(a == answers[0] and a for a in answers)
    # A probe asks about its own topic only: the answer does not grow with the cluster's.
    assert one == {known}
