"""The hub's commands: the pure transition each state-changing one applies.

Reads (``HubCommand.GET``, ``LIST``, ``SIGNALS``, ``GET_CONTEXT``) and
``CREATE_WORKFLOW`` are answered by :class:`baton_hub.command_handlers.HubCommands`
itself; every other command maps here, from its request model, to a function of the
workflow's state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

from pydantic import TypeAdapter, ValidationError

from baton.errors import BadInputError
from baton.protocol.commands import CommandRequest, HubCommand
from baton.protocol.commands.requests import (
    AssignAgentsRequest,
    CheckpointWorkflowRequest,
    QualityScoreRequest,
    ReasonRequest,
    RecoverTaskRequest,
    RestoreCheckpointRequest,
    SatisfyDependencyRequest,
    SendSignalRequest,
    StartPhaseRequest,
    UpdateContextRequest,
)
from baton.protocol.invalid import bad_input
from baton_hub import workflow as wf
from baton_hub.recovery import recover_task, restore
from baton_hub.state import AgentAssignment, WorkflowState

__all__ = ["OPERATIONS", "Op", "need", "operation"]

Op = Callable[[WorkflowState], wf.Outcome]
"""A state change: the state in, the new state and its events out."""


_ASSIGNMENTS: TypeAdapter[list[AgentAssignment]] = TypeAdapter(list[AgentAssignment])


def need(data: dict[str, Any], name: str) -> Any:
    """``data[name]``, or bad input naming the missing field."""
    if name not in data:
        raise BadInputError(f"data.{name} is required", field=f"data.{name}")
    return data[name]


def _assignments(r: AssignAgentsRequest) -> list[AgentAssignment]:
    name = "assignments" if r.assignments is not None or r.agents is None else "agents"
    try:
        return _ASSIGNMENTS.validate_python(getattr(r, name) or [])
    except ValidationError as exc:
        raise bad_input(exc, root=f"data.{name}", model=AgentAssignment) from None


def _start_phase(r: StartPhaseRequest, now: datetime) -> Op:
    return lambda s: wf.start_phase(s, phase=r.phase, now=now)


def _assign_agents(r: AssignAgentsRequest, now: datetime) -> Op:
    return lambda s: wf.assign_agents(s, assignments=_assignments(r), now=now)


def _pause(r: ReasonRequest, now: datetime) -> Op:
    return lambda s: wf.pause(s, reason=r.reason, now=now)


def _resume(r: CommandRequest, now: datetime) -> Op:
    return lambda s: wf.resume(s, now=now)


def _cancel(r: ReasonRequest, now: datetime) -> Op:
    return lambda s: wf.cancel(s, reason=r.reason, now=now)


def _signal(r: SendSignalRequest, now: datetime) -> Op:
    return lambda s: wf.signal(
        s,
        sender=r.sender,
        recipients=r.recipients,
        signal_type=r.signal_type,
        payload=r.payload,
        now=now,
    )


def _update_context(r: UpdateContextRequest, now: datetime) -> Op:
    return lambda s: wf.update_context(s, updates=r.updates, targets=r.targets, now=now)


def _quality_score(r: QualityScoreRequest, now: datetime) -> Op:
    return lambda s: wf.on_quality_score(s, task_id=r.task_id, score=r.score, now=now)


def _satisfy_dependency(r: SatisfyDependencyRequest, now: datetime) -> Op:
    return lambda s: wf.on_external_event(s, dependency=r.dependency, now=now)


def _checkpoint(r: CheckpointWorkflowRequest, now: datetime) -> Op:
    return lambda s: wf.checkpoint(s, label=r.label or r.name or "manual", now=now)


def _recover_task(r: RecoverTaskRequest, now: datetime) -> Op:
    return lambda s: recover_task(
        s,
        task_id=r.task_id,
        action=r.action,
        reason=r.reason or "workflow-recovery decided",
        avoid_agents=list(r.avoid_agents or []),
        now=now,
    )


def _restore_checkpoint(r: RestoreCheckpointRequest, now: datetime) -> Op:
    return lambda s: restore(s, snapshot=r.snapshot, checkpoint_id=r.checkpoint_id, now=now)


OPERATIONS: Final[Mapping[HubCommand, Callable[[Any, datetime], Op]]] = {
    HubCommand.START_PHASE: _start_phase,
    HubCommand.ASSIGN_AGENTS: _assign_agents,
    HubCommand.PAUSE: _pause,
    HubCommand.RESUME: _resume,
    HubCommand.CANCEL: _cancel,
    HubCommand.SIGNAL: _signal,
    HubCommand.UPDATE_CONTEXT: _update_context,
    HubCommand.QUALITY_SCORE: _quality_score,
    HubCommand.SATISFY_DEPENDENCY: _satisfy_dependency,
    HubCommand.CHECKPOINT: _checkpoint,
    HubCommand.RECOVER_TASK: _recover_task,
    HubCommand.RESTORE_CHECKPOINT: _restore_checkpoint,
}
"""State-changing command → its transition, from the command's request model."""


def operation(kind: HubCommand, data: CommandRequest, *, now: datetime) -> Op:
    """The pure transition the state-changing command ``kind`` applies with ``data``."""
    return OPERATIONS[kind](data, now)
