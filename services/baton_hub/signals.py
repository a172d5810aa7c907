"""Signals between agents (``SignalCoordinator``), with a bounded history.

A signal has a sender, recipients (None: every agent of the workflow), a type (e.g.
``agent_initialized``, ``agent_completed``) and a payload. The history keeps the last
``signal_history_limit`` signals of the definition (1000 by default); signal ids
(``sig_<n>``) keep counting past the limit, so an id is never reused.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from baton_hub.state import Signal, WorkflowState
from baton_hub.transition import Outcome, Transition
from baton_hub.units import iso

__all__ = ["signal", "signals"]


def signal(
    state: WorkflowState,
    *,
    sender: str,
    recipients: Sequence[str] | None = None,
    signal_type: str,
    payload: Mapping[str, Any] | None = None,
    now: datetime,
) -> Outcome:
    """Send a signal: recorded in the history and published as ``AGENT_SIGNAL``.

    Raises:
        InvalidTransition: the workflow has ended.
    """
    tx = Transition(state, now=now, operation="signal")
    tx.require({"CREATED", "SCHEDULED", "QUEUED", "STARTED", "PAUSED"})
    st = tx.state
    st.signal_count += 1
    sent = Signal(
        signal_id=f"sig_{st.signal_count}",
        sequence=st.signal_count,
        sender=sender,
        recipients=None if recipients is None else list(dict.fromkeys(recipients)),
        signal_type=signal_type,
        payload=copy.deepcopy(dict(payload or {})),
        sent_at=tx.now,
    )
    st.signals.append(sent)
    overflow = len(st.signals) - st.definition.signal_history_limit
    if overflow > 0:
        del st.signals[:overflow]
    tx.emit(
        "AGENT_SIGNAL",
        {
            "signal_id": sent.signal_id,
            "sender": sender,
            "recipients": sent.recipients or [],
            "broadcast": sent.recipients is None,
            "signal_type": signal_type,
            "payload": copy.deepcopy(sent.payload),
            "sent_at": iso(tx.now),
        },
    )
    return tx.commit()


def signals(
    state: WorkflowState,
    *,
    agent_id: str | None = None,
    signal_type: str | None = None,
    limit: int | None = None,
) -> list[Signal]:
    """Signals in the history, oldest first.

    Args:
        state: The workflow.
        agent_id: Only signals this agent sent or received (broadcasts included).
        signal_type: Only signals of this type.
        limit: Only the last ``limit`` matches.
    """
    found = [
        s
        for s in state.signals
        if (signal_type is None or s.signal_type == signal_type)
        and (
            agent_id is None
            or s.sender == agent_id
            or s.recipients is None
            or agent_id in s.recipients
        )
    ]
    if limit is None:
        return found
    return found[len(found) - limit :] if limit > 0 else []
