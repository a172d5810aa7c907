"""A stand-in hub on an in-memory broker: assigns tasks and records what agents report."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from baton.bus import Bus, StartAt, Transport
from baton.config import BatonSettings
from baton.errors import RequestTimeoutError
from baton.lifecycle import Lifecycle
from baton.protocol.event import Event

__all__ = ["FakeHub"]

HUB_COMPONENT = "test-hub"
"""The stand-in hub's name: the source of what it publishes, so it is told from reports."""

DEFAULT_WORKFLOW = "wf_1"


class FakeHub(Lifecycle):
    """Publishes what the hub would (assignments, cancellations) and records every event.

    It keeps no workflow state and enforces nothing: the test says what the hub does, then
    checks how the agent answered. Every method's workflow defaults to ``wf_1``.

    Args:
        settings: The deployment settings the agents under test use (same topic prefix).
        transport: The broker the agents under test share (a ``MemoryTransport``).
    """

    def __init__(self, *, settings: BatonSettings, transport: Transport) -> None:
        self.bus = Bus(
            settings=settings.model_copy(update={"component": HUB_COMPONENT}),
            transport=transport,
        )
        self.bus.subscribe(
            "#", self._record, group=f"{HUB_COMPONENT}-log", start_at=StartAt.EARLIEST
        )
        self.events: list[Event] = []
        """Every event on the events topic, the hub's own included, in arrival order."""
        self._arrived = asyncio.Condition()

    async def start(self) -> None:
        """Start recording. Idempotent."""
        await self.bus.start()

    async def stop(self) -> None:
        """Stop recording. Safe to call twice."""
        await self.bus.stop()

    async def _record(self, event: Event) -> None:
        async with self._arrived:
            self.events.append(event)
            self._arrived.notify_all()

    # -- what the hub says -----------------------------------------------------------------

    async def assign(
        self,
        task_id: str,
        *,
        agent: str = "agent_001",
        token: int = 1,
        workflow: str = DEFAULT_WORKFLOW,
        role: str = "research",
        inputs: Mapping[str, Any] | None = None,
        description: str | None = None,
        attempt: int | None = None,
        phase: str | None = None,
        timestamp: datetime | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> Event:
        """Assign a task to an agent (``TASK_ASSIGNED``), as the hub's scheduler does.

        Args:
            task_id: The task, unique in its workflow.
            agent: The agent it goes to (``agent_001``, the quickstart's, by default).
            token: Its fencing token; assign the same task again with a larger one to
                take it from an earlier assignment.
            workflow: The workflow.
            role: The role it asks for (``research`` by default); also its phase unless
                ``phase`` is given.
            inputs: Data given with the task.
            description: What to do.
            attempt: Which attempt this is (default: the token).
            phase: The phase it is assigned in (default: ``role``).
            timestamp: When it was assigned (default: now); an old one tests
                ``max_assignment_age``.
            headers: Extra headers, such as a W3C ``traceparent``.

        Returns:
            The published assignment.
        """
        data: dict[str, Any] = {
            "task_id": task_id,
            "agent_id": agent,
            "estimated_duration": "1m",
            "fencing_token": token,
            "attempt": token if attempt is None else attempt,
            "role": role,
            "inputs": dict(inputs or {}),
        }
        if description is not None:
            data["description"] = description
        extra: dict[str, Any] = {} if timestamp is None else {"timestamp": timestamp}
        event = Event(
            event_type="TASK_ASSIGNED",
            workflow_id=workflow,
            phase=phase or role,
            data=data,
            extra_headers=tuple(headers),
            **extra,
        )
        await self.bus.publish(event)
        return event

    async def cancel(self, workflow: str = DEFAULT_WORKFLOW, *, reason: str = "user") -> Event:
        """Cancel a workflow (``WORKFLOW_CANCELLED``): its agents' handlers are cancelled.

        Returns:
            The published cancellation.
        """
        return await self.announce(
            "WORKFLOW_CANCELLED",
            {"cancellation_reason": reason, "cleanup_status": {}},
            workflow=workflow,
        )

    async def announce(
        self,
        event_type: str,
        data: Mapping[str, Any] | None = None,
        *,
        workflow: str = DEFAULT_WORKFLOW,
        phase: str = "global",
    ) -> Event:
        """Publish any event in the hub's name: ``TASK_REASSIGNED``, ``TASK_TIMEOUT``,
        ``TASK_RESULT_REJECTED``, another agent's late ``TASK_COMPLETED``...

        Returns:
            The published event.
        """
        event = Event(event_type=event_type, workflow_id=workflow, phase=phase,
                      data=dict(data or {}))  # fmt: skip
        await self.bus.publish(event)
        return event

    # -- what agents said ------------------------------------------------------------------

    def reports(self, event_type: str | None = None, *, task_id: str | None = None) -> list[Event]:
        """Events published by anyone but this hub (the agents), in arrival order.

        Args:
            event_type: Only this type (``TASK_COMPLETED``...); None: every type.
            task_id: Only events about this task.
        """
        return [
            e
            for e in self.events
            if e.source != HUB_COMPONENT
            and (event_type is None or e.event_type == event_type)
            and (task_id is None or e.data.get("task_id") == task_id)
        ]

    async def wait_for(
        self,
        event_type: str,
        *,
        task_id: str | None = None,
        count: int = 1,
        timeout: float = 5.0,
    ) -> Event:
        """Wait until agents have reported ``event_type`` ``count`` times.

        Args:
            event_type: The report to wait for (``TASK_COMPLETED``, ``PHASE_PROGRESS``...).
            task_id: Only reports about this task.
            count: How many such reports.
            timeout: Seconds to wait.

        Returns:
            The ``count``-th such report.

        Raises:
            RequestTimeoutError: fewer arrived within ``timeout``; the message lists the
                task reports that did.
        """

        def enough() -> bool:
            return len(self.reports(event_type, task_id=task_id)) >= count

        try:
            async with asyncio.timeout(timeout), self._arrived:
                await self._arrived.wait_for(enough)
        except TimeoutError:
            # Heartbeats and registrations would drown what matters: the task reports.
            seen = [f"{e.event_type}({e.data['task_id']})" for e in self.reports()
                    if "task_id" in e.data]  # fmt: skip
            raise RequestTimeoutError(
                f"{count} {event_type} report(s)"
                + (f" on task {task_id}" if task_id else "")
                + f" did not arrive within {timeout}s; task reports: {', '.join(seen) or 'none'}"
            ) from None
        return self.reports(event_type, task_id=task_id)[count - 1]
