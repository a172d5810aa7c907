"""What each command answers: one pydantic model per command's reply data.

A service builds its reply from its command's model and sends :func:`reply_data` of it, so
a reply carries exactly the fields its model names (a field left unset is left out); a
caller reads a reply through the same model (:func:`parse_reply`). Closed replies refuse
fields they do not name; replies that pass on open-ended figures or a whole state
(``extra="allow"``) name the fields callers rely on and keep the rest as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from baton.protocol.commands.names import (
    HubCommand,
    MonitorCommand,
    RecoveryCommand,
    ResourceCommand,
    StatusCommand,
)

__all__ = [
    "REPLIES",
    "AllocateReply",
    "AnalyzeFailureReply",
    "CommandReply",
    "CreateWorkflowReply",
    "GetContextReply",
    "GetSignalsReply",
    "GetWorkflowReply",
    "ListCheckpointsReply",
    "ListStatusReply",
    "ListWorkflowsReply",
    "MonitorHealthReply",
    "MonitorReportReply",
    "MonitorWindowsReply",
    "OpenReply",
    "ReleaseReply",
    "RenewReply",
    "ResourceStatusReply",
    "RestoreReply",
    "StartPhaseReply",
    "SystemOverviewReply",
    "TransitionReply",
    "WorkflowChangeReply",
    "WorkflowStatusReply",
    "parse_reply",
    "reply_data",
]


class CommandReply(BaseModel):
    """A command's reply data: exactly the fields its model names."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class OpenReply(CommandReply):
    """A reply that also passes on fields its model does not name (figures, a whole state)."""

    model_config = ConfigDict(extra="allow", frozen=True)


# -- coordination hub -------------------------------------------------------------------


class WorkflowChangeReply(CommandReply):
    """A workflow changed (or found already as asked): its status and state version now."""

    workflow_id: str
    status: str
    state_version: int


class CreateWorkflowReply(WorkflowChangeReply):
    """The new workflow, and the types of the events its creation published."""

    events: list[str]


class StartPhaseReply(WorkflowChangeReply):
    """The phase started, its number and status; ``already_running``: nothing changed."""

    phase: str
    phase_number: int
    phase_status: str
    already_running: bool
    message: str | None = None


class GetWorkflowReply(CommandReply):
    """The workflow's whole stored state, and its state-sync message (``workflow_state``)."""

    workflow: dict[str, Any]
    workflow_state: dict[str, Any]


class ListWorkflowsReply(CommandReply):
    """One summary per workflow the hub runs."""

    workflows: list[dict[str, Any]]


class GetSignalsReply(CommandReply):
    """The signals asked for, oldest first."""

    signals: list[dict[str, Any]]


class GetContextReply(CommandReply):
    """A target's view of the shared context, and the context's version."""

    context: dict[str, Any]
    version: int


# -- resource manager -------------------------------------------------------------------


class AllocateReply(CommandReply):
    """The allocation response; ``agent_ids``: the agents granted (when granted)."""

    allocation_response: dict[str, Any]
    reason: str | None = None
    repeated: bool = False
    agent_ids: list[str] | None = None


class ReleaseReply(CommandReply):
    """Allocations released, requests withdrawn, and queued requests granted from what freed."""

    released: list[str]
    cancelled: list[str]
    granted: list[dict[str, Any]]


class RenewReply(CommandReply):
    """The allocation's lease deadline now (ISO-8601; none: it has no deadline)."""

    allocation_id: str
    lease_deadline: str | None = None


class TransitionReply(CommandReply):
    """What one workflow held, handed over to another in one step."""

    from_workflow_id: str
    to_workflow_id: str
    released: list[str]
    granted_to_queue: list[dict[str, Any]]
    allocation_response: dict[str, Any]
    reason: str | None = None
    agent_ids: list[str] | None = None


class ResourceStatusReply(OpenReply):
    """Pools, a page of allocations (``next``: the cursor of the next), the queue's head."""

    pools: dict[str, Any]
    allocations: list[dict[str, Any]]
    queue: list[dict[str, Any]]
    agent_slots: dict[str, list[str]]
    allocations_total: int
    queued_total: int
    next: str | None = None


# -- status, monitor, recovery ----------------------------------------------------------


class WorkflowStatusReply(OpenReply):
    """One workflow's status, progress (percent), phases, tasks, agents, dependencies and
    timeline."""

    workflow_id: str
    status: str
    progress: float = 0.0
    current_phase: str | None = None


