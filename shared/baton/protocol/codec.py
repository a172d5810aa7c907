"""The line codec: ``EVENT_TYPE:workflow_id:phase:data`` ⇄ fields (SPEC §2).

Minimal first version: strict JSON data only. (Extended with the seeds' single-quoted form.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from baton.errors import ProtocolError

__all__ = ["Line", "format_line", "parse_data", "parse_line"]

_TYPE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


@dataclass(frozen=True, slots=True)
class Line:
    """The four fields of one event line."""

    event_type: str
    workflow_id: str
    phase: str
    data: dict[str, Any]


def parse_data(text: str) -> dict[str, Any]:
    """Decode the data field: a JSON object."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"not valid JSON: {exc}", part="data") from None
    if not isinstance(value, dict):
        raise ProtocolError("must be a JSON object", part="data")
    return value


def parse_line(raw: str | bytes, *, max_bytes: int = 1_048_576) -> Line:
    """Split and check one line; raises ProtocolError naming the wrong part."""
    if isinstance(raw, bytes):
        if len(raw) > max_bytes:
            raise ProtocolError(f"line is {len(raw)} bytes, over {max_bytes}", part="line")
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError("not UTF-8", part="line", position=exc.start) from None
    parts = raw.split(":", 3)
    if len(parts) != 4:
        raise ProtocolError("expected EVENT_TYPE:workflow_id:phase:data", part="line")
    event_type, workflow_id, phase, data = parts
    if not _TYPE.match(event_type):
        raise ProtocolError(f"{event_type!r} is not [A-Z][A-Z0-9_]*", part="event_type")
    if not _ID.match(workflow_id):
        raise ProtocolError(f"{workflow_id!r} is not [A-Za-z0-9_.-]{{1,128}}", part="workflow_id")
    if not _ID.match(phase):
        raise ProtocolError(f"{phase!r} is not [A-Za-z0-9_.-]{{1,128}}", part="phase")
    return Line(event_type, workflow_id, phase, parse_data(data))


def format_line(event_type: str, workflow_id: str, phase: str, data: dict[str, Any]) -> str:
    """Format a line with compact JSON data."""
    return f"{event_type}:{workflow_id}:{phase}:{orjson.dumps(data).decode()}"
