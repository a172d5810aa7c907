"""Simulated agents for end-to-end tests: they take TASK_ASSIGNED and report back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from baton.bus import Bus
from baton.protocol.event import Event

__all__ = ["Decision", "EventLog", "SimAgents"]


def client_group(bus: Bus, name: str) -> str:
    """A fresh consumer group where the secured broker lets clients have theirs."""
    return f"{bus.settings.topic_prefix}.client.{name}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, slots=True)
class Decision:
    """What a simulated agent does with an assignment."""

    outcome: str = "complete"  # complete | fail | ignore
    quality_score: float | None = None
    delay: float = 0.0
    reason: str = "simulated failure"


Policy = Callable[[Event], Decision]


@dataclass
class SimAgents:
    """Completes (or fails) every task assigned on the bus, per ``policy``."""

    bus: Bus
    policy: Policy = field(default=lambda e: Decision())
    assignments: list[Event] = field(default_factory=list)

    silent: set[str] = field(default_factory=set)
    """Agents whose heartbeats stop (as if their process died)."""

    beats: dict[str, set[int]] = field(default_factory=dict)
    """Partitions each agent's heartbeats were stored on."""

    group: str = ""
    """Their consumer group (named at :meth:`attach`)."""

    reporting: set[asyncio.Task[None]] = field(default_factory=set)
    """Reports under way (started, waiting out their delay, or publishing)."""

    def attach(self) -> None:
        self.group = client_group(self.bus, "sim-agents")
        self.bus.subscribe("task.*.assigned", self._on_assigned, group=self.group)

    async def idle(self) -> None:
        """Wait until every report under way is published (or failed)."""
        while self.reporting:
            await asyncio.gather(*self.reporting, return_exceptions=True)

    async def heartbeat(self, agents: list[str], *, interval: float) -> None:
        """``AGENT_HEARTBEAT`` for every agent not :attr:`silent`, every ``interval`` s,
        keyed by the agent as :class:`~baton.client.AgentWorker` does.

        The agents beat at once, each as its own process would: one after another, each
        waiting for its acknowledgement, a round of eight took over a second on a busy
        machine, and the last agent's beats came that much late."""

        async def beat(agent: str) -> None:
            ack = await self.bus.publish(
                Event(
                    event_type="AGENT_HEARTBEAT",
                    workflow_id="global",
                    phase=agent,
                    data={"agent_id": agent, "status": "active"},
                    partition_key=agent,
                )
            )
            self.beats.setdefault(agent, set()).add(ack.partition)

        while True:
            await asyncio.gather(*(beat(a) for a in agents if a not in self.silent))
            await asyncio.sleep(interval)

    async def _on_assigned(self, event: Event) -> None:
        self.assignments.append(event)
        decision = self.policy(event)
        if decision.outcome == "ignore":
            return
        report = asyncio.get_running_loop().create_task(self._report(event, decision))
        self.reporting.add(report)
        report.add_done_callback(self.reporting.discard)

    async def _report(self, event: Event, decision: Decision) -> None:
        data = event.data
        base: dict[str, Any] = {
            "task_id": data["task_id"],
            "agent_id": data["agent_id"],
            "fencing_token": data.get("fencing_token"),
        }
        await self.bus.publish(
            Event(
                event_type="TASK_STARTED",
                workflow_id=event.workflow_id,
                phase=event.phase,
                data={**base, "start_time": "now"},
            )
        )
        if decision.delay:
            await asyncio.sleep(decision.delay)
        if decision.outcome == "fail":
            await self.bus.publish(
                Event(
                    event_type="TASK_FAILED",
                    workflow_id=event.workflow_id,
                    phase=event.phase,
                    data={
                        **base,
                        "failure_reason": decision.reason,
                        "retry_count": data.get("attempt", 1) - 1,
                    },
                )
            )
            return
        done: dict[str, Any] = {**base, "duration": "1s", "results": {"ok": True}}
        if decision.quality_score is not None:
            done["quality_score"] = decision.quality_score
        await self.bus.publish(
            Event(
                event_type="TASK_COMPLETED",
                workflow_id=event.workflow_id,
                phase=event.phase,
                data=done,
            )
        )


@dataclass
class EventLog:
    """Every event of the events topic, in the order one consumer saw them."""

    bus: Bus
    events: list[Event] = field(default_factory=list)
    topic: str | None = None
    group: str = ""
    """Its consumer group (named at :meth:`attach`)."""

    def attach(self) -> None:
        self.group = client_group(self.bus, "log")
        self.bus.subscribe("#", self._record, group=self.group, topic=self.topic)

    async def _record(self, event: Event) -> None:
        self.events.append(event)

    def of(self, workflow_id: str, *, prefix: str = "") -> list[str]:
        return [
            e.event_type
            for e in self.events
            if e.workflow_id == workflow_id and e.event_type.startswith(prefix)
        ]

    def last(self, workflow_id: str, event_type: str) -> Event | None:
        found = [
            e for e in self.events if e.workflow_id == workflow_id and e.event_type == event_type
        ]
        return found[-1] if found else None
