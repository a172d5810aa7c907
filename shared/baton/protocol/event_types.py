"""The Event Types Registry of the protocol as data: types, their descriptions and data fields.

Every registered type lists the data fields the protocol requires, each with the JSON kinds it
may have. The protocol gives names only; the kinds are ours, chosen leniently:

- ids (``phase_id``, ``task_id``, ``agent_id``, ``allocation_id``, ``conflict_id``,
  ``old_agent``, ``new_agent``): string or integer (the protocol's own ``phase_id`` is ``3``);
  ``workflow_id``: string.
- durations (``estimated_duration``, ``actual_duration``, ``duration``,
  ``timeout_duration``) and times (``start_time``, ``resume_time``, ``completion_time``,
  ``last_response``, ``eta_update``): string (``"45m"``, an ISO time, ``"immediate"``) or
  number (seconds).
- percentages, usages and values: number; ``threshold``: number or string (``"5s"``);
  ``retry_count``: integer.
- ``*_details``, ``*_metrics``, ``workflow_definition``: object; ``resource_allocation``,
  ``current_state``: object or string (an id); ``state_validation``: object, string or
  boolean; ``impact``/``impact_assessment``, ``cleanup_status``, ``performance_metric``:
  string or object; ``results``, ``partial_results``: object or array (``results`` also
  string).
- plurals (``capabilities``, ``recovery_options``, ``conflicting_requests``,
  ``affected_components``): array.
- reasons, names, types, roles, severities, versions, requester: string.

``null`` matches no kind; a boolean is never a number; a tuple counts as an array (data
built in Python before it is encoded). :mod:`baton.protocol.registry` checks data against
these specs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal, get_args

__all__ = ["DEFAULT_EVENTS", "JSON_KINDS", "EventSpec", "FieldSpec", "JsonKind", "kind_of"]

JsonKind = Literal["string", "integer", "number", "boolean", "object", "array"]
"""JSON kinds a data field may have (``integer`` ⊂ ``number``)."""

JSON_KINDS: Final[tuple[str, ...]] = get_args(JsonKind)
"""Every :data:`JsonKind`, in declaration order."""

_KIND_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list, tuple),
}


def kind_of(value: Any) -> str:
    """JSON kind of a decoded value (``null`` for None), for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    for kind in ("integer", "number", "string", "object", "array"):
        if isinstance(value, _KIND_TYPES[kind]):
            return kind
    return type(value).__name__


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One required data field and the JSON kinds it may have."""

    name: str
    kinds: tuple[JsonKind, ...]
    _types: tuple[type, ...] = field(init=False, repr=False, compare=False)
    _bool_ok: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        types = tuple(t for kind in self.kinds for t in _KIND_TYPES[kind])
        object.__setattr__(self, "_types", types)
        object.__setattr__(self, "_bool_ok", "boolean" in self.kinds)

    def accepts(self, value: Any) -> bool:
        """True when ``value`` has one of this field's kinds."""
        if value is True or value is False:
            return self._bool_ok
        return isinstance(value, self._types)


@dataclass(frozen=True, slots=True)
class EventSpec:
    """A registered event type: its description and its required data fields."""

    name: str
    description: str
    fields: tuple[FieldSpec, ...]

    @property
    def required(self) -> tuple[str, ...]:
        """Names of the required data fields, in registry order."""
        return tuple(f.name for f in self.fields)

    @property
    def category(self) -> str:
        """First word of the type, lower-case: the routing-key category."""
        return self.name.partition("_")[0].lower()


_ID: Final[tuple[JsonKind, ...]] = ("string", "integer")
_TIME: Final[tuple[JsonKind, ...]] = ("string", "number")
_STR: Final[tuple[JsonKind, ...]] = ("string",)
_NUM: Final[tuple[JsonKind, ...]] = ("number",)
_OBJ: Final[tuple[JsonKind, ...]] = ("object",)
_LIST: Final[tuple[JsonKind, ...]] = ("array",)
_OBJ_STR: Final[tuple[JsonKind, ...]] = ("object", "string")
_LIMIT: Final[tuple[JsonKind, ...]] = ("number", "string")

