"""Phases started by command (``start-phase 1``), and phases jumped over.

Starting the phase that is already running (it started by itself, or a repeated command)
is an idempotent success: nothing changes, and :func:`start_phase_reply` says so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from baton_hub.errors import InvalidTransition, UnknownItemError
from baton_hub.lifecycle import start_workflow
from baton_hub.scheduling import advance, start_phase_at
from baton_hub.state import WorkflowState
from baton_hub.transition import Outcome, Transition

__all__ = ["phase_index", "start_phase", "start_phase_reply"]


def phase_index(state: WorkflowState, phase: int | str) -> int:
    """Index of a phase given by number (1-based) or name.

    Raises:
        UnknownItemError: no such phase.
    """
    if isinstance(phase, str) and phase in state.definition.phases:
        return state.definition.phases.index(phase)
    number = int(phase) if isinstance(phase, int) or phase.isdigit() else 0
    if not 1 <= number <= len(state.phases):
        raise UnknownItemError(
            f"workflow {state.workflow_id} has no phase {phase!r} "
            f"(1..{len(state.phases)} or {', '.join(state.definition.phases)})",
            workflow_id=state.workflow_id,
            kind="phase",
            name=str(phase),
        )
    return number - 1


def start_phase(state: WorkflowState, *, phase: int | str, now: datetime) -> Outcome:
    """Start a phase by number (1-based, ``start-phase 1``) or name.

    The usual use is with ``auto_advance`` off, where each phase waits for this command.
    Starting a later phase skips the phases before it (``PHASE_SKIPPED``, their unfinished
    tasks skipped). From SCHEDULED (held by blocking dependencies) it also starts the
    workflow, as an operator's override. The running phase: nothing to do, the state comes
    back unchanged (idempotent).

    Raises:
        UnknownItemError: no such phase.
        InvalidTransition: not STARTED or SCHEDULED, or the phase is behind (completed,
            failed or skipped).
    """
    tx = Transition(state, now=now, operation=f"start phase {phase}")
    tx.require({"STARTED", "SCHEDULED"})
    st = tx.state
    index = phase_index(st, phase)
    target = st.phases[index]
    if index == st.current_phase and target.status == "running":
        return tx.unchanged()
    if index < st.current_phase or target.status != "pending":
        raise InvalidTransition(
            f"cannot start phase {target.name!r} of workflow {st.workflow_id}: it is "
            f"{target.status if index >= st.current_phase else 'behind the current phase'}",
            workflow_id=st.workflow_id,
            status=st.status,
            operation=tx.operation,
        )
    if st.status == "SCHEDULED":
        start_workflow(tx)
    for skipped in range(st.current_phase, index):
        _skip_phase(tx, skipped, reason=f"start-phase {index + 1} requested")
    start_phase_at(tx, index)
    advance(tx)
    return tx.commit()


def start_phase_reply(
    state: WorkflowState, *, phase: int | str, already_running: bool
) -> dict[str, Any]:
    """What a start-phase command answers besides the workflow's status: the phase, its
    status now and whether it was already running (then nothing was changed)."""
    index = phase_index(state, phase)
    target = state.phases[index]
    reply: dict[str, Any] = {
        "phase": target.name,
        "phase_number": index + 1,
        "phase_status": target.status,
        "already_running": already_running,
    }
    if already_running:
        reply["message"] = (
            f"phase {index + 1} ({target.name}) of {state.workflow_id} is already running; "
            "nothing to do"
        )
    return reply


def _skip_phase(tx: Transition, index: int, *, reason: str) -> None:
    st = tx.state
    phase = st.phases[index]
    unfinished = [t for t in st.phase_tasks(index) if not t.done]
    for task in unfinished:
        task.status = "skipped"
        tx.emit(
            "TASK_SKIPPED",
            {"task_id": task.task_id, "reason": reason, "rule_id": None},
            phase=phase.name,
        )
    phase.status = "skipped"
    phase.completed_at = tx.now
    tx.emit(
        "PHASE_SKIPPED",
        {
            "phase_id": phase.name,
            "phase_number": index + 1,
            "skip_reason": reason,
            "impact_assessment": {"tasks_skipped": [t.task_id for t in unfinished]},
        },
        phase=phase.name,
    )
