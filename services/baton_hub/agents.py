"""Agents of a workflow: giving agents roles (``assign-agents``) and taking them away.

Agents come from the allocation and from ``assign-agents``; roles steer assignment (a task
goes to an agent of its role when the workflow has one) without confining an agent to its
roles when no agent has a task's role.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from baton_hub.errors import UnknownItemError
from baton_hub.scheduling import advance
from baton_hub.state import AgentAssignment, WorkflowState
from baton_hub.transition import Outcome, Transition

__all__ = ["assign_agents", "remove_agent"]

_OPEN = frozenset({"CREATED", "SCHEDULED", "QUEUED", "STARTED", "PAUSED"})


def assign_agents(
    state: WorkflowState,
    *,
    assignments: Sequence[AgentAssignment | Mapping[str, Any]],
    now: datetime,
) -> Outcome:
    """Give agents roles in the workflow: ``AGENT_ALLOCATED`` each, then assign ready tasks.

    Args:
        state: The workflow.
        assignments: ``{"agent_id", "role"}`` each (``capabilities`` optional).
        now: Current time.

    Returns:
        The state unchanged when every pair was already known.

    Raises:
        pydantic.ValidationError: an assignment without agent_id or role.
        InvalidTransition: the workflow has ended.
    """
    tx = Transition(state, now=now, operation="assign agents")
    tx.require(_OPEN)
    st = tx.state
    for item in assignments:
        given = item if isinstance(item, AgentAssignment) else AgentAssignment.model_validate(item)
        roles = st.agent_roles.setdefault(given.agent_id, [])
        if given.role in roles:
            continue
        roles.append(given.role)
        tx.emit(
            "AGENT_ALLOCATED",
            {
                "agent_id": given.agent_id,
                "workflow_id": st.workflow_id,
                "role": given.role,
                "capabilities": given.capabilities or [given.role],
            },
        )
    if not tx.events:
        return tx.unchanged()
    advance(tx)
    return tx.commit()


def remove_agent(state: WorkflowState, *, agent_id: str, reason: str, now: datetime) -> Outcome:
    """Take an agent away (it timed out, or was released): its tasks go to other agents.

    Its in-flight tasks return to ``ready`` without counting as failures, and are
    reassigned (``TASK_REASSIGNED`` + ``TASK_ASSIGNED`` with a new fencing token) when an
    agent is free; the removed agent's late reports are then rejected.

    Raises:
        UnknownItemError: the agent is not one of the workflow's.
        InvalidTransition: the workflow has ended.
    """
    tx = Transition(state, now=now, operation="remove agent")
    tx.require(_OPEN)
    st = tx.state
    if agent_id not in st.agents():
        raise UnknownItemError(
            f"agent {agent_id} is not an agent of workflow {st.workflow_id}",
            workflow_id=st.workflow_id,
            kind="agent",
            name=agent_id,
        )
    if st.allocation is not None:
        st.allocation.agents = [a for a in st.allocation.agents if a != agent_id]
    st.agent_roles.pop(agent_id, None)
    released = [t for t in st.tasks.values() if t.in_flight and t.agent_id == agent_id]
    for task in released:
        task.previous_agent = agent_id
        task.agent_id = None
        task.status = "ready"
        task.failure_reason = f"agent {agent_id} removed: {reason}"
    tx.emit(
        "AGENT_DEALLOCATED",
        {
            "agent_id": agent_id,
            "workflow_id": st.workflow_id,
            "reason": reason,
            "released_tasks": [t.task_id for t in released],
        },
    )
    advance(tx)
    return tx.commit()
