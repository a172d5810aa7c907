"""Protocol error reports assembled from a classification, an impact and suggestions.

:func:`error_report` gives the data of ``{"error_report": {...}}``'s inner object;
:func:`error_report_message` the envelope. :func:`context_from_signal` fills the report's
``context`` from the failure event.

Choices the protocol leaves open:

- ``workflow_risk`` is the impact's, raised by the error's severity: a critical error is a
  critical risk, a high one at least medium (a corrupt state puts the workflow at risk
  even when no task waits on it).
- Without an error message the report writes one from the classification and context
  (``"execution timeout: task t1 on agent a3"``).
- :func:`error_id_for` derives the report id from the failure event's id, so a failure
  handled twice is reported under the same id.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from baton.protocol.messages.base import Priority
from baton_recovery.failures.classify import Classification
from baton_recovery.failures.impact import Impact
from baton_recovery.failures.suggestions import Suggestion

__all__ = [
    "CONTEXT_FIELDS",
    "context_from_signal",
    "error_id_for",
    "error_report",
    "error_report_message",
    "workflow_risk",
]

CONTEXT_FIELDS: Final = ("component", "operation", "phase", "task", "agent")
"""Fields of the protocol's ``context`` object."""

_RISK_ORDER: Final[tuple[Priority, ...]] = ("low", "medium", "high", "critical")
_SEVERITY_RISK: Final[dict[str, Priority]] = {
    "critical": "critical",
    "high": "medium",
    "medium": "low",
    "low": "low",
    "info": "low",
}
_OPERATIONS: Final = {
    "TASK": "task_execution",
    "AGENT": "task_execution",
    "PHASE": "phase_execution",
    "WORKFLOW": "workflow_execution",
    "RESOURCE": "resource_allocation",
    "DEPENDENCY": "dependency_resolution",
    "STATE": "state_sync",
    "CHECKPOINT": "checkpoint",
    "SYSTEM": "system",
}
_ID_OK = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def error_id_for(source_id: str) -> str:
    """``err_<source_id>``, or ``err_<hash>`` when that would not be a valid id."""
    candidate = f"err_{source_id}"
    if _ID_OK.fullmatch(candidate):
        return candidate
    return f"err_{hashlib.sha256(source_id.encode()).hexdigest()[:40]}"


def workflow_risk(classification: Classification, impact: Impact | None) -> Priority:
    """The report's ``workflow_risk``: the impact's, raised by the severity (module doc)."""
    by_severity = _SEVERITY_RISK[classification.severity]
    by_impact = impact.workflow_risk if impact is not None else "low"
    return max(by_severity, by_impact, key=_RISK_ORDER.index)


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def context_from_signal(
    *, event_type: str, phase: str, data: Mapping[str, Any], component: str | None = None
) -> dict[str, str | None]:
    """The ``context`` of a report on a failure event.

    Args:
        event_type: The failure event's type; gives the operation (``TASK_*`` →
            ``task_execution``, ``RESOURCE_*`` → ``resource_allocation``...).
        phase: The event's phase (``global`` is left out).
        data: The event's data (``task_id``/``task``, ``agent_id``/``agent``).
        component: Component that reported it, e.g. the event's source.
    """
    prefix = event_type.partition("_")[0]
    return {
        "component": component,
        "operation": _OPERATIONS.get(prefix, event_type.lower()),
        "phase": phase if phase and phase != "global" else None,
        "task": _text(data.get("task_id")) or _text(data.get("task")),
        "agent": _text(data.get("agent_id")) or _text(data.get("agent")),
    }


def _message(classification: Classification, context: Mapping[str, Any]) -> str:
    kind = classification.type.replace("_", " ")
    where = [f"{k} {context[k]}" for k in ("task", "agent", "phase") if context.get(k)]
    prefix = f"{classification.category} {kind}"
    return f"{prefix}: {' on '.join(where)}" if where else prefix


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def error_report(
    *,
    error_id: str,
    workflow_id: str,
    timestamp: datetime,
    classification: Classification,
    context: Mapping[str, Any] | None = None,
    impact: Impact | None = None,
    suggestions: Sequence[Suggestion] = (),
    error_message: str | None = None,
    technical_details: str | None = None,
    stack_trace: str | None = None,
    related_events: Sequence[str] = (),
) -> dict[str, Any]:
    """The inner object of a protocol ``error_report`` (module doc).

    Args:
        error_id: Id of the report (:func:`error_id_for`).
        workflow_id: The workflow, or ``global``.
        timestamp: When the error happened.
        classification: Its classification.
        context: Where it happened (:data:`CONTEXT_FIELDS`; others are ignored).
        impact: What it blocks, when a task graph was at hand.
        suggestions: Ways to recover, best first.
        error_message: One line for people; default written from the classification.
        technical_details: Longer explanation.
        stack_trace: Stack trace, when there is one.
        related_events: Ids of related events (the failure event first).
    """
    where = {k: v for k, v in (context or {}).items() if k in CONTEXT_FIELDS and v is not None}
    assessment: dict[str, Any] = impact.to_dict() if impact is not None else {}
    assessment["workflow_risk"] = workflow_risk(classification, impact)
    details: dict[str, Any] = {
        "error_message": error_message or _message(classification, where),
        "related_events": list(related_events),
    }
    if technical_details is not None:
        details["technical_details"] = technical_details
    if stack_trace is not None:
        details["stack_trace"] = stack_trace
    return {
        "error_id": error_id,
        "workflow_id": workflow_id,
        "timestamp": _iso(timestamp),
        "classification": classification.to_dict(),
        "context": where,
        "details": details,
        "impact_assessment": assessment,
        "recovery_suggestions": [s.to_dict() for s in suggestions],
    }


def error_report_message(report: Mapping[str, Any]) -> dict[str, Any]:
    """``{"error_report": report}``, the protocol's envelope of :func:`error_report`'s data."""
    return {"error_report": dict(report)}
