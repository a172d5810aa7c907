"""workflow-recovery as a service: wires handlers to the shared runtime."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

from baton.protocol.commands import (
    CommandReply,
    CommandRequest,
    RecoveryCommand,
    parse_request,
    reply_data,
)
from baton.protocol.commands.replies import (
    AnalyzeFailureReply,
    ListCheckpointsReply,
    RestoreReply,
)
from baton.protocol.commands.requests import RestoreRequest
from baton.protocol.event import Event
from baton.runtime import GroupCommit, Loop, PruneRule, RetentionConfig, Service
from baton_recovery.config import RecoveryConfig
from baton_recovery.handlers import RecoveryHandlers
from baton_recovery.retention import recovery_rules

__all__ = ["GATHER_MS", "RecoveryService"]

GATHER_MS = 250
"""How long the broker may gather events before it answers recovery's fetch
(:meth:`Bus.subscribe_batches` ``gather_ms``): a quarter of a second later at most, far
below any liveness timeout or backoff, for a few batches a second instead of one per event.
It is also how often the group asks the broker with nothing to read: at a tenth of a second
those empty fetches cost the service 0.007 of a core, more than everything else it does idle."""


class RecoveryService(Service):
    """workflow-recovery: checkpoints, failure analysis, agent timeouts, recovery actions."""

    name: ClassVar[str] = "recovery"
    capabilities = (
        "checkpoints",
        "differential_checkpoints",
        "error_reports",
        "agent_timeouts",
        "retry_backoff",
        "circuit_breakers",
        "checkpoint_restore",
    )
    dependencies = ("coordination-hub",)
    subscriptions = (
        "checkpoint.*.requested",
        "recovery.*.requested",
        "workflow.*.failed",
        "workflow.*.completed",
        "workflow.*.cancelled",
        "task.#",
        "agent.*.heartbeat",
    )
    publications = (
        "checkpoint.*.created",
        "error.*.reported",
        "agent.*.timeout",
        "task.*.timeout",
    )
    migrations = Path(__file__).parent / "migrations"

    async def setup(self) -> None:
        self.config = RecoveryConfig.from_env(self.ctx.env)
        self.handlers = RecoveryHandlers(
            bus=self.bus, db=self.db, outbox=self.outbox, config=self.config, group=self.group
        )
        self.bus.serve("recovery", self.answer)
        # One batch subscription for all it reads, so that a partition's events come as one
        # list (each of several would get runs of one event between the others'), and the
        # lists of one fetch joined: a transaction per fetch. Nothing recovery reads is on a
        # workflow's path (the hub waits for no checkpoint; liveness counts in seconds), so
        # the broker gathers events a little before answering a fetch.
        self.bus.subscribe_batches(
            "#",
            GroupCommit(self.handlers.on_events),
            group=self.group,
            name="on_events@#",
            gather_ms=GATHER_MS,
        )

    async def started(self) -> None:
        await self.handlers.load()

    def commands(self) -> dict[RecoveryCommand, Callable[[Event, Any], Awaitable[CommandReply]]]:
        """Command → handler: each takes the request and its data's model."""
        return {
            RecoveryCommand.LIST_CHECKPOINTS: self._checkpoints,
            RecoveryCommand.ANALYZE_FAILURE: self._analysis,
            RecoveryCommand.RESTORE: self._restore,
        }

    async def answer(self, request: Event) -> dict[str, Any]:
        """CLI requests, all for one workflow: its checkpoints, its failure analysis, a
        restore."""
        command, data = parse_request(RecoveryCommand, service="recovery", request=request)
        return reply_data(await self.commands()[command](request, data))

    async def _checkpoints(self, request: Event, data: CommandRequest) -> ListCheckpointsReply:
        wid = request.workflow_id
        async with self.db.connection() as conn:
            rows = await self.handlers.store.checkpoints(conn, wid)
        return ListCheckpointsReply(workflow_id=wid, checkpoints=[r.to_dict() for r in rows])

    async def _analysis(self, request: Event, data: CommandRequest) -> AnalyzeFailureReply:
        wid, store = request.workflow_id, self.handlers.store
        async with self.db.connection() as conn:
            reports = await store.reports(conn, wid)
            pending = await store.pending_actions(conn, wid)
            latest = await store.latest(conn, wid)
        return AnalyzeFailureReply(
            workflow_id=wid,
            reports=reports,
            pending_actions=pending,
            latest_checkpoint=None if latest is None else latest.to_dict(),
            open_breakers=await self.handlers.watchdog.open_breakers(now=request.timestamp),
        )

    async def _restore(self, request: Event, data: RestoreRequest) -> RestoreReply:
        # A request id of its own (derived, so a retried CLI request restores once):
        # the hub's reply must not answer the CLI's request.
        return await self.handlers.actions.restore(
            workflow_id=request.workflow_id,
            checkpoint_id=data.checkpoint_id,
            request_id=f"{request.request_id}.restore" if request.request_id else None,
        )

    def loops(self) -> dict[str, Loop]:
        return {"watchdog": self.handlers.watchdog_loop}

    def retention_rules(self, retention: RetentionConfig) -> list[PruneRule]:
        return recovery_rules(retention)

    def health_details(self) -> dict[str, Any]:
        return self.handlers.watchdog.health()
