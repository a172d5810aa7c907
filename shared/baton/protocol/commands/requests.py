"""The data each command's request carries: one pydantic model per command.

A service's responder validates a request's data against its command's model before any
handler runs (:func:`validate_request`), so a wrong request is refused as bad input naming
the field at fault (``data.phase: Field required``), never half applied. Callers build the
data from the same models (:func:`request_data`). Fields a model does not declare are kept
(some commands take the definition or allocation request at the top level of the data).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from enum import StrEnum
from typing import Any, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from baton.protocol.commands.names import (
    HubCommand,
    MonitorCommand,
    RecoveryCommand,
    ResourceCommand,
    StatusCommand,
    command_of,
)
from baton.protocol.event import Event

__all__ = [
    "REQUESTS",
    "AllocateRequest",
    "AssignAgentsRequest",
    "CancelRequestRequest",
    "CheckpointWorkflowRequest",
    "CommandRequest",
    "CreateWorkflowRequest",
    "GetContextRequest",
    "GetSignalsRequest",
    "ListWorkflowsRequest",
    "MonitorReportRequest",
    "QualityScoreRequest",
    "ReasonRequest",
    "RecoverTaskRequest",
    "ReleaseRequest",
    "RenewRequest",
    "ResourceStatusRequest",
    "RestoreCheckpointRequest",
    "RestoreRequest",
    "SatisfyDependencyRequest",
    "SendSignalRequest",
    "StartPhaseRequest",
    "TransitionRequest",
    "UpdateContextRequest",
    "WorkflowStatusRequest",
    "checked_request",
    "parse_request",
    "request_data",
    "validate_request",
]

RESOURCE_STATUS_MAX: Final = 1_000
"""Most allocations one ``RESOURCE_STATUS`` page may ask for."""


class CommandRequest(BaseModel):
    """A command's data; a command that takes nothing has this model itself."""

    model_config = ConfigDict(extra="allow", frozen=True)


# -- coordination hub -------------------------------------------------------------------


class CreateWorkflowRequest(CommandRequest):
    """``definition``: the workflow definition (or the definition's fields at the top)."""

    definition: dict[str, Any] | None = None


class StartPhaseRequest(CommandRequest):
    """``phase``: the phase to start, by number (1-based) or name."""

    phase: int | str


class AssignAgentsRequest(CommandRequest):
    """``assignments`` (or ``agents``): the agents and the tasks they take."""

    assignments: list[dict[str, Any]] | None = None
    agents: list[dict[str, Any]] | None = None


class ReasonRequest(CommandRequest):
    """``reason``: why the workflow is paused or cancelled."""

    reason: str = "requested"


class ListWorkflowsRequest(CommandRequest):
    """``status``: only workflows in this status."""

    status: str | None = None


class SendSignalRequest(CommandRequest):
    """A signal from ``sender`` of ``signal_type`` to ``recipients`` (default: all)."""

    sender: str
    signal_type: str
    recipients: list[str] | None = None
    payload: dict[str, Any] | None = None


class GetSignalsRequest(CommandRequest):
    """Signals for ``agent_id``, of ``signal_type``, at most ``limit`` of them."""

    agent_id: str | None = None
    signal_type: str | None = None
    limit: int | None = Field(default=None, ge=1)


class UpdateContextRequest(CommandRequest):
    """``updates`` to the shared context, visible to ``targets`` (default: all)."""

    updates: dict[str, Any]
    targets: list[str] | None = None


class GetContextRequest(CommandRequest):
    """``target``: the agent or task whose view of the shared context is read."""

    target: str


class QualityScoreRequest(CommandRequest):
    """A quality ``score`` for ``task_id``."""

    task_id: str
    score: float


class SatisfyDependencyRequest(CommandRequest):
    """``dependency``: the external dependency now satisfied."""

    dependency: str


class CheckpointWorkflowRequest(CommandRequest):
    """``label`` (or ``name``) of the checkpoint; ``manual`` by default."""

    label: str | None = None
    name: str | None = None


class RecoverTaskRequest(CommandRequest):
    """workflow-recovery's decision about ``task_id``."""

    task_id: str
    action: Literal["retry", "reassign", "skip", "fail"]
    reason: str | None = None
    avoid_agents: list[str] | None = None


class RestoreCheckpointRequest(CommandRequest):
    """The workflow state ``snapshot`` of checkpoint ``checkpoint_id``, to restore."""

    snapshot: dict[str, Any]
    checkpoint_id: str = Field(min_length=1)


# -- resource manager -------------------------------------------------------------------


class AllocateRequest(CommandRequest):
    """``allocation_request`` (or its fields at the top), checked by the resource manager."""

    allocation_request: dict[str, Any] | None = None


class ReleaseRequest(CommandRequest):
    """Release ``allocation_id``, or every allocation of ``workflow_id``."""

    allocation_id: str | None = None
    workflow_id: str | None = None
    reason: str = "released"


class CancelRequestRequest(CommandRequest):
    """Withdraw queued request ``request_id``, or every request of ``workflow_id``."""

    request_id: str | None = None
    workflow_id: str | None = None


class RenewRequest(CommandRequest):
    """Extend allocation ``allocation_id``'s lease by ``hours`` (default: its own)."""

    allocation_id: str = Field(min_length=1)
    hours: float | None = Field(default=None, gt=0)


