"""What a Baton service is to the shared runner: a name, migrations, handlers, loops."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from fastapi import APIRouter
from prometheus_client.core import Metric

from baton.bus import Bus
from baton.bus.subscription import BatchHandler, Handler
from baton.config import BatonSettings
from baton.db import Database
from baton.runtime.ledger import DurableRequestHandler, durable_responder
from baton.runtime.outbox import Outbox
from baton.runtime.retention import PruneRule, RetentionConfig

__all__ = ["DEFAULT_PORTS", "READ_MODEL_GATHER_MS", "Loop", "Service", "ServiceContext"]

READ_MODEL_GATHER_MS = 250
"""How long a read model's group lets the broker gather events before a fetch is answered
(:meth:`Bus.subscribe_batches` ``gather_ms``): status and the monitor's metrics are views,
a quarter second behind at most, so that the workflows' own path gets the CPU."""

DEFAULT_PORTS: dict[str, int] = {
    "hub": 8081,
    "resource": 8082,
    "status": 8083,
    "monitor": 8084,
    "recovery": 8085,
}

Loop = Callable[[], Awaitable[None]]
"""A long-running coroutine the runner supervises (it should run until cancelled)."""


@dataclass(slots=True)
class ServiceContext:
    """Everything a service gets from the runner."""

    settings: BatonSettings
    bus: Bus
    db: Database
    outbox: Outbox
    log: logging.Logger
    env: Mapping[str, str] = field(default_factory=dict)
    """The environment the process started with, for service-specific configuration."""


class Service:
    """Base of the five services. Subclasses set ``name`` and override the hooks.

    Lifecycle (driven by :func:`baton.runtime.run_service`): ``setup`` (subscribe handlers,
    before the bus starts) → bus, outbox relay and HTTP start → ``started`` (recover state)
    → ``loops`` and retention (``retention_rules``) run → SIGTERM → ``stopping`` →
    everything stops in reverse order.
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "0.1.0"
    capabilities: ClassVar[tuple[str, ...]] = ()
    dependencies: ClassVar[tuple[str, ...]] = ()
    subscriptions: ClassVar[tuple[str, ...]] = ()
    publications: ClassVar[tuple[str, ...]] = ()
    migrations: ClassVar[Path | None] = None

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.bus = ctx.bus
        self.db = ctx.db
        self.outbox = ctx.outbox
        self.log = ctx.log

    @property
    def group(self) -> str:
        """This service's consumer group for the events topic (``<prefix>.<name>``)."""
        return self.ctx.settings.topics.group(self.name)

    def answer_durably(
        self, handler: DurableRequestHandler, *, after_commit: Callable[[], None] | None = None
    ) -> None:
        """Answer this service's commands with ``handler``, each request id applied once
        (reply stored with the change; events relayed once committed). ``after_commit``
        runs once a request's change committed (default: wake the outbox relay; one given
        must wake it too)."""
        self.bus.serve(
            self.name,
            durable_responder(
                db=self.db,
                owner=self.group,
                handler=handler,
                after_commit=after_commit or self.outbox.notify,
            ),
            durable=True,
        )

    def subscribe_each(
        self, handlers: Mapping[str, Handler], *, gather_ms: int | None = None
    ) -> None:
        """Subscribe every ``pattern → handler`` in this service's consumer group
        (``gather_ms``: see :meth:`Bus.subscribe`)."""
        for pattern, handler in handlers.items():
            self.bus.subscribe(
                pattern,
                handler,
                group=self.group,
                name=_name(handler, pattern),
                gather_ms=gather_ms,
            )

    def subscribe_batches(self, handlers: Mapping[str, BatchHandler]) -> None:
        """Subscribe every ``pattern → batch handler`` in this service's consumer group
        (events that arrive together come as one list: :meth:`Bus.subscribe_batches`)."""
        for pattern, handler in handlers.items():
            self.bus.subscribe_batches(
                pattern, handler, group=self.group, name=_name(handler, pattern)
            )

    async def setup(self) -> None:
        """Register subscriptions and responders (the bus is not started yet)."""

    async def started(self) -> None:
        """Load or rebuild state once connected."""

    def loops(self) -> dict[str, Loop]:
        """Named background loops to supervise; one dying stops the service loudly."""
        return {}

    def retention_rules(self, retention: RetentionConfig) -> list[PruneRule]:
        """This service's tables' prune rules, windows from ``retention`` (the runner prunes
        them, and the runtime's tables, in its ``retention`` loop)."""
        return []

    def router(self) -> APIRouter | None:
        """Extra HTTP routes (besides /health and /ready)."""
        return None

    def health_details(self) -> dict[str, Any]:
        """Service-specific facts for /health and heartbeats (queue sizes, counts...)."""
        return {}

    async def metric_families(self) -> list[Metric]:
        """Service-specific Prometheus metrics, read for every scrape of /metrics (within a
        few seconds; one that fails is left out of that scrape). Names start ``baton_``."""
        return []

    async def stopping(self) -> None:
        """Called first on shutdown, while everything still runs."""


def _name(handler: object, pattern: str) -> str:
    """A subscription's name in retry headers: stable across releases, so that retries
    queued by one still reach their handler in the next."""
    return f"{getattr(handler, '__name__', 'handler')}@{pattern}"