class SystemOverviewReply(OpenReply):
    """The whole system at a glance: counts, active workflows, queue, resources, alerts."""

    at: str
    counts: dict[str, int]
    active: list[dict[str, Any]] = Field(default_factory=list)
    queue: list[dict[str, Any]] = Field(default_factory=list)
    alerts: list[dict[str, Any]] = Field(default_factory=list)


class ListStatusReply(CommandReply):
    """One page of the workflow list; ``next_cursor`` for the next (none on the last)."""

    workflows: list[dict[str, Any]]
    total: int
    next_cursor: str | None = None


class MonitorReportReply(OpenReply):
    """The system's windows, lags and current values, or one workflow's whole-life figures."""

    generated_at: str


class MonitorHealthReply(OpenReply):
    """Every component's health and the overall ``status``."""

    generated_at: str
    status: str
    components: list[dict[str, Any]]


class MonitorWindowsReply(OpenReply):
    """The current tumbling and hopping windows of every partition, summed."""

    recovered: bool
    partitions: list[int]


class ListCheckpointsReply(CommandReply):
    """The workflow's checkpoints, newest first."""

    workflow_id: str
    checkpoints: list[dict[str, Any]]


class AnalyzeFailureReply(CommandReply):
    """The workflow's failure reports, pending actions, latest checkpoint and open breakers."""

    workflow_id: str
    reports: list[dict[str, Any]]
    pending_actions: list[dict[str, Any]]
    latest_checkpoint: dict[str, Any] | None = None
    open_breakers: dict[str, str]


class RestoreReply(CommandReply):
    """The checkpoint restored, its state version and hash, and the hub's reply."""

    ok: bool
    checkpoint_id: str
    state_version_restored: int
    verified_hash: str
    reply: dict[str, Any]


REPLIES: Final[Mapping[StrEnum, type[CommandReply]]] = {
    HubCommand.CREATE_WORKFLOW: CreateWorkflowReply,
    HubCommand.START_PHASE: StartPhaseReply,
    HubCommand.ASSIGN_AGENTS: WorkflowChangeReply,
    HubCommand.PAUSE: WorkflowChangeReply,
    HubCommand.RESUME: WorkflowChangeReply,
    HubCommand.CANCEL: WorkflowChangeReply,
    HubCommand.GET: GetWorkflowReply,
    HubCommand.LIST: ListWorkflowsReply,
    HubCommand.SIGNAL: WorkflowChangeReply,
    HubCommand.SIGNALS: GetSignalsReply,
    HubCommand.UPDATE_CONTEXT: WorkflowChangeReply,
    HubCommand.GET_CONTEXT: GetContextReply,
    HubCommand.QUALITY_SCORE: WorkflowChangeReply,
    HubCommand.SATISFY_DEPENDENCY: WorkflowChangeReply,
    HubCommand.CHECKPOINT: WorkflowChangeReply,
    HubCommand.RECOVER_TASK: WorkflowChangeReply,
    HubCommand.RESTORE_CHECKPOINT: WorkflowChangeReply,
    ResourceCommand.ALLOCATE: AllocateReply,
    ResourceCommand.RELEASE: ReleaseReply,
    ResourceCommand.CANCEL_REQUEST: ReleaseReply,
    ResourceCommand.RENEW: RenewReply,
    ResourceCommand.STATUS: ResourceStatusReply,
    ResourceCommand.TRANSITION: TransitionReply,
    StatusCommand.WORKFLOW: WorkflowStatusReply,
    StatusCommand.OVERVIEW: SystemOverviewReply,
    StatusCommand.LIST: ListStatusReply,
    MonitorCommand.REPORT: MonitorReportReply,
    MonitorCommand.HEALTH: MonitorHealthReply,
    MonitorCommand.WINDOWS: MonitorWindowsReply,
    RecoveryCommand.LIST_CHECKPOINTS: ListCheckpointsReply,
    RecoveryCommand.ANALYZE_FAILURE: AnalyzeFailureReply,
    RecoveryCommand.RESTORE: RestoreReply,
}
"""Command → the model of its reply's data."""

R = TypeVar("R", bound=CommandReply)


def reply_data(reply: CommandReply) -> dict[str, Any]:
    """A reply model as the data of the reply event (fields left unset are left out)."""
    return reply.model_dump(mode="json", exclude_unset=True)


def parse_reply(model: type[R], data: Mapping[str, Any]) -> R:
    """A reply's data read through its command's model.

    Raises:
        pydantic.ValidationError: the reply does not fit its model.
    """
    return model.model_validate(data)
