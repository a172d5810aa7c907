"""Reports the helper commands compose from several services' answers (pure functions).

Each takes the services' replies as they came (workflow-status's detail, workflow-recovery's
failure analysis, the performance monitor's workflow metrics) and derives the helper commands'
report; nothing here talks to a service.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

__all__ = [
    "WEIGHTS",
    "allocation_efficiency",
    "lessons_learned",
    "recovery_summary",
    "system_report",
    "track_workflows",
]

WEIGHTS: Final = {"critical": 4.0, "high": 3.0, "medium": 2.0, "low": 1.0}
SECTIONS: Final = ("progress", "resources", "predictions", "bottlenecks", "conflicts", "alerts")
_RECOVERED_BY: Final = frozenset(
    {"TASK_COMPLETED", "PHASE_COMPLETED", "WORKFLOW_COMPLETED", "WORKFLOW_RESUMED"}
    | {"WORKFLOW_RESTORED", "TASK_STARTED"}
)


def _at(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


def lessons_learned(reports: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One lesson per kind of error: how often, what was decided, the best suggestion."""
    grouped: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for item in reports:
        report = item.get("error_report") or {}
        c = report.get("classification") or {}
        grouped.setdefault((str(c.get("category")), str(c.get("type"))), []).append(item)
    lessons = []
    for (category, kind), items in grouped.items():
        decisions = Counter(str((i.get("decision") or {}).get("kind")) for i in items)
        suggestions = [
            s
            for i in items
            for s in (i.get("error_report") or {}).get("recovery_suggestions") or []
        ]
        best = max(suggestions, key=lambda s: s.get("success_probability", 0), default=None)
        lessons.append(
            {
                "category": category,
                "type": kind,
                "occurrences": len(items),
                "decisions": dict(decisions),
                "prevention": best,
            }
        )
    return sorted(lessons, key=lambda x: -int(x["occurrences"]))


def recovery_summary(*, status: Mapping[str, Any], analysis: Mapping[str, Any]) -> dict[str, Any]:
    """Whether a workflow recovered from its failures, and how long that took.

    Recovery time runs from the first error report to the first sign of work going on
    after it in the timeline (a task started or completed, a resume, a restore).
    """
    reports = list(analysis.get("reports") or [])
    errors = sorted(
        t for t in (_at((r.get("error_report") or {}).get("timestamp")) for r in reports) if t
    )
    first_error = errors[0] if errors else None
    recovered_at = None
    if first_error is not None:
        for entry in status.get("timeline") or []:
            at = _at(entry.get("at"))
            if at and at > first_error and entry.get("event_type") in _RECOVERED_BY:
                recovered_at = at
                break
    pending = list(analysis.get("pending_actions") or [])
    state = str(status.get("status"))
    if not reports:
        verdict = "no_failures"
    elif state in ("FAILED", "CANCELLED"):
        verdict = "failed"
    elif pending or recovered_at is None or state == "PAUSED":
        verdict = "recovering"
    else:
        verdict = "recovered"
    return {
        "workflow_id": status.get("workflow_id"),
        "status": state,
        "progress": status.get("progress"),
        "verdict": verdict,
        "errors": len(reports),
        "decisions": dict(Counter(str((r.get("decision") or {}).get("kind")) for r in reports)),
        "pending_actions": len(pending),
        "first_error_at": first_error.isoformat() if first_error else None,
        "recovered_at": recovered_at.isoformat() if recovered_at else None,
        "recovery_time_s": (recovered_at - first_error).total_seconds()
        if first_error and recovered_at
        else None,
        "latest_checkpoint": analysis.get("latest_checkpoint"),
    }


def allocation_efficiency(
    *, status: Mapping[str, Any], metrics: Mapping[str, Any] | None, now: datetime
) -> dict[str, Any]:
    """Busy agent time over held agent time for one workflow.

    Held: the allocation's agents from the workflow's start to its end (or now). Busy: the
    sum of completed task durations the performance monitor measured.
    """
    allocation = status.get("allocation") or {}
    agents = len(allocation.get("agents") or []) or int(
        (allocation.get("resource_details") or {}).get("agents", 0) or 0
    )
    started = _at(status.get("started_at"))
    finished = _at(status.get("finished_at")) or now
    held_s = max(0.0, (finished - started).total_seconds()) * agents if started else 0.0
    durations = (metrics or {}).get("task_durations") or {}
    busy_s = sum(float(d.get("mean") or 0) * int(d.get("count") or 0) for d in durations.values())
    used_agents = sorted(durations)
    return {
        "workflow_id": status.get("workflow_id"),
        "status": status.get("status"),
        "allocation_id": allocation.get("allocation_id"),
        "agents_allocated": agents,
        "agents_used": len(used_agents),
        "held_agent_seconds": round(held_s, 3),
        "busy_agent_seconds": round(busy_s, 3),
        "efficiency": round(min(1.0, busy_s / held_s), 4) if held_s > 0 else None,
        "tasks_per_agent": {a: int(durations[a].get("count") or 0) for a in used_agents},
    }


def track_workflows(
    tracked: Sequence[Mapping[str, Any]], found: Mapping[str, Mapping[str, Any] | None]
) -> dict[str, Any]:
    """Weighted progress of the given workflows (``track-workflows``).

    ``found`` maps each workflow id to its status (None when workflow-status has none).
    """
    rows: list[dict[str, Any]] = []
    total_weight = weighted = 0.0
    for item in tracked:
        wid = str(item["workflow_id"])
        weight = item.get("weight", "medium")
        w = float(WEIGHTS.get(str(weight), weight if isinstance(weight, int | float) else 2.0))
        state = found.get(wid)
        progress = float(state.get("progress") or 0.0) if state else 0.0
        rows.append(
            {
                "workflow_id": wid,
                "weight": w,
                "critical_path": bool(item.get("critical_path", False)),
                "known": state is not None,
                "status": state.get("status") if state else None,
                "progress": progress,
                "estimate": state.get("estimate") if state else None,
            }
        )
        total_weight += w
        weighted += w * progress
    critical = [float(r["progress"]) for r in rows if r["critical_path"]]
    return {
        "workflows": rows,
        "weighted_progress": round(weighted / total_weight, 2) if total_weight else 0.0,
        "critical_path_progress": round(min(critical), 2) if critical else None,
        "unknown": [r["workflow_id"] for r in rows if not r["known"]],
    }


def system_report(overview: Mapping[str, Any], *, include: Sequence[str]) -> dict[str, Any]:
    """The system overview cut to the sections asked for (``system-report``)."""
    sections = {
        "progress": {k: overview.get(k) for k in ("counts", "active", "queue") if k in overview},
        "resources": overview.get("resources"),
        "predictions": [
            {"workflow_id": w.get("workflow_id"), "estimate": w.get("estimate")}
            for w in overview.get("active") or []
        ],
        "bottlenecks": overview.get("bottlenecks"),
        "conflicts": overview.get("conflicts"),
        "alerts": overview.get("alerts"),
    }
    return {name: sections[name] for name in include}
