"""What an agent's handler receives (:class:`Task`) and may return (:class:`TaskResult`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from baton.client.errors import TaskRejectedError
from baton.protocol.event import Event

__all__ = ["ProgressReporter", "Task", "TaskHandler", "TaskResult", "as_result"]

ProgressReporter = Callable[[float, str | None, str | None], Awaitable[None]]
"""Publishes one progress report: percent, message, eta."""


async def _already() -> None:
    """The start of a task built without a worker: nothing to wait for."""


@dataclass(frozen=True, slots=True)
class TaskResult:
    """A task's outcome with a quality score (a plain mapping of results is enough otherwise).

    Attributes:
        results: JSON-ready results, carried in ``TASK_COMPLETED``.
        quality_score: Checked against the task's quality gate, when it has one.
    """

    results: Mapping[str, Any] = field(default_factory=dict)
    quality_score: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Task:
    """One assignment (``TASK_ASSIGNED``) for this agent.

    Attributes:
        workflow_id: The workflow.
        task_id: The task, unique in its workflow.
        phase: Phase the assignment was made in.
        agent_id: This agent.
        fencing_token: Grows with every (re)assignment; carried in every report, so a
            report from an older assignment is rejected by the hub.
        attempt: 1 for the first assignment of the task, 2 for its first retry...
        role: Role the task asks for.
        description: What to do.
        inputs: Data given with the task.
        context: Shared context of the workflow for this agent (empty when none).
        assignment: The ``TASK_ASSIGNED`` event itself.
    """

    workflow_id: str
    task_id: str
    phase: str
    agent_id: str
    fencing_token: int | None
    attempt: int
    role: str
    description: str
    inputs: Mapping[str, Any]
    context: Mapping[str, Any]
    assignment: Event = field(repr=False)
    _reporter: ProgressReporter = field(repr=False, compare=False)
    _start: Callable[[], Awaitable[None]] = field(default=_already, repr=False, compare=False)

    @classmethod
    def from_assignment(
        cls,
        event: Event,
        *,
        reporter: ProgressReporter,
        started: Callable[[], Awaitable[None]] = _already,
    ) -> Task:
        """The task a ``TASK_ASSIGNED`` event describes; ``started`` waits for its start
        report's acknowledgement (:meth:`started`)."""
        data = event.data
        token = data.get("fencing_token")
        return cls(
            workflow_id=event.workflow_id,
            task_id=str(data["task_id"]),
            phase=event.phase,
            agent_id=str(data["agent_id"]),
            fencing_token=token if isinstance(token, int) else None,
            attempt=int(data.get("attempt") or 1),
            role=str(data.get("role") or event.phase),
            description=str(data.get("description") or ""),
            inputs=dict(data.get("inputs") or {}),
            context=dict(data.get("context") or {}),
            assignment=event,
            _reporter=reporter,
            _start=started,
        )

    async def started(self) -> None:
        """Wait until Kafka has acknowledged this attempt's ``TASK_STARTED``.

        The handler runs as soon as the start report is handed to the producer, not once
        it is acknowledged (its end report follows it in order either way). A handler that
        must not act before the start is durable — it starts something it cannot take back,
        or stops its own process — awaits this first.

        Raises:
            BatonError: the start report could not be published.
        """
        await self._start()

    async def progress(
        self, percent: float, *, message: str | None = None, eta: str | None = None
    ) -> None:
        """Report progress (``PHASE_PROGRESS``), which is also a sign of life to recovery.

        Args:
            percent: 0..100 (clamped).
            message: What is happening, e.g. ``"Step 2/5: parsing"``.
            eta: Expected time left (``"5m"``) or finish time; ``"unknown"`` when omitted.

        A task that has been taken away (cancelled, reassigned) reports nothing.
        """
        await self._reporter(min(100.0, max(0.0, float(percent))), message, eta)


TaskHandler = Callable[[Task], Awaitable[Mapping[str, Any] | TaskResult | None]]
"""An agent's work: takes the :class:`Task`, returns its results (``None``: no results)."""


def as_result(task: Task, value: object) -> TaskResult:
    """What a handler returned, as a :class:`TaskResult` (None: no results).

    Raises:
        TaskRejectedError: it is neither a mapping nor a TaskResult.
    """
    if isinstance(value, TaskResult):
        return value
    if isinstance(value, Mapping):
        return TaskResult(results=value)
    if value is None:
        return TaskResult()
    raise TaskRejectedError(
        f"the handler returned {type(value).__name__}, not a mapping or TaskResult",
        workflow_id=task.workflow_id,
        task_id=task.task_id,
    )
