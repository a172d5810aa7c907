"""The task graph of a hub workflow state, in :mod:`~baton_recovery.failures.impact`'s shape.

Recovery does not import the hub: it reads the state the hub put in a checkpoint. Each task
depends on its declared dependencies (other tasks; external dependencies are left out) and,
because phases run in order, on every task of the phase before its own. A task's expected
duration is its ``estimated_duration``, else an equal share of the workflow's
``resource_requirements.duration`` per phase (else unknown, counted as 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from baton.errors import BatonError
from baton.protocol.duration import parse_duration

__all__ = ["task_graph"]


def _share(definition: Mapping[str, Any], phases: list[str]) -> float | None:
    needs = definition.get("resource_requirements")
    raw = needs.get("duration") if isinstance(needs, Mapping) else None
    if raw is None or not phases:
        return None
    try:
        return parse_duration(raw) / len(phases)
    except BatonError:
        return None


def task_graph(state: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{task_id: {depends_on, status, phase, expected_duration, agent_id}}`` of a hub state."""
    definition = state.get("definition")
    statuses = state.get("tasks")
    if not isinstance(definition, Mapping) or not isinstance(statuses, Mapping):
        return {}
    phases = [str(p) for p in definition.get("phases") or []]
    specs = [t for t in definition.get("tasks") or [] if isinstance(t, Mapping)]
    share = _share(definition, phases)
    first = phases[0] if phases else None
    by_phase: dict[str | None, list[str]] = {}
    for spec in specs:
        by_phase.setdefault(spec.get("phase") or first, []).append(str(spec["task_id"]))
    graph: dict[str, dict[str, Any]] = {}
    for spec in specs:
        task_id = str(spec["task_id"])
        phase = spec.get("phase") or first
        declared = [
            str(d.get("task_id"))
            for d in spec.get("dependencies") or []
            if isinstance(d, Mapping) and d.get("task_id") in statuses
        ]
        index = phases.index(phase) if phase in phases else 0
        earlier = by_phase.get(phases[index - 1], []) if index > 0 else []
        current = statuses.get(task_id)
        current = current if isinstance(current, Mapping) else {}
        duration = spec.get("estimated_duration")
        graph[task_id] = {
            "depends_on": list(dict.fromkeys([*declared, *earlier])),
            "status": current.get("status", "pending"),
            "phase": phase,
            "expected_duration": duration if duration is not None else share,
            "agent_id": current.get("agent_id"),
        }
    return graph
