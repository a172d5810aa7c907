"""The status service: read model, query API, live stream, dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from fastapi import APIRouter

from baton.errors import BadInputError, HandlerError
from baton.protocol.event import Event
from baton.runtime import Loop, Service
from baton_status.api import build_router
from baton_status.config import StatusConfig
from baton_status.handlers import ReadModel
from baton_status.stream import Broadcaster

__all__ = ["StatusService"]


class StatusService(Service):
    """workflow-status + progress-aggregator."""

    name: ClassVar[str] = "status"
    capabilities = (
        "read_model",
        "progress_aggregation",
        "critical_path",
        "completion_estimates",
        "bottleneck_detection",
        "live_stream",
        "dashboard",
    )
    dependencies = ("coordination-hub", "resource-manager")
    subscriptions = ("#",)
    migrations = Path(__file__).parent / "migrations"

    async def setup(self) -> None:
        self.config = StatusConfig.from_env(self.ctx.env)
        self.model = ReadModel(db=self.db, stream=Broadcaster())
        self.bus.subscribe("#", self.model.on_event, group=self.group, name="read-model")
        self.bus.serve("status", self.answer)

    async def started(self) -> None:
        await self.model.load()

    async def stopping(self) -> None:
        self.model.stream.close()  # live streams end, so the HTTP server stops at once

    async def answer(self, request: Event) -> dict[str, Any]:
        """Kafka requests for the CLI: STATUS of one workflow, SYSTEM_OVERVIEW, LIST."""
        data = request.data
        if request.event_type == "WORKFLOW_STATUS":
            if request.workflow_id not in self.model.views:
                raise HandlerError(
                    f"no workflow {request.workflow_id}",
                    retriable=False,
                    workflow_id=request.workflow_id,
                )
            return self.model.detail(
                request.workflow_id,
                detailed=bool(data.get("detailed", True)),
                include_dependencies=bool(data.get("include_dependencies", True)),
            ).model_dump(mode="json")
        if request.event_type == "SYSTEM_OVERVIEW":
            return self.model.overview().model_dump(mode="json")
        if request.event_type == "LIST_STATUS":
            limit = data.get("limit", 200)
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise BadInputError(
                    f"data.limit must be a positive integer, not {limit!r}", field="data.limit"
                )
            return {
                "workflows": [
                    s.model_dump(mode="json")
                    for s in self.model.summaries(status=data.get("status"), limit=limit)
                ]
            }
        raise HandlerError(
            f"unknown status request {request.event_type}; known: "
            "WORKFLOW_STATUS, SYSTEM_OVERVIEW, LIST_STATUS",
            retriable=False,
        )

    def router(self) -> APIRouter:
        return build_router(model=self.model, list_limit=self.config.list_limit)

    def loops(self) -> dict[str, Loop]:
        return {"overview": lambda: self.model.overview_loop(self.config.overview_interval)}

    def health_details(self) -> dict[str, Any]:
        return {"workflows": len(self.model.views), "stream_clients": self.model.stream.clients}
