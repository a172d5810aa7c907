"""Test support: one workflow's lifecycle run through the hub and the status projection at once.

:class:`Lifecycle` drives the hub's own state machine (:mod:`baton_hub.workflow`,
:mod:`baton_hub.recovery`) and applies every event the hub publishes — plus the agents'
own reports, published before the hub reads them, the hub's echo of an accepted report left
out as its handlers do (:meth:`baton_hub.handlers.HubHandlers.on_task_event`) — to the
status projection, in the order the events topic holds them. :func:`hub_figures` and
:func:`status_figures` give what both sides say of the workflow, to be compared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from baton.protocol.event import Event
from baton_hub import workflow as wf
from baton_hub.errors import InvalidTransition, UnknownItemError
from baton_hub.events import HubEvent
from baton_hub.recovery import RecoveryAction, recover_task, restore
from baton_hub.state import TaskState, WorkflowState
from baton_status.history import History
from baton_status.projection import apply, summary
from baton_status.views import WorkflowView

__all__ = ["T0", "Figures", "Lifecycle", "hub_figures", "status_figures"]

T0 = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
_DONE_PHASE = frozenset({"completed", "skipped"})
_REPORTS: dict[str, Callable[..., wf.Outcome]] = {
    "TASK_STARTED": wf.on_task_started,
    "TASK_COMPLETED": wf.on_task_completed,
    "TASK_FAILED": wf.on_task_failed,
}


@dataclass(frozen=True, slots=True)
class Figures:
    """What one side says of a workflow."""

    status: str
    phases_done: int
    progress: float
    phase_statuses: tuple[str, ...]
    done_tasks: frozenset[str]


def _phase_status(state: WorkflowState, status: str) -> str:
    # The status service shows the phase a cancel interrupted as cancelled; the hub's phase
    # statuses have no such value and leave it running.
    return "cancelled" if state.status == "CANCELLED" and status == "running" else status


def hub_figures(state: WorkflowState) -> Figures:
    """The hub's figures; progress by the status service's documented rule on the hub's
    state (phases weighted equally, as definitions without task estimates plan them: a done
    phase fully, a pending one not at all, any other by the share of its tasks done; a
    COMPLETED workflow is at 100)."""
    fractions = []
    for index, phase in enumerate(state.phases):
        tasks = state.phase_tasks(index)
        if phase.status in _DONE_PHASE:
            fractions.append(1.0)
        elif phase.status == "pending" or not tasks:
            fractions.append(0.0)
        else:
            fractions.append(sum(1 for t in tasks if t.done) / len(tasks))
    progress = 100.0 if state.status == "COMPLETED" else 100.0 * sum(fractions) / len(fractions)
    return Figures(
        status=state.status,
        phases_done=sum(1 for p in state.phases if p.status in _DONE_PHASE),
        progress=round(progress, 1),
        phase_statuses=tuple(_phase_status(state, p.status) for p in state.phases),
        done_tasks=frozenset(t.task_id for t in state.tasks.values() if t.done),
    )


def status_figures(view: WorkflowView, *, now: datetime) -> Figures:
    """The status service's figures, as its API renders them."""
    line = summary(view, history=History(), now=now)
    return Figures(
        status=line.status,
        phases_done=line.phases_done,
        progress=line.progress,
        phase_statuses=tuple(p.status for p in view.phases),
        done_tasks=frozenset(
            t.task_id for t in view.tasks.values() if t.status in {"completed", "skipped"}
        ),
    )


