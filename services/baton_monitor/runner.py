"""The performance monitor as a service: metrics, thresholds, health registry, saturation.

Replicas (what each owns): the partitions of the events topic the consumer group gives it —
it counts their events into PostgreSQL, one transaction per fetch — and, in the faust
app's group, the partitions whose windows it keeps and publishes. Nothing else: reports,
windows, component health and saturation are read from what every replica wrote, and
thresholds, health changes and saturation are evaluated by whichever replica takes the
turn (:mod:`baton_monitor.evaluation`). See services/README.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from fastapi import APIRouter, HTTPException
from prometheus_client.core import Metric

from baton.bus import StartAt
from baton.errors import BatonError, HandlerError
from baton.protocol.commands import (
    CommandReply,
    CommandRequest,
    MonitorCommand,
    parse_request,
    reply_data,
)
from baton.protocol.commands.replies import (
    MonitorHealthReply,
    MonitorReportReply,
    MonitorWindowsReply,
)
from baton.protocol.commands.requests import MonitorReportRequest
from baton.protocol.event import Event
from baton.runtime import READ_MODEL_GATHER_MS, GroupCommit, Loop, Service
from baton_monitor import gauges, streamviews
from baton_monitor.catchup import CatchUp
from baton_monitor.config import MonitorConfig
from baton_monitor.handlers import MonitorModel
from baton_monitor.store import FigureStore

if TYPE_CHECKING:
    from baton_monitor.streams import MonitorStreams

__all__ = ["MonitorService"]

STREAMS_AFTER_S = 5.0
"""Seconds between the monitor consuming again and its faust windows starting."""
STREAMS_STOP_S = 10.0
"""Seconds given to faust windows that failed to start to let go of Kafka."""

log = logging.getLogger("baton.monitor")


class MonitorService(Service):
    """performance-monitor."""

    name: ClassVar[str] = "monitor"
    capabilities = (
        "windowed_metrics",
        "percentiles",
        "thresholds",
        "component_health",
        "saturation_feedback",
        "consumer_lag",
    )
    subscriptions = ("#",)
    publications = (
        "system.*.threshold",
        "agent.*.performance_alert",
        "resource.*.threshold",
        "component.*.health_changed",
        "system.*.saturation",
    )
    migrations = Path(__file__).parent / "migrations"

    async def setup(self) -> None:
        self.config = MonitorConfig.from_env(self.ctx.env)
        settings = self.ctx.settings
        # Written with what this replica counts: another name there means a takeover.
        holder = (
            settings.instance_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        )
        # Before consuming: records below this point are the backlog of a restart.
        self.catch_up = CatchUp(group=self.group, topic=self.bus.topics.events)
        await self.catch_up.mark(self.bus.transport)
        self.bus.middleware.insert(0, self.catch_up)
        self.model = MonitorModel(
            bus=self.bus,
            db=self.db,
            outbox=self.outbox,
            config=self.config,
            group=self.group,
            holder=holder,
            catch_up=self.catch_up,
        )
        self.figures = FigureStore(db=self.db, owner=self.group, holder=holder)
        # Metrics are about now: a new monitor group starts at the end of the topic. The
        # partitions of one fetch are counted together: a transaction per fetch.
        self._consuming = asyncio.Event()
        self.bus.subscribe_batches(
            "#",
            GroupCommit(self._observe),
            group=self.group,
            name="metrics",
            start_at=StartAt.LATEST,
            gather_ms=READ_MODEL_GATHER_MS,
        )
        self.bus.serve("monitor", self.answer)

    streams: MonitorStreams | None = None

    async def _observe(self, events: list[Event]) -> None:
        self._consuming.set()
        await self.model.on_events(events)

    async def _run_streams(self) -> None:
        """Start the faust windows and keep them running (supervised like any loop).

        Not awaited before /ready: after a kill -9 the old faust member holds its partitions
        until its session times out, and metrics, thresholds and health need not wait for
        the windows (``/api/windows`` says ``recovered: false`` meanwhile). They start once
        the monitor consumes again (or after 15 s): faust's start-up is CPU-heavy on the same
        event loop, and metrics, thresholds and health come first.
        """
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._consuming.wait(), 15)
            # A few seconds of metrics and health first: on a busy machine faust's start
            # would otherwise hold the event loop just as the monitor resumes.
            await asyncio.sleep(STREAMS_AFTER_S)
        if self.streams is None:
            # Imported here, not before /ready (~1.3 s of CPU), and in a thread so that the
            # event loop keeps answering and consuming meanwhile.
            await asyncio.to_thread(importlib.import_module, "baton_monitor.streams")
            from baton_monitor.streams import MonitorStreams

            settings = self.ctx.settings
            self.streams = MonitorStreams(
                bootstrap=settings.bootstrap,
                topic_prefix=settings.topic_prefix,
                app_id="monitor-streams",
                data_dir=settings.home / "monitor" / settings.topic_prefix,
                tumbling_s=self.config.tumbling,
                hopping_size_s=self.config.hopping_size,
                hopping_step_s=self.config.hopping_hop,
                security=settings.kafka_security,
            )
        try:
            await self.streams.start()
        except BaseException:
            # Single-use: the supervisor's next attempt (Kafka back) builds a new one.
            streams, self.streams = self.streams, None
            with contextlib.suppress(Exception):
                async with asyncio.timeout(STREAMS_STOP_S):
                    await streams.stop()
            raise
        while True:  # publish this replica's partitions for every replica to sum
            try:
                await self.figures.publish(self.streams.figures())
            except BatonError as exc:  # PostgreSQL may be restarting; try again later
                log.warning("could not publish the faust windows: %s", exc)
            await asyncio.sleep(self.config.evaluate_interval)

    async def _windows(self) -> dict[str, Any]:
        """The faust windows of every partition, summed, as their owners last published
        them; ``recovered`` once every partition's are there."""
        figures = await self.figures.load()
        streams = self.streams
        return {
            "topic": self.bus.topics.events,
            "started": streams is not None,
            "recovered": set(figures) >= set(self.catch_up.partitions),
            "partitions": sorted(figures),
            "owned": [] if streams is None else sorted(streams.owned()),
            "processed": 0 if streams is None else streams.processed,
            **streamviews.merge(
                figures,
                at=time.time(),
                tumbling_s=self.config.tumbling,
                hopping_size_s=self.config.hopping_size,
                hopping_step_s=self.config.hopping_hop,
            ),
        }

    async def stopping(self) -> None:
        if self.streams is not None:
            await self.streams.stop()

    def commands(self) -> dict[MonitorCommand, Callable[[Event, Any], Awaitable[CommandReply]]]:
        """Command → handler: each takes the request and its data's model."""
        return {
            MonitorCommand.REPORT: self._report_request,
            MonitorCommand.HEALTH: self._health,
            MonitorCommand.WINDOWS: self._windows_request,
        }

    async def answer(self, request: Event) -> dict[str, Any]:
        """Kafka requests for the CLI: the report (optionally of one workflow), component
        health, the current windows."""
        command, data = parse_request(MonitorCommand, service="monitor", request=request)
        return reply_data(await self.commands()[command](request, data))

    async def _report_request(
        self, request: Event, data: MonitorReportRequest
    ) -> MonitorReportReply:
        workflow_id = data.workflow_id
        try:
            return MonitorReportReply.model_validate(await self._report(workflow_id))
        except KeyError:
            raise HandlerError(
                f"no metrics for workflow {workflow_id}",
                retriable=False,
                workflow_id=workflow_id,
            ) from None

    async def _health(self, request: Event, data: CommandRequest) -> MonitorHealthReply:
        return MonitorHealthReply.model_validate(await self.model.health())

    async def _windows_request(self, request: Event, data: CommandRequest) -> MonitorWindowsReply:
        return MonitorWindowsReply.model_validate(await self._windows())

    async def _report(self, workflow_id: str | None) -> dict[str, Any]:
        """One workflow's whole-life figures (kept across restarts in PostgreSQL), or the
        system-wide report with the faust window's percentiles, which a restart recovers
        from the changelog."""
        if workflow_id is not None:
            return await self.model.workflow_report(workflow_id)
        report = await self.model.report()
        snapshot = await self._windows()
        report["window_percentiles"] = {
            "start": snapshot["tumbling"]["start"],
            "end": snapshot["tumbling"]["end"],
            "recovered": snapshot["recovered"],
            **snapshot["percentiles"],
        }
        return report

    def router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/api/report", tags=["metrics"])
        async def get_report(workflow: str | None = None) -> dict[str, Any]:
            """Windowed throughput, latency and duration percentiles, error rates, lag."""
            try:
                return await self._report(workflow)
            except KeyError:
                raise HTTPException(404, detail=f"no metrics for workflow {workflow!r}") from None

        @router.get("/api/components", tags=["health"])
        async def get_components() -> dict[str, Any]:
            """Health of every component heard of (healthy|degraded|unhealthy|unknown)."""
            return await self.model.health()

        @router.get("/api/windows", tags=["metrics"])
        async def get_windows() -> dict[str, Any]:
            """Event counts, errors per agent and latency / duration percentiles of the current
            tumbling and hopping windows of every partition (faust tables, restored from
            their changelogs after a restart, published by each partition's owner)."""
            return await self._windows()

        @router.get("/api/saturation", tags=["health"])
        async def get_saturation() -> dict[str, Any]:
            """Whether the system is saturated, why, and since when."""
            return await self.model.saturation()

        return router

    def loops(self) -> dict[str, Loop]:
        return {
            "evaluate": self.model.evaluate_loop,
            "lag": self.model.lag_loop,
            "retention": self.model.retention_loop,
            "streams": self._run_streams,
        }

    async def metric_families(self) -> list[Metric]:
        """The current percentiles, throughput, error rates and lags as gauges
        (:mod:`baton_monitor.gauges`)."""
        return gauges.families(await self.model.readings())

    def health_details(self) -> dict[str, Any]:
        return {
            "components": self.model.known_components,
            "alerts_sent": self.model.alerts_sent,
            "evaluations": self.model.turns,
            "saturated": self.model.saturated,
        }
