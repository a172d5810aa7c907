"""The coordination hub as a service: wires handlers to the shared runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from baton.runtime import Loop, PruneRule, RetentionConfig, Service
from baton_hub.config import HubConfig
from baton_hub.handlers import HubHandlers
from baton_hub.retention import hub_rules

__all__ = ["HubService"]


class HubService(Service):
    """coordination-hub: workflow lifecycle, phases, tasks, dependencies, routing rules."""

    name: ClassVar[str] = "hub"
    capabilities = (
        "workflow_lifecycle",
        "phase_transitions",
        "task_assignment",
        "dependency_resolution",
        "routing_rules",
        "signals",
        "shared_context",
    )
    dependencies = ("resource-manager",)
    subscriptions = (
        "resource.*.allocated",
        "task.#",
        "quality.*.score",
        "dependency.*.satisfied",
    )
    publications = (
        "workflow.#",
        "phase.#",
        "task.*.assigned",
        "agent.*.signal",
        "context.*.updated",
    )
    migrations = Path(__file__).parent / "migrations"

    async def setup(self) -> None:
        self.config = HubConfig.from_env(self.ctx.env)
        self.handlers = HubHandlers(
            bus=self.bus, db=self.db, outbox=self.outbox, config=self.config
        )
        self.answer_durably(self.handlers.command, after_commit=self.handlers.after_command)
        self.subscribe_batches(self.handlers.subscriptions())

    def loops(self) -> dict[str, Loop]:
        return {
            "timeouts": self.handlers.timeouts_loop,
            "allocations": self.handlers.allocations_loop,
        }

    def retention_rules(self, retention: RetentionConfig) -> list[PruneRule]:
        return hub_rules(retention)

    def health_details(self) -> dict[str, Any]:
        return {"outbox_published": self.outbox.published}

    async def metric_families(self) -> list[Metric]:
        """How often a batch found its workflows' states in this replica's memory
        (:mod:`baton_hub.statecache`) instead of reading them, and how many it holds."""
        states = self.handlers.states
        batches = CounterMetricFamily(
            "baton_hub_state_cache_batches",
            "Event batches whose states were all held in memory (hit) or read (miss)",
            labels=["result"],
        )
        batches.add_metric(["hit"], states.hits)
        batches.add_metric(["miss"], states.misses)
        held = GaugeMetricFamily(
            "baton_hub_state_cache_entries", "Workflow states held in memory by this replica"
        )
        held.add_metric([], len(states))
        return [batches, held]