class ResourceStatusRequest(CommandRequest):
    """A page of ``limit`` allocations after cursor ``after``."""

    limit: int = Field(default=100, ge=1, le=RESOURCE_STATUS_MAX)
    after: str | None = Field(default=None, pattern=r"^[0-9]+$")


class TransitionRequest(CommandRequest):
    """Hand the workflow's allocations over to ``to_workflow_id``."""

    to_workflow_id: str = Field(min_length=1)


# -- status, monitor, recovery ----------------------------------------------------------


class WorkflowStatusRequest(CommandRequest):
    """One workflow's status, with its tasks (``detailed``) and dependencies."""

    detailed: bool = True
    include_dependencies: bool = True


class MonitorReportRequest(CommandRequest):
    """``workflow_id``: one workflow's metrics; none: the whole system's."""

    workflow_id: str | None = None


class RestoreRequest(CommandRequest):
    """``checkpoint_id``: the checkpoint to restore the workflow to."""

    checkpoint_id: str = Field(min_length=1)


REQUESTS: Final[Mapping[StrEnum, type[CommandRequest]]] = {
    HubCommand.CREATE_WORKFLOW: CreateWorkflowRequest,
    HubCommand.START_PHASE: StartPhaseRequest,
    HubCommand.ASSIGN_AGENTS: AssignAgentsRequest,
    HubCommand.PAUSE: ReasonRequest,
    HubCommand.RESUME: CommandRequest,
    HubCommand.CANCEL: ReasonRequest,
    HubCommand.GET: CommandRequest,
    HubCommand.LIST: ListWorkflowsRequest,
    HubCommand.SIGNAL: SendSignalRequest,
    HubCommand.SIGNALS: GetSignalsRequest,
    HubCommand.UPDATE_CONTEXT: UpdateContextRequest,
    HubCommand.GET_CONTEXT: GetContextRequest,
    HubCommand.QUALITY_SCORE: QualityScoreRequest,
    HubCommand.SATISFY_DEPENDENCY: SatisfyDependencyRequest,
    HubCommand.CHECKPOINT: CheckpointWorkflowRequest,
    HubCommand.RECOVER_TASK: RecoverTaskRequest,
    HubCommand.RESTORE_CHECKPOINT: RestoreCheckpointRequest,
    ResourceCommand.ALLOCATE: AllocateRequest,
    ResourceCommand.RELEASE: ReleaseRequest,
    ResourceCommand.CANCEL_REQUEST: CancelRequestRequest,
    ResourceCommand.RENEW: RenewRequest,
    ResourceCommand.STATUS: ResourceStatusRequest,
    ResourceCommand.TRANSITION: TransitionRequest,
    StatusCommand.WORKFLOW: WorkflowStatusRequest,
    StatusCommand.OVERVIEW: CommandRequest,
    # The listing's own model (the status service's ListQuery) refuses what it does not know.
    StatusCommand.LIST: CommandRequest,
    MonitorCommand.REPORT: MonitorReportRequest,
    MonitorCommand.HEALTH: CommandRequest,
    MonitorCommand.WINDOWS: CommandRequest,
    RecoveryCommand.LIST_CHECKPOINTS: CommandRequest,
    RecoveryCommand.ANALYZE_FAILURE: CommandRequest,
    RecoveryCommand.RESTORE: RestoreRequest,
}
"""Command → the model of its request's data."""

_BY_NAME: Final[Mapping[str, type[CommandRequest]]] = {c.value: m for c, m in REQUESTS.items()}


def validate_request(*, event_type: str, data: Mapping[str, Any]) -> CommandRequest | None:
    """``data`` checked against the model of command ``event_type``; None for no command.

    Raises:
        pydantic.ValidationError: the data does not fit (the responder refuses it as bad
            input naming each wrong field).
    """
    model = _BY_NAME.get(event_type)
    return None if model is None else model.model_validate(data)


_CHECKED: ContextVar[tuple[Event, CommandRequest] | None] = ContextVar(
    "baton_checked_request", default=None
)
"""The request being answered and its data as its model read it (:func:`checked_request`)."""


@contextlib.contextmanager
def checked_request(request: Event) -> Iterator[CommandRequest | None]:
    """Check ``request``'s data against its command's model once, at the edge, and keep the
    result while the block runs, for :func:`parse_request` to hand to the handler.

    Raises:
        pydantic.ValidationError: as :func:`validate_request`.
    """
    model = validate_request(event_type=request.event_type, data=request.data)
    token = _CHECKED.set(None if model is None else (request, model))
    try:
        yield model
    finally:
        _CHECKED.reset(token)


def request_data(request: CommandRequest) -> dict[str, Any]:
    """A request model as the data of a command's event (unset defaults left out)."""
    return request.model_dump(mode="json", exclude_unset=True)


C = TypeVar("C", bound=StrEnum)


def parse_request(kind: type[C], *, service: str, request: Event) -> tuple[C, CommandRequest]:
    """``request``'s command among ``kind`` and its data read through the command's model,
    for the service to hand to that command's handler.

    Raises:
        HandlerError: not a command of ``kind`` (not retriable).
        pydantic.ValidationError: the data does not fit (refused as bad input).
    """
    command = command_of(kind, service=service, event_type=request.event_type)
    checked = _CHECKED.get()
    if checked is not None and checked[0] is request:  # read at the edge already
        return command, checked[1]
    return command, REQUESTS[command].model_validate(request.data)
