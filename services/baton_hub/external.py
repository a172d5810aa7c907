"""External dependencies: prerequisites outside the workflow (``dependencies``).

They are satisfied by ``DEPENDENCY_SATISFIED`` events. They hold a workflow's start back only
with ``block_on_dependencies``; a task that lists one waits for it either way.
"""

from __future__ import annotations

from datetime import datetime

from baton_hub.errors import UnknownItemError
from baton_hub.lifecycle import start_workflow
from baton_hub.scheduling import advance
from baton_hub.state import WorkflowState
from baton_hub.transition import Outcome, Transition
from baton_hub.units import iso

__all__ = ["on_external_event", "waiting_for"]


def waiting_for(state: WorkflowState) -> list[str]:
    """Unsatisfied external dependencies that hold the start back (none unless blocking)."""
    if not state.definition.block_on_dependencies:
        return []
    return [name for name, ext in state.external.items() if not ext.satisfied]


def on_external_event(state: WorkflowState, *, dependency: str, now: datetime) -> Outcome:
    """An external dependency is satisfied (a ``DEPENDENCY_SATISFIED`` event).

    Repeats, and events for a workflow that has ended, change nothing. The last blocking
    dependency of a SCHEDULED workflow starts it; tasks waiting on it become ready.

    Raises:
        UnknownItemError: the workflow does not declare ``dependency``.
    """
    tx = Transition(state, now=now, operation="satisfy dependency")
    st = tx.state
    ext = st.external.get(dependency)
    if ext is None:
        raise UnknownItemError(
            f"workflow {st.workflow_id} has no external dependency {dependency!r}",
            workflow_id=st.workflow_id,
            kind="dependency",
            name=dependency,
        )
    if ext.satisfied or st.terminal:
        return tx.unchanged()
    ext.satisfied = True
    ext.satisfied_at = tx.now
    remaining = [name for name, e in st.external.items() if not e.satisfied]
    tx.emit(
        "EXTERNAL_DEPENDENCY_RESOLVED",
        {"dependency": dependency, "satisfied_at": iso(tx.now), "remaining": remaining},
    )
    if st.status == "SCHEDULED" and not waiting_for(st):
        start_workflow(tx)
    advance(tx)
    return tx.commit()
