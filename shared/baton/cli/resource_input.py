"""The helper forms of an allocation request, as the resource manager's one form.

The protocol's ``allocation_request`` passes as it is. The helper protocol's ``{workflow_id,
requirements, priority, estimated_duration}`` and ``{workflow_id, workflow_type,
estimated_complexity, time_constraints, prediction_context}`` are mapped field by field;
what the allocator has no use for is listed in ``ignored`` (with why) instead of being
refused, so the protocol's lines work and the caller sees what had no effect.
"""

from __future__ import annotations

import re
from typing import Any

from baton.errors import ProtocolError
from baton.protocol import fields

__all__ = ["KNOWN_FIELDS", "normalise_allocation"]

KNOWN_FIELDS = frozenset(
    {
        "request_id",
        "workflow_id",
        "requester",
        "timestamp",
        "priority",
        "resources",
        "constraints",
        "fallback_options",
    }
)
_RESOURCE_FIELDS = frozenset(
    {"agents", "memory_gb", "cpu_cores", "duration_hours", "exclusive_files", "tool_instances"}
)
_MEMORY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]i?b?)?\s*$", re.IGNORECASE)
_PER_GB = {"k": 1 / 1024**2, "m": 1 / 1024, "g": 1.0, "t": 1024.0}
_NO_EFFECT = "the allocator does not use it (no prediction model)"
_JSON_KINDS: dict[type, str] = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "true or false",
    type(None): "null",
}


def _memory_gb(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _MEMORY.match(str(value))
    if match is None:
        raise ProtocolError(f"not a memory size: {value!r}", part="requirements.memory")
    unit = (match.group(2) or "g")[0].lower()
    return float(match.group(1)) * _PER_GB[unit]


def _hours(value: Any, *, part: str) -> float:
    secs = fields.seconds(value)
    if secs is None:
        raise ProtocolError(f"not a duration: {value!r}", part=part)
    return secs / 3600


def _resources(loose: dict[str, Any], *, part: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in loose.items():
        if key in _RESOURCE_FIELDS:
            out[key] = value
        elif key == "memory":
            out["memory_gb"] = _memory_gb(value)
        elif key in ("cpu", "cpus"):
            out["cpu_cores"] = value
        elif key == "duration":
            out["duration_hours"] = _hours(value, part=f"{part}.duration")
        else:
            raise ProtocolError(f"unknown resource {key!r}", part=f"{part}.{key}")
    return out


def normalise_allocation(body: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The allocation request for ``body`` and the fields ignored (name → why).

    Raises:
        ProtocolError: not an object, no workflow_id, or a resource that cannot be read;
            ``part`` names which.
    """
    inner = body.get("allocation_request", body) if isinstance(body, dict) else body
    if not isinstance(inner, dict):
        raise ProtocolError(
            f"must be a JSON object (the protocol's allocation_request or its body), "
            f"not {_JSON_KINDS.get(type(inner), 'that')}",
            part="allocation_request",
        )
    if not isinstance(inner.get("workflow_id"), str) or not inner["workflow_id"]:
        raise ProtocolError(
            "is required: the id of the workflow the resources are for (a string)",
            part="allocation_request.workflow_id",
        )
    request = {k: v for k, v in inner.items() if k in KNOWN_FIELDS}
    ignored: dict[str, str] = {}
    resources = dict(request.get("resources") or {})
    for key in ("requirements", "resource_requirements"):
        if isinstance(inner.get(key), dict):
            resources.update(_resources(inner[key], part=key))
    if "estimated_duration" in inner:
        resources["duration_hours"] = _hours(inner["estimated_duration"], part="estimated_duration")
    if resources:
        request["resources"] = resources
    constraints = inner.get("time_constraints")
    if isinstance(constraints, dict):
        if "priority" in constraints and "priority" not in request:
            request["priority"] = constraints["priority"]
        if "deadline" in constraints:
            ignored["time_constraints.deadline"] = "allocations have no deadline; " + _NO_EFFECT
    handled = KNOWN_FIELDS | {
        "requirements",
        "resource_requirements",
        "estimated_duration",
        "time_constraints",
    }
    for key in sorted(set(inner) - handled):
        ignored[key] = _NO_EFFECT
    return request, ignored
