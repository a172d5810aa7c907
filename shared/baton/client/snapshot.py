"""What the hub says about a workflow, as a typed snapshot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from baton.protocol.commands.replies import GetWorkflowReply
from baton.protocol.fields import TERMINAL_STATUSES

__all__ = ["TERMINAL_STATUSES", "WorkflowSnapshot", "snapshot"]


@dataclass(frozen=True, slots=True)
class WorkflowSnapshot:
    """A workflow as the hub holds it right now.

    Attributes:
        workflow_id: The workflow.
        status: ``CREATED``, ``SCHEDULED``, ``QUEUED``, ``STARTED``, ``PAUSED``,
            ``COMPLETED``, ``FAILED`` or ``CANCELLED``.
        state_version: Increases by one with every change.
        phase: Name of the current phase.
        state: The hub's whole state document (phases, tasks, allocation...).
    """

    workflow_id: str
    status: str
    state_version: int
    phase: str
    state: Mapping[str, Any] = field(repr=False)

    @property
    def terminal(self) -> bool:
        """True once the workflow completed, failed or was cancelled."""
        return self.status in TERMINAL_STATUSES


def snapshot(workflow_id: str, reply: GetWorkflowReply | Mapping[str, Any]) -> WorkflowSnapshot:
    """The snapshot a ``HubCommand.GET`` reply describes (read through its model).

    Raises:
        pydantic.ValidationError: a reply given as a mapping does not fit the model.
    """
    if not isinstance(reply, GetWorkflowReply):
        reply = GetWorkflowReply.model_validate(reply)
    state = reply.workflow
    phases = state.get("phases") or [{}]
    index = min(int(state.get("current_phase", 0)), len(phases) - 1)
    return WorkflowSnapshot(
        workflow_id=workflow_id,
        status=str(state["status"]),
        state_version=int(state["state_version"]),
        phase=str(phases[index].get("name", "global")),
        state=state,
    )
