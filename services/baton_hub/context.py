"""Versioned shared context (``ContextDistributor``): what each agent gets to see.

The context has global data and data scoped to an agent id or a role. What an agent sees
is the global data, overlaid with the data of each of its roles (roles from
``assign-agents``, then roles of tasks it has held), overlaid with its own: the most
specific wins. An update merges into one layer: nested objects merge key by key, other
values replace, and ``None`` removes a key. Every update raises the context version by
one, whatever its targets, so a version names one moment of the whole context.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from baton_hub.state import WorkflowState
from baton_hub.transition import Outcome, Transition

__all__ = ["context_for", "merge", "update_context"]


def merge(base: Mapping[str, Any], updates: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``updates`` merged in (a new dict; the inputs are left as they are)."""
    merged = copy.deepcopy(dict(base))
    for key, value in updates.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def context_for(state: WorkflowState, *, target: str) -> dict[str, Any]:
    """The context ``target`` sees: an agent id (known to the workflow) or a role."""
    ctx = state.context
    # An agent sees its roles' layers and its own; a role sees its layer only.
    layers = [*state.roles_of(target), target] if target in state.agents() else [target]
    view = copy.deepcopy(ctx.data)
    for layer in layers:
        view = merge(view, ctx.scoped.get(layer, {}))
    return view


def update_context(
    state: WorkflowState,
    *,
    updates: Mapping[str, Any],
    targets: Sequence[str] | None = None,
    now: datetime,
) -> Outcome:
    """Merge ``updates`` into the shared context and deliver it.

    Args:
        state: The workflow.
        updates: Keys to merge (``None`` values remove keys).
        targets: Agent ids or roles the update is for; None updates the global data.
        now: Current time.

    Returns:
        The new state and one ``CONTEXT_UPDATED`` per recipient: each target, or (global
        update) each agent of the workflow, or one event for target ``*`` when the
        workflow has no agent yet.

    Raises:
        InvalidTransition: the workflow has ended.
    """
    tx = Transition(state, now=now, operation="update context")
    tx.require({"CREATED", "SCHEDULED", "QUEUED", "STARTED", "PAUSED"})
    ctx = tx.state.context
    ctx.version += 1
    if targets is None:
        ctx.data = merge(ctx.data, updates)
        recipients = tx.state.agents() or ["*"]
    else:
        recipients = list(dict.fromkeys(targets))
        for target in recipients:
            ctx.scoped[target] = merge(ctx.scoped.get(target, {}), updates)
            ctx.scoped_versions[target] = ctx.version
    for target in recipients:
        view = ctx.data if target == "*" else context_for(tx.state, target=target)
        tx.emit(
            "CONTEXT_UPDATED",
            {
                "target": target,
                "version": ctx.version,
                "context": copy.deepcopy(view),
                "updated_keys": sorted(updates),
            },
        )
    return tx.commit()
