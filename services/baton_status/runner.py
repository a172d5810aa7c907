"""The status service: read model, query API, live stream, dashboard.

What a replica owns: for **writing**, the events of its share of the events topic's
partitions (the consumer group splits them; a partition moving to another replica is safe:
row locks and versions, :mod:`baton_status.handlers`); for **reading**, everything — every
replica answers for every workflow from PostgreSQL and streams every change
(:mod:`baton_status.changes`). Memory holds copies of the rows in use, bounded
(:mod:`baton_status.memory`); nothing is loaded at start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

from fastapi import APIRouter

from baton.errors import HandlerError
from baton.protocol.commands import (
    CommandReply,
    CommandRequest,
    StatusCommand,
    parse_request,
    reply_data,
)
from baton.protocol.commands.replies import (
    ListStatusReply,
    SystemOverviewReply,
    WorkflowStatusReply,
)
from baton.protocol.commands.requests import WorkflowStatusRequest
from baton.protocol.event import Event
from baton.runtime import READ_MODEL_GATHER_MS, GroupCommit, Loop, Service
from baton_status.api import build_router
from baton_status.changes import Changes, channel
from baton_status.config import StatusConfig
from baton_status.handlers import ReadModel
from baton_status.listing import ListQuery
from baton_status.maintenance import maintain
from baton_status.memory import Memory
from baton_status.reader import Reader
from baton_status.store import StatusStore
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
        self.memory = Memory(views=self.config.view_cache)
        self.store = StatusStore(channel=channel(self.ctx.settings.topic_prefix))
        self.stream = Broadcaster(max_clients=self.config.stream_clients)
        self.model = ReadModel(db=self.db, store=self.store, memory=self.memory)
        self.reader = Reader(db=self.db, memory=self.memory)
        self.changes = Changes(
            dsn=self.db.dsn, channel=self.store.channel, reader=self.reader, stream=self.stream
        )
        # The partitions of one fetch are applied together: a transaction per fetch.
        self.bus.subscribe_batches(
            "#",
            GroupCommit(self.model.on_events),
            group=self.group,
            name="read-model",
            gather_ms=READ_MODEL_GATHER_MS,
        )
        self.bus.serve("status", self.answer)

    async def started(self) -> None:
        # Before ready: a stream opened as soon as the replica is ready hears every change.
        await self.changes.connect()

    async def stopping(self) -> None:
        self.stream.close()  # live streams end, so the HTTP server stops at once
        await self.changes.stop()

    def commands(self) -> dict[StatusCommand, Callable[[Event, Any], Awaitable[CommandReply]]]:
        """Command → handler: each takes the request and its data's model."""
        return {
            StatusCommand.WORKFLOW: self._workflow,
            StatusCommand.OVERVIEW: self._overview,
            StatusCommand.LIST: self._list,
        }

    async def answer(self, request: Event) -> dict[str, Any]:
        """Kafka requests for the CLI: one workflow's status, the overview, a listing."""
        command, data = parse_request(StatusCommand, service="status", request=request)
        return reply_data(await self.commands()[command](request, data))

    async def _workflow(self, request: Event, data: WorkflowStatusRequest) -> WorkflowStatusReply:
        found = await self.reader.detail(
            request.workflow_id,
            detailed=data.detailed,
            include_dependencies=data.include_dependencies,
        )
        if found is None:
            raise HandlerError(
                f"no workflow {request.workflow_id}",
                retriable=False,
                workflow_id=request.workflow_id,
            )
        return WorkflowStatusReply.model_validate(found.model_dump(mode="json"))

    async def _overview(self, request: Event, data: CommandRequest) -> SystemOverviewReply:
        return SystemOverviewReply.model_validate(
            (await self.reader.overview()).model_dump(mode="json")
        )

    async def _list(self, request: Event, data: CommandRequest) -> ListStatusReply:
        query = ListQuery.model_validate(request.data)  # refused as bad input when wrong
        query = query.model_copy(update={"limit": min(query.limit, self.config.list_limit)})
        return ListStatusReply.model_validate(await self.reader.page_data(query))

    def router(self) -> APIRouter:
        return build_router(
            reader=self.reader, stream=self.stream, list_limit=self.config.list_limit
        )

    def loops(self) -> dict[str, Loop]:
        return {
            "overview": self._overview_loop,
            "changes": self.changes.run,
            "maintenance": lambda: maintain(
                db=self.db,
                store=self.store,
                retention=self.config.retention,
                batch=self.config.retention_batch,
                interval=self.config.retention_interval,
            ),
        }

    async def _overview_loop(self) -> None:
        """Send the overview to the live stream every interval (when watched)."""
        while True:
            await asyncio.sleep(self.config.overview_interval)
            if self.stream.clients:
                view = await self.reader.overview()
                self.stream.publish("overview", view.model_dump(mode="json"))

    def health_details(self) -> dict[str, Any]:
        return {
            "views_in_memory": len(self.memory.views),
            "stream_clients": self.stream.clients,
            "listening": self.changes.listening,
        }
