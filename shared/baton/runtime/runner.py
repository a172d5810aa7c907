"""The one runner every service shares: start in order, supervise, stop gracefully.

Start: HTTP port held (a taken port fails at once) → database (refusing pending migrations) →
service ``setup`` → topics checked → bus → outbox relay → HTTP served → ``started`` →
registration → loops, and retention (the runtime's and the service's prune rules,
:mod:`baton.runtime.retention`). Then it waits for SIGTERM/SIGINT or for any supervised task
to die. A death is loud: logged, /health turns unhealthy, the process exits 1 so the
orchestrator restarts it. A loop stopped by a retriable error (an
outage — :class:`~baton.errors.DependencyUnavailableError`, PostgreSQL or Kafka restarting —
or a request another service did not answer in time) is not a death: it is started again
with backoff, and consumers wait out outages in place (:mod:`baton.bus.consumer`). Stop runs
in reverse and commits what was handled, within ``BATON_STOP_GRACE`` seconds of the signal
(:mod:`baton.runtime.shutdown`), even one that comes while the service is still starting;
calling it twice is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from baton.backoff import BackoffPolicy
from baton.bus import Bus, TracingMiddleware
from baton.bus.transport import Transport
from baton.config import BatonSettings
from baton.db import Database, load_migrations, pending
from baton.errors import BatonError, ConfigError
from baton.runtime.health import HealthReporter, build_app
from baton.runtime.http import HttpServer
from baton.runtime.metrics import MetricsMiddleware, ServiceMetrics
from baton.runtime.outbox import Outbox
from baton.runtime.partition_metrics import WrongPartitionCollector
from baton.runtime.presence import Presence
from baton.runtime.retention import Pruner, PruneRule, RetentionConfig, runtime_rules
from baton.runtime.service import DEFAULT_PORTS, Service, ServiceContext
from baton.runtime.shutdown import Watchdog, within
from baton.security.http_auth import HttpTokens

__all__ = ["RUNTIME_MIGRATIONS", "ServiceRunner", "run_service"]

_OUTAGE_BACKOFF = BackoffPolicy(base=0.5, max_delay=10.0, max_attempts=None, jitter="none")
"""Pauses before a loop stopped by a retriable error is started again."""
_IN_HAND_SHARE = 0.6
"""Share of the grace period for work in hand (the ``stopping`` hook, loops, the batches
being handled); the rest is for committing, leaving the groups, flushing and closing."""
_EXIT_SHARE = 0.1
"""Share of the grace period left for the process to exit after an orderly stop."""

RUNTIME_MIGRATIONS = Path(str(files("baton.db").joinpath("sql")))
"""Migrations of the tables the runtime itself uses (outbox, ledger, replies)."""


class ServiceRunner:
    """Runs one service until told to stop or until something it supervises dies.

    Args:
        service: The service class.
        settings: Deployment settings; ``component`` defaults to ``baton-<name>``.
        env: The environment, for the service's own settings and the retention windows.
        tracer_provider: Spans go there (default: the global provider).
        meter_provider: Metrics are also recorded there, to be pushed over OTLP (default:
            only the Prometheus registry served at /metrics).
        transport: The broker transport (default: Kafka, from ``settings``).
    """

    def __init__(
        self,
        service: type[Service],
        *,
        settings: BatonSettings,
        env: Mapping[str, str] | None = None,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        transport: Transport | None = None,
    ) -> None:
        if settings.component == "baton-cli":
            settings = settings.model_copy(update={"component": f"baton-{service.name}"})
        self.settings = settings
        self.retention = RetentionConfig.from_env(env or {})
        self.retention.check(settings=settings)
        self.pruner: Pruner | None = None
        self.service_cls = service
        self.log = logging.getLogger(f"baton.{service.name}")
        # The deployment's own schema: deployments sharing a database share no rows.
        self.db = Database(
            dsn=settings.dsn, schema=settings.db_schema, application_name=settings.component
        )
        self.metrics = ServiceMetrics(
            service=service.name,
            meter=meter_provider.get_meter("baton") if meter_provider is not None else None,
        )
        tracer = tracer_provider.get_tracer("baton.bus") if tracer_provider is not None else None
        self.bus = Bus(
            settings=settings,
            transport=transport,
            middleware=[TracingMiddleware(tracer=tracer), MetricsMiddleware(self.metrics)],
        )
        self.metrics.watch_bus(self.bus)
        self.metrics.registry.register(WrongPartitionCollector(bus=self.bus, service=service.name))
        # Deployments (topic prefixes) may share a database: each relays only its own rows.
        self.outbox = Outbox(
            db=self.db, bus=self.bus, owner=f"{settings.topic_prefix}.{service.name}"
        )
        ctx = ServiceContext(
            settings=settings,
            bus=self.bus,
            db=self.db,
            outbox=self.outbox,
            log=self.log,
            env=dict(env or {}),
        )
        self.service = service(ctx)
        self.metrics.add_source(self.service.metric_families)
        self.health = HealthReporter(service=self.service)
        self.presence = Presence(service=self.service, health=self.health)
        port = settings.http_port
        if port is None:
            port = DEFAULT_PORTS.get(service.name, 0)
        self.http = HttpServer(host=settings.http_host, port=port)
        self.tokens = (
            HttpTokens.load(path=settings.http_tokens_file)
            if settings.http_tokens_file is not None
            else None
        )
        self.port: int | None = None
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._stop = asyncio.Event()
        self._stop_asked: float | None = None
        self._stopped = False
        self._reached: set[str] = set()  # start steps done that stop has to undo

    async def check_migrations(self) -> None:
        """Refuse to run against a database that lacks this service's tables."""
        owners = [load_migrations(owner="runtime", directory=RUNTIME_MIGRATIONS)]
        if self.service_cls.migrations is not None:
            owners.append(
                load_migrations(owner=self.service_cls.name, directory=self.service_cls.migrations)
            )
        missing = [
            f"{m.owner}/{m.version:04d}_{m.name}"
            for group in owners
            for m in await pending(self.db, migrations=group)
        ]
        if missing:
            raise ConfigError(
                f"database migrations not applied: {', '.join(missing)}; run `baton db migrate`",
                pending=missing,
            )

    async def start(self) -> None:
        """Start everything in order (module doc).

        Raises:
            ConfigError: the HTTP port cannot be held, or migrations are pending.
        """
        self.http.bind()
        await self.db.start()
        await self.check_migrations()
        await self.service.setup()
        self._reached.add("setup")
        await self.bus.require_topics([self.bus.topics.events, *self._subscribed_topics()])
        await self.bus.start()
        await self.outbox.start()
        await self._start_http()
        await self.service.started()
        await self.presence.register()
        self._reached.add("registered")
        self.health.ready = True
        self._supervise("heartbeat", self._outlasting("heartbeat", self.presence.heartbeats))
        self._supervise("bus", self._bus_watch())
        if self.outbox.task is not None:
            self._tasks["outbox"] = self.outbox.task
        for name, loop in self.service.loops().items():
            self._supervise(name, self._outlasting(name, loop))
        self.pruner = Pruner(
            db=self.db,
            rules=self.prune_rules(),
            batch=self.retention.batch,
            interval=self.retention.interval,
        )
        self._supervise("retention", self._outlasting("retention", self.pruner.run))
        self.log.info(
            "%s ready (http %s:%s)", self.settings.component, self.settings.http_host, self.port
        )

    def prune_rules(self) -> list[PruneRule]:
        """What the ``retention`` loop prunes: the runtime's tables and the service's."""
        return [
            *runtime_rules(self.retention, settings=self.settings),
            *self.service.retention_rules(self.retention),
        ]

    def _subscribed_topics(self) -> list[str]:
        return sorted({t for c in self.bus._consumers.values() for t in c.topics})

    async def _bus_watch(self) -> None:
        error = await self.bus.wait_crashed()
        raise BatonError(f"a consumer loop died: {error!r}")

    async def _start_http(self) -> None:
        if self.tokens is None:
            self.log.warning(
                "HTTP authentication is off (BATON_HTTP_TOKENS_FILE unset): the API, its "
                "stream, /docs and /metrics on port %s answer anyone who reaches it",
                self.http.port,
            )
        app = build_app(
            service=self.service, health=self.health, metrics=self.metrics, tokens=self.tokens
        )
        grace = self.settings.stop_grace
        stop_timeout = grace * (1 - _IN_HAND_SHARE - _EXIT_SHARE) / 2
        self._tasks["http"] = await self.http.start(app, stop_timeout=stop_timeout)
        self.port = self.http.port

    def _supervise(self, name: str, coro: Any) -> None:
        self._tasks[name] = asyncio.create_task(coro, name=name)

    async def _outlasting(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        """Run ``loop``; after a retriable error start it again with backoff (module doc)."""
        waits = _OUTAGE_BACKOFF.waits()
        while True:
            began = time.monotonic()
            try:
                await loop()
                return
            except BatonError as exc:
                if not exc.retriable:
                    raise
                if time.monotonic() - began > 4 * _OUTAGE_BACKOFF.max_delay:
                    waits = _OUTAGE_BACKOFF.waits()  # ran well since the last outage: a new one
                delay = next(waits)
                self.log.warning(
                    "loop %s stopped by a retriable error (%s); again in %.1fs", name, exc, delay
                )
                await asyncio.sleep(delay)

    def request_stop(self) -> None:
        """Ask the runner to stop (what SIGTERM does); the grace period starts now."""
        if self._stop_asked is None:
            self._stop_asked = time.monotonic()
        self._stop.set()

    async def run(self) -> int:
        """Start, run until a stop request (exit code 0) or a death (1), stop.

        A stop request while starting does not wait for the start to finish.

        Raises:
            BaseException: why the start failed (after stopping what had started).
        """
        starting = asyncio.create_task(self.start(), name="start")
        asked = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait([starting, asked], return_when=asyncio.FIRST_COMPLETED)
        finally:
            asked.cancel()
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(BaseException):
                await starting
            await self.stop(reason="signal")
            return 0
        if starting.cancelled() or starting.exception() is not None:
            await self.stop(reason="failed to start")
            await starting  # raises why
        code = await self.wait()
        await self.stop(reason="signal" if code == 0 else "failure")
        return code

    async def wait(self) -> int:
        """Wait for a stop request (exit code 0) or a supervised task's death (1)."""
        stop = asyncio.create_task(self._stop.wait())
        try:
            done, _ = await asyncio.wait(
                [stop, *self._tasks.values()], return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stop.cancel()
        if stop in done:
            return 0
        for name, task in self._tasks.items():
            if task in done:
                error = task.exception() if not task.cancelled() else None
                self.health.failed = f"{name}: {error!r}"
                self.log.critical("supervised task %s died: %r", name, error)
        return 1

    async def stop(self, *, reason: str = "shutdown") -> None:
        """Stop everything in reverse order within the grace period. Safe to call twice.

        The grace period runs from the stop request (or from now). Work in hand gets a share
        of it; a step that overruns is abandoned and logged, and what it held was not
        committed, so it comes again (:mod:`baton.runtime.shutdown`).
        """
        if self._stopped:
            return
        self._stopped = True
        self.health.ready = False
        grace = self.settings.stop_grace
        loop = asyncio.get_running_loop()
        began = loop.time() - (
            time.monotonic() - self._stop_asked if self._stop_asked is not None else 0.0
        )
        in_hand_by = began + grace * _IN_HAND_SHARE
        deadline = began + grace * (1 - _EXIT_SHARE)
        if "setup" in self._reached:
            await within(self.service.stopping(), what="the service's stopping hook", by=in_hand_by)
        loops = [t for n, t in self._tasks.items() if n not in {"http", "outbox"}]
        for task in loops:
            task.cancel()
        await within(_settled(loops), what="the supervised loops", by=in_hand_by)
        if "registered" in self._reached:
            await within(self.presence.shutdown(reason=reason), what="the goodbye", by=in_hand_by)
        await within(
            # Finishes and commits the batches in hand, given until in_hand_by.
            self.bus.stop(timeout=max(0.0, in_hand_by - loop.time())),
            what="the bus",
            by=deadline,
        )
        await within(self.outbox.stop(), what="the outbox relay", by=deadline)
        self.http.request_stop()
        if "http" in self._tasks:
            await within(_settled([self._tasks["http"]]), what="the HTTP server", by=deadline)
        await within(self.db.stop(), what="the database pool", by=deadline)


async def _settled(tasks: list[asyncio.Task[Any]]) -> None:
    """Wait until every task is done, whatever it ended with."""
    if tasks:
        await asyncio.wait(tasks)


async def run_service(
    service: type[Service],
    *,
    settings: BatonSettings,
    env: Mapping[str, str] | None = None,
    meter_provider: MeterProvider | None = None,
) -> int:
    """Run ``service`` until SIGTERM/SIGINT (exit 0) or a failure (exit 1).

    The first signal starts an orderly stop and a :class:`Watchdog` that ends the process
    when the grace period is over; a second signal ends it at once.
    """
    runner = ServiceRunner(service, settings=settings, env=env, meter_provider=meter_provider)
    watchdog = Watchdog(grace=settings.stop_grace, component=runner.settings.component)

    def on_signal() -> None:
        if watchdog.armed:
            runner.log.warning("second signal: stopping now")
            os._exit(1)
        watchdog.arm()
        runner.request_stop()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    return await runner.run()