class Lifecycle:
    """One workflow: the hub's state, the status view, the clock, and the checkpoints."""

    def __init__(self, definition: dict[str, Any], *, delegate_failures: bool = False) -> None:
        self.now = T0
        self.state, events = wf.create(definition, now=self.now)
        self.state.delegate_failures = delegate_failures  # as the hub's CREATE does
        self.view: WorkflowView | None = None
        self.log: list[Event] = []
        self.checkpoints: list[WorkflowState] = [self.state]
        self._publish(events)

    # -- the events topic ---------------------------------------------------------------

    def _publish(self, events: list[HubEvent], *, skip_echo: tuple[str, str] | None = None) -> None:
        for item in events:
            if skip_echo == (item.event_type, item.data.get("task_id")):
                continue  # the agent's own report is on the topic already
            self._deliver(
                Event(
                    event_type=item.event_type,
                    workflow_id=item.workflow_id,
                    phase=item.phase,
                    data=dict(item.data),
                    timestamp=self.now,
                    source="coordination-hub",
                )
            )

    def _deliver(self, event: Event) -> None:
        self.log.append(event)
        self.view = apply(self.view, event)

    # -- steps -------------------------------------------------------------------------

    def tick(self, seconds: float = 1.0) -> None:
        self.now += timedelta(seconds=seconds)

    def hub(self, operation: Callable[..., wf.Outcome], **kwargs: Any) -> bool:
        """Apply a hub operation now; False (and nothing published) when it is refused."""
        try:
            state, events = operation(self.state, now=self.now, **kwargs)
        except (InvalidTransition, UnknownItemError):
            return False
        self._commit(state, events)
        return True

    def _commit(
        self, state: WorkflowState, events: list[HubEvent], skip_echo: tuple[str, str] | None = None
    ) -> None:
        changed = state.state_version != self.state.state_version
        self.state = state
        self._publish(events, skip_echo=skip_echo)
        if changed:
            self.checkpoints.append(state)

    def report(
        self,
        event_type: str,
        task_id: str,
        *,
        agent_id: str,
        fencing_token: int,
        **extra: Any,
    ) -> None:
        """An agent's report: published by the agent, then handled by the hub."""
        attempt = self.state.tasks[task_id].attempts
        data = {
            "task_id": task_id,
            "agent_id": agent_id,
            "fencing_token": fencing_token,
            "attempt": attempt,
            **extra,
        }
        self._deliver(
            Event(
                event_type=event_type,
                workflow_id=self.state.workflow_id,
                phase=self.state.phase_name,
                data=data,
                timestamp=self.now,
                source=agent_id,
            )
        )
        kwargs: dict[str, Any] = {}
        if event_type == "TASK_COMPLETED":
            kwargs = {"results": extra.get("results"), "quality_score": extra.get("quality_score")}
        elif event_type == "TASK_FAILED":
            kwargs = {"reason": str(extra.get("failure_reason") or "failed")}
        state, events = _REPORTS[event_type](
            self.state,
            task_id=task_id,
            agent_id=agent_id,
            fencing_token=fencing_token,
            now=self.now,
            **kwargs,
        )
        self._commit(state, events, skip_echo=(event_type, task_id))

    def holder_report(self, event_type: str, task: TaskState, **extra: Any) -> None:
        """The report of the agent holding ``task``."""
        assert task.agent_id is not None
        self.report(
            event_type,
            task.task_id,
            agent_id=task.agent_id,
            fencing_token=task.fencing_token,
            **extra,
        )

    def recover(self, task_id: str, action: RecoveryAction, *, avoid: list[str]) -> bool:
        """workflow-recovery's decision for a task (RECOVER_TASK)."""
        return self.hub(
            recover_task, task_id=task_id, action=action, reason="recovery", avoid_agents=avoid
        )

    def restore(self, checkpoint: WorkflowState) -> bool:
        """workflow-recovery restores a checkpoint (RESTORE_CHECKPOINT)."""
        return self.hub(
            restore,
            snapshot=checkpoint.model_dump(mode="json"),
            checkpoint_id=f"ckpt_{checkpoint.state_version}",
        )

    # -- comparison --------------------------------------------------------------------

    def figures(self) -> tuple[Figures, Figures]:
        """(hub, status) figures now."""
        assert self.view is not None
        return hub_figures(self.state), status_figures(self.view, now=self.now)