_SEED_001: Final[tuple[tuple[str, str, tuple[tuple[str, tuple[JsonKind, ...]], ...]], ...]] = (
    ("WORKFLOW_CREATED", "New workflow instantiated",
     (("workflow_definition", _OBJ), ("estimated_duration", _TIME))),
    ("WORKFLOW_STARTED", "Workflow execution began",
     (("start_time", _TIME), ("resource_allocation", _OBJ_STR))),
    ("WORKFLOW_PAUSED", "Workflow execution paused",
     (("pause_reason", _STR), ("current_state", _OBJ_STR))),
    ("WORKFLOW_RESUMED", "Workflow execution resumed",
     (("resume_time", _TIME), ("state_validation", ("object", "string", "boolean")))),
    ("WORKFLOW_COMPLETED", "Workflow finished successfully",
     (("completion_time", _TIME), ("final_metrics", _OBJ))),
    ("WORKFLOW_FAILED", "Workflow failed and stopped",
     (("failure_reason", _STR), ("recovery_options", _LIST))),
    ("WORKFLOW_CANCELLED", "Workflow cancelled by user",
     (("cancellation_reason", _STR), ("cleanup_status", _OBJ_STR))),
    ("PHASE_STARTED", "Phase execution began",
     (("phase_id", _ID), ("estimated_duration", _TIME), ("resource_allocation", _OBJ_STR))),
    ("PHASE_COMPLETED", "Phase finished successfully",
     (("phase_id", _ID), ("actual_duration", _TIME), ("success_metrics", _OBJ))),
    ("PHASE_FAILED", "Phase failed",
     (("phase_id", _ID), ("failure_reason", _STR), ("partial_results", ("object", "array")))),
    ("PHASE_SKIPPED", "Phase skipped",
     (("phase_id", _ID), ("skip_reason", _STR), ("impact_assessment", _OBJ_STR))),
    ("PHASE_PROGRESS", "Phase progress update",
     (("phase_id", _ID), ("progress_percentage", _NUM), ("eta_update", _TIME))),
    ("TASK_ASSIGNED", "Task assigned to agent",
     (("task_id", _ID), ("agent_id", _ID), ("estimated_duration", _TIME))),
    ("TASK_STARTED", "Task execution began",
     (("task_id", _ID), ("agent_id", _ID), ("start_time", _TIME))),
    ("TASK_COMPLETED", "Task finished successfully",
     (("task_id", _ID), ("agent_id", _ID), ("duration", _TIME),
      ("results", ("object", "array", "string")))),
    ("TASK_FAILED", "Task failed",
     (("task_id", _ID), ("agent_id", _ID), ("failure_reason", _STR),
      ("retry_count", ("integer",)))),
    ("TASK_TIMEOUT", "Task exceeded time limit",
     (("task_id", _ID), ("agent_id", _ID), ("timeout_duration", _TIME))),
    ("TASK_REASSIGNED", "Task moved to different agent",
     (("task_id", _ID), ("old_agent", _ID), ("new_agent", _ID), ("reason", _STR))),
    ("AGENT_ALLOCATED", "Agent assigned to workflow",
     (("agent_id", _ID), ("workflow_id", _STR), ("role", _STR), ("capabilities", _LIST))),
    ("AGENT_DEALLOCATED", "Agent released from workflow",
     (("agent_id", _ID), ("workflow_id", _STR), ("reason", _STR))),
    ("AGENT_PERFORMANCE_ALERT", "Agent performance issue",
     (("agent_id", _ID), ("performance_metric", _OBJ_STR), ("threshold", _LIMIT))),
    ("AGENT_ERROR", "Agent encountered error",
     (("agent_id", _ID), ("error_type", _STR), ("error_details", _OBJ))),
    ("AGENT_TIMEOUT", "Agent unresponsive",
     (("agent_id", _ID), ("timeout_duration", _TIME), ("last_response", _TIME))),
    ("RESOURCE_ALLOCATED", "Resources assigned",
     (("allocation_id", _ID), ("resource_details", _OBJ), ("requester", _STR))),
    ("RESOURCE_DEALLOCATED", "Resources released",
     (("allocation_id", _ID), ("release_reason", _STR))),
    ("RESOURCE_CONFLICT", "Resource conflict detected",
     (("conflict_id", _ID), ("conflicting_requests", _LIST), ("severity", _STR))),
    ("RESOURCE_THRESHOLD", "Resource usage threshold breach",
     (("resource_type", _STR), ("current_usage", _NUM), ("threshold", _LIMIT))),
    ("RESOURCE_OPTIMIZED", "Resource allocation optimized",
     (("optimization_type", _STR), ("improvement_metrics", _OBJ))),
    ("SYSTEM_STARTUP", "System component started",
     (("component_name", _STR), ("version", _STR), ("capabilities", _LIST))),
    ("SYSTEM_SHUTDOWN", "System component stopped",
     (("component_name", _STR), ("shutdown_reason", _STR))),
    ("SYSTEM_THRESHOLD", "System threshold exceeded",
     (("metric_name", _STR), ("current_value", _NUM), ("threshold", _LIMIT))),
    ("SYSTEM_ERROR", "System-level error",
     (("error_type", _STR), ("affected_components", _LIST), ("severity", _STR))),
    ("SYSTEM_MAINTENANCE", "Maintenance operation",
     (("operation_type", _STR), ("estimated_duration", _TIME), ("impact", _OBJ_STR))),
)  # fmt: skip

DEFAULT_EVENTS: Final[Mapping[str, EventSpec]] = MappingProxyType(
    {
        name: EventSpec(name, description, tuple(FieldSpec(f, kinds) for f, kinds in fields))
        for name, description, fields in _SEED_001
    }
)
"""The registered types of the protocol, by name."""
