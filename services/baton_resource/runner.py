"""The resource manager as a service: wires handlers to the shared runtime."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import ClassVar

from baton.protocol.messages import RESOURCE_STATE_EVENT, RESOURCE_STATE_KEY
from baton.protocol.routing import routing_key
from baton.runtime import GroupCommit, Loop, PruneRule, RetentionConfig, Service
from baton_resource.config import ResourceConfig
from baton_resource.handlers import ResourceHandlers
from baton_resource.retention import resource_rules

__all__ = ["RELEASE_GATHER_MS", "ResourceService"]

RELEASE_GATHER_MS = 250
"""How long the broker may gather events for the resource manager's group before answering
its fetch: a workflow's end frees its agents at most this much later."""


class ResourceService(Service):
    """resource-manager: pools, allocations, priority queue, leases, thresholds."""

    name: ClassVar[str] = "resource"
    capabilities = (
        "resource_allocation",
        "conflict_detection",
        "priority_queue",
        "leases",
        "threshold_events",
    )
    dependencies = ("coordination-hub",)
    subscriptions = ("workflow.*.completed", "workflow.*.failed", "workflow.*.cancelled")
    publications = (
        "resource.*.allocated",
        "resource.*.deallocated",
        "resource.*.conflict",
        "resource.*.threshold",
        routing_key(RESOURCE_STATE_EVENT, RESOURCE_STATE_KEY),
    )
    migrations = Path(__file__).parent / "migrations"

    async def setup(self) -> None:
        self.config = ResourceConfig.from_env(self.ctx.env)
        # The allocator remembers answers as long as retention keeps their rows.
        answers = RetentionConfig.from_env(self.ctx.env).answers
        self.handlers = ResourceHandlers(
            bus=self.bus,
            db=self.db,
            outbox=self.outbox,
            config=self.config,
            remember=timedelta(seconds=answers),
        )
        self.answer_durably(self.handlers.command)
        # The group reads every event to find each workflow's end: gathering them (a fetch
        # answered every RELEASE_GATHER_MS at most, not one per event) costs the broker and
        # this process a fraction of the CPU, and a release at most that much later.
        self.subscribe_each(self.handlers.subscriptions(), gather_ms=RELEASE_GATHER_MS)
        # Ends of workflows that arrive together (the partitions of a fetch too): one
        # transaction, one lock of the pools, one state sync.
        finished = GroupCommit(self.handlers.on_workflows_finished)
        for pattern in self.handlers.FINISHED:
            self.bus.subscribe_batches(
                pattern,
                finished,
                group=self.group,
                name=f"on_workflow_finished@{pattern}",  # as before: queued retries find it
                gather_ms=RELEASE_GATHER_MS,
            )

    async def started(self) -> None:
        await self.handlers.start()

    def loops(self) -> dict[str, Loop]:
        return {"lease_expiry": self.handlers.expiry_loop}

    def retention_rules(self, retention: RetentionConfig) -> list[PruneRule]:
        return resource_rules(retention)
