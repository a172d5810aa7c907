"""The performance monitor as a service: metrics, thresholds, health registry, saturation."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from fastapi import APIRouter, HTTPException

from baton.errors import HandlerError
from baton.protocol.event import Event
from baton.runtime import Loop, Service
from baton_monitor.catchup import CatchUp
from baton_monitor.config import MonitorConfig
from baton_monitor.handlers import MonitorModel
from baton_monitor.store import WorkflowStore

if TYPE_CHECKING:
    from baton_monitor.streams import MonitorStreams

__all__ = ["MonitorService"]

STREAMS_AFTER_S = 5.0
"""Seconds between the monitor consuming again and its faust windows starting."""


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
        self.model = MonitorModel(
            bus=self.bus, config=self.config, store=WorkflowStore(db=self.db, owner=self.group)
        )
        # Before consuming: records below this point are the backlog of a restart.
        self.catch_up = CatchUp(group=self.group, topic=self.bus.topics.events)
        await self.catch_up.mark(self.bus.transport)
        self.bus.middleware.insert(0, self.catch_up)
        # Metrics are about now: a new monitor group starts at the end of the topic.
        self._consuming = asyncio.Event()
        self.bus.subscribe_batches(
            "#", self._observe, group=self.group, name="metrics", from_beginning=False
        )
        self.bus.serve("monitor", self.answer)

    streams: MonitorStreams | None = None

    async def _observe(self, events: list[Event]) -> None:
        self._consuming.set()
        await self.model.on_events([self.catch_up.observed(e) for e in events])

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
        await self.streams.start()
        await asyncio.Event().wait()

    def _windows(self) -> dict[str, Any]:
        """The faust windows' snapshot; ``started: false`` until they run."""
        if self.streams is None:
            return {
                "started": False,
                "recovered": False,
                "partitions": [],
                "tumbling": {"counts": {}},
                "hopping": {"counts": {}},
                "percentiles": {},
            }
        snapshot: dict[str, Any] = self.streams.snapshot()
        return snapshot

    async def stopping(self) -> None:
        if self.streams is not None:
            await self.streams.stop()

    async def answer(self, request: Event) -> dict[str, Any]:
        """Kafka requests for the CLI: MONITOR_REPORT (optionally one workflow), MONITOR_HEALTH."""
        if request.event_type == "MONITOR_REPORT":
            workflow_id = request.data.get("workflow_id")
            try:
                return await self._report(workflow_id)
            except KeyError:
                raise HandlerError(
                    f"no metrics for workflow {workflow_id}",
                    retriable=False,
                    workflow_id=workflow_id,
                ) from None
        if request.event_type == "MONITOR_HEALTH":
            return self.model.health()
        if request.event_type == "MONITOR_WINDOWS":
            return self._windows()
        raise HandlerError(
            f"unknown monitor request {request.event_type}; known: MONITOR_REPORT, MONITOR_HEALTH",
            retriable=False,
        )

    async def _report(self, workflow_id: str | None) -> dict[str, Any]:
        """One workflow's whole-life figures (kept across restarts in PostgreSQL), or the
        system-wide report with the faust window's percentiles, which a restart recovers
        from the changelog."""
        if workflow_id is not None:
            return await self.model.workflow_report(workflow_id)
        report = self.model.report()
        if self.streams is None:
            report["window_percentiles"] = {"recovered": False}
        else:
            snapshot = self._windows()
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
            return self.model.health()

        @router.get("/api/windows", tags=["metrics"])
        async def get_windows() -> dict[str, Any]:
            """Event counts, errors per agent and latency / duration percentiles of the current
            tumbling and hopping windows (faust tables, restored from their changelogs after
            a restart)."""
            return self._windows()

        @router.get("/api/saturation", tags=["health"])
        async def get_saturation() -> dict[str, Any]:
            return self.model.saturation.model_dump(mode="json")

        return router

    def loops(self) -> dict[str, Loop]:
        return {
            "evaluate": self.model.evaluate_loop,
            "lag": self.model.lag_loop,
            "retention": self.model.retention_loop,
            "streams": self._run_streams,
        }

    def health_details(self) -> dict[str, Any]:
        return {
            "components": len(self.model.registry.components),
            "alerts_sent": self.model.alerts_sent,
            "saturated": self.model.saturation.saturated,
        }
