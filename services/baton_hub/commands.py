"""The hub's commands: the pure transition each state-changing one applies.

Reads (``HubCommand.GET``, ``LIST``, ``SIGNALS``, ``GET_CONTEXT``) and
``CREATE_WORKFLOW`` are answered by :meth:`baton_hub.handlers.HubHandlers.command` itself;
every other command maps here to a function of the workflow's state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from baton.errors import BadInputError
from baton.protocol.commands import HubCommand
from baton.protocol.invalid import bad_input
from baton_hub import workflow as wf
from baton_hub.recovery import RecoveryAction, recover_task, restore
from baton_hub.state import AgentAssignment, WorkflowState

__all__ = ["Op", "need", "operation"]

Op = Callable[[WorkflowState], wf.Outcome]
"""A state change: the state in, the new state and its events out."""


_ASSIGNMENTS: TypeAdapter[list[AgentAssignment]] = TypeAdapter(list[AgentAssignment])
_ACTIONS = ("retry", "reassign", "skip", "fail")


def need(data: dict[str, Any], name: str) -> Any:
    """``data[name]``, or bad input naming the missing field."""
    if name not in data:
        raise BadInputError(f"data.{name} is required", field=f"data.{name}")
    return data[name]


def _number(data: dict[str, Any], name: str) -> float:
    value = need(data, name)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise BadInputError(
            f"data.{name} must be a number, not {value!r}", field=f"data.{name}"
        ) from None


def _assignments(data: dict[str, Any]) -> list[AgentAssignment]:
    name = "assignments" if "assignments" in data or "agents" not in data else "agents"
    try:
        return _ASSIGNMENTS.validate_python(data.get(name, []))
    except ValidationError as exc:
        raise bad_input(exc, root=f"data.{name}", model=AgentAssignment) from None


def operation(kind: HubCommand, data: dict[str, Any], *, now: datetime) -> Op:
    """The pure transition a state-changing command applies (the others read only)."""
    ops: dict[HubCommand, Op] = {
        HubCommand.START_PHASE: lambda s: wf.start_phase(s, phase=need(data, "phase"), now=now),
        HubCommand.ASSIGN_AGENTS: lambda s: wf.assign_agents(
            s, assignments=_assignments(data), now=now
        ),
        HubCommand.PAUSE: lambda s: wf.pause(s, reason=data.get("reason", "requested"), now=now),
        HubCommand.RESUME: lambda s: wf.resume(s, now=now),
        HubCommand.CANCEL: lambda s: wf.cancel(s, reason=data.get("reason", "requested"), now=now),
        HubCommand.SIGNAL: lambda s: wf.signal(
            s,
            sender=need(data, "sender"),
            recipients=data.get("recipients"),
            signal_type=need(data, "signal_type"),
            payload=data.get("payload"),
            now=now,
        ),
        HubCommand.UPDATE_CONTEXT: lambda s: wf.update_context(
            s, updates=need(data, "updates"), targets=data.get("targets"), now=now
        ),
        HubCommand.QUALITY_SCORE: lambda s: wf.on_quality_score(
            s, task_id=need(data, "task_id"), score=_number(data, "score"), now=now
        ),
        HubCommand.SATISFY_DEPENDENCY: lambda s: wf.on_external_event(
            s, dependency=need(data, "dependency"), now=now
        ),
        HubCommand.CHECKPOINT: lambda s: wf.checkpoint(
            s, label=data.get("label") or data.get("name") or "manual", now=now
        ),
        HubCommand.RECOVER_TASK: lambda s: recover_task(
            s,
            task_id=need(data, "task_id"),
            action=_action(need(data, "action")),
            reason=str(data.get("reason") or "workflow-recovery decided"),
            avoid_agents=[str(a) for a in data.get("avoid_agents") or []],
            now=now,
        ),
        HubCommand.RESTORE_CHECKPOINT: lambda s: restore(
            s,
            snapshot=need(data, "snapshot"),
            checkpoint_id=str(need(data, "checkpoint_id")),
            now=now,
        ),
    }
    return ops[kind]


def _action(value: Any) -> RecoveryAction:
    if value not in _ACTIONS:
        raise BadInputError(
            f"data.action must be {', '.join(_ACTIONS)}, not {value!r}", field="data.action"
        )
    action: RecoveryAction = value
    return action
