"""Prometheus metrics for every service, collected as bus middleware (``/metrics``).

Per service (label ``service``): events handled by group and event type, handler time by
group and event type, event-to-handled latency, handler failures, events published by
topic, the bus's retry / dead-letter / duplicate-request counters, and each consumer
group's lag per topic and partition; the process's CPU, memory and file descriptors
(``process_*``), the garbage collector's work (``python_gc_*``) and ``python_info``; and what
the service adds (:meth:`~baton.runtime.service.Service.metric_families`). Each runner owns
its registry (no process-global state), so several services can share a process. Every
metric is listed in docs/observability.md.

Values that take I/O to read (consumer lag, a service's own) are read when a scrape comes
(:meth:`ServiceMetrics.scrape`), each source within a few seconds; one that fails or
overruns is left out of that scrape and logged.

Given an OpenTelemetry meter, the event measurements also go to OTel instruments of the
same names (``baton.events.handled``, ``baton.handler.duration``, ...) for OTLP export.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from opentelemetry.metrics import Meter
from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from baton.bus.transport import Record
from baton.protocol.event import Event
from baton.protocol.headers import Headers
from baton.protocol.registry import EventRegistry

if TYPE_CHECKING:
    from baton.bus import Bus

__all__ = ["CONTENT_TYPE", "MetricSource", "MetricsMiddleware", "ServiceMetrics"]

log = logging.getLogger("baton.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_KNOWN = EventRegistry()
_SOURCE_TIMEOUT = 5.0
"""Seconds a scrape-time source has before it is left out of the scrape."""

MetricSource = Callable[[], Awaitable[Iterable[Metric]]]
"""Reads metric families when a scrape comes (:meth:`ServiceMetrics.add_source`)."""


def _type_label(event_type: str) -> str:
    # Custom event types are unbounded; keep label cardinality to the registry's types.
    return event_type if _KNOWN.is_registered(event_type) else "custom"


class _Otel:
    """OTel twins of the Prometheus instruments."""

    def __init__(self, meter: Meter) -> None:
        self.handled = meter.create_counter("baton.events.handled", description="Events handled")
        self.failed = meter.create_counter(
            "baton.handler.failures", description="Handler runs that raised"
        )
        self.handler = meter.create_histogram(
            "baton.handler.duration", unit="s", description="Time in handlers"
        )
        self.latency = meter.create_histogram(
            "baton.event.latency", unit="s", description="From event creation to handled"
        )
        self.published = meter.create_counter(
            "baton.events.published", description="Events published"
        )


class ServiceMetrics:
    """One service's registry and instruments (and their OTel twins, given a meter)."""

    def __init__(self, *, service: str, meter: Meter | None = None) -> None:
        self.service = service
        self.otel = _Otel(meter) if meter is not None else None
        self.registry = CollectorRegistry(auto_describe=True)
        # The process's own figures (each collector registers itself where it can read them).
        ProcessCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self._scrape_time = _ScrapeTime()
        self.registry.register(self._scrape_time)
        labels = ["service", "group", "event_type"]
        self.handled = Counter(
            "baton_events_handled", "Events handled", labels, registry=self.registry
        )
        self.failed = Counter(
            "baton_handler_failures", "Handler runs that raised", labels, registry=self.registry
        )
        self.handler_seconds = Histogram(
            "baton_handler_seconds",
            "Time in handlers",
            labels,
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.latency_seconds = Histogram(
            "baton_event_latency_seconds",
            "From event creation to handled",
            ["service", "group"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.published = Counter(
            "baton_events_published",
            "Events published",
            ["service", "topic"],
            registry=self.registry,
        )

    def watch_bus(self, bus: Bus) -> None:
        """Also export the bus's own counters (retries, dead letters...) and its consumer
        groups' lag at scrape time."""
        self.registry.register(_BusCollector(bus, self.service))
        service = self.service

        async def lag() -> list[Metric]:
            family = GaugeMetricFamily(
                "baton_consumer_lag",
                "Records not yet handled and committed, per consumer group and partition held",
                labels=["service", "group", "topic", "partition"],
            )
            for group, behind in (await bus.consumer_lag()).items():
                for tp, records in sorted(behind.items()):
                    family.add_metric([service, group, tp.topic, str(tp.partition)], records)
            return [family]

        self.add_source(lag)

    def add_source(self, source: MetricSource) -> None:
        """Serve the families ``source`` reads, read anew for every :meth:`scrape`."""
        self._scrape_time.sources.append(source)

    def render(self) -> bytes:
        """The registry in Prometheus text format, with the sources as last read."""
        return generate_latest(self.registry)

    async def scrape(self) -> bytes:
        """Read every source, then :meth:`render` (what ``/metrics`` serves)."""
        await self._scrape_time.refresh()
        return self.render()


class _ScrapeTime(Collector):
    """Families the sources read just before a scrape; ``collect`` serves the last read."""

    def __init__(self) -> None:
        self.sources: list[MetricSource] = []
        self._families: list[Metric] = []

    async def refresh(self) -> None:
        read = await asyncio.gather(*(_read(source) for source in self.sources))
        self._families = [family for families in read for family in families]

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


async def _read(source: MetricSource) -> list[Metric]:
    try:
        async with asyncio.timeout(_SOURCE_TIMEOUT):
            return list(await source())
    except Exception as exc:  # the other sources and the registry are still served
        name = getattr(source, "__qualname__", repr(source))
        log.warning("metrics from %s left out of this scrape: %r", name, exc)
        return []


class _BusCollector(Collector):
    def __init__(self, bus: Bus, service: str) -> None:
        self._bus = bus
        self._service = service

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "baton_bus",
            "Bus counters (retried, dead_lettered, rejected, duplicate_requests, ...)",
            labels=["service", "kind"],
        )
        for kind, value in sorted(self._bus.stats.items()):
            family.add_metric([self._service, kind], value)
        yield family


class MetricsMiddleware:
    """Bus middleware feeding :class:`ServiceMetrics`."""

    def __init__(self, metrics: ServiceMetrics) -> None:
        self._m = metrics
        # Bounded: groups times registered event types (others are "custom").
        self._children: dict[tuple[str, str], _Children] = {}

    def publish_scope(
        self, *, topic: str, event: Event, headers: Headers
    ) -> AbstractContextManager[None]:
        self._m.published.labels(self._m.service, topic).inc()
        if self._m.otel is not None:
            self._m.otel.published.add(1, {"service": self._m.service, "topic": topic})
        return _NOTHING

    def consume_scope(
        self, *, record: Record, event: Event | None, group: str
    ) -> AbstractContextManager[None]:
        kind = _type_label(event.event_type) if event is not None else "undecodable"
        children = self._children.get((group, kind))
        if children is None:
            children = self._children[(group, kind)] = _Children(self._m, group, kind)
        return _ConsumeScope(children, event)


class _Children:
    """One group's and event type's instruments, their labels resolved once: every
    handled record of every group goes through here."""

    __slots__ = ("attrs", "failed", "handled", "handler_seconds", "latency", "otel", "typed")

    def __init__(self, m: ServiceMetrics, group: str, kind: str) -> None:
        self.handled = m.handled.labels(m.service, group, kind)
        self.failed = m.failed.labels(m.service, group, kind)
        self.handler_seconds = m.handler_seconds.labels(m.service, group, kind)
        self.latency = m.latency_seconds.labels(m.service, group)
        self.otel = m.otel
        self.attrs = {"service": m.service, "group": group}
        self.typed = {**self.attrs, "event_type": kind}


class _ConsumeScope:
    """Times one record's handling and counts it (handled, or failed when it raises)."""

    __slots__ = ("_children", "_event", "_start")

    def __init__(self, children: _Children, event: Event | None) -> None:
        self._children = children
        self._event = event
        self._start = 0.0

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        c, otel = self._children, self._children.otel
        spent = time.perf_counter() - self._start
        c.handler_seconds.observe(spent)
        if otel is not None:
            otel.handler.record(spent, c.typed)
        if kind is not None:
            if issubclass(kind, Exception):
                c.failed.inc()
                if otel is not None:
                    otel.failed.add(1, c.typed)
            return
        c.handled.inc()
        if self._event is not None:
            lag = max((datetime.now(UTC) - self._event.timestamp).total_seconds(), 0.0)
            c.latency.observe(lag)
            if otel is not None:
                otel.latency.record(lag, c.attrs)
        if otel is not None:
            otel.handled.add(1, c.typed)


_NOTHING = nullcontext()
