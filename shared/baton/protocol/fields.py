"""Lenient readers of event data fields: an odd or missing field reads as None.

For services that observe events other services may reject (monitor, status): a field of
the wrong kind must not stop them from counting the event, so these never raise. Also the
hub's default workflow type, which every service derives the same way.
"""

from __future__ import annotations

import math
from typing import Any, Final

from baton.errors import ProtocolError
from baton.protocol.duration import parse_duration

__all__ = ["TERMINAL_STATUSES", "number", "seconds", "text", "workflow_type_of"]

TERMINAL_STATUSES: Final[frozenset[str]] = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
"""The statuses a workflow ends in."""


def text(value: Any) -> str | None:
    """``value`` when it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def number(value: Any) -> float | None:
    """``value`` as a float when it is a finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def seconds(value: Any) -> float | None:
    """Seconds in a duration (``"1s46ms"``, ``"2h 30m"``) or a number of seconds, else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return parse_duration(value)
    except ProtocolError:
        return None


def workflow_type_of(workflow_id: str) -> str:
    """The default workflow type: the id without its trailing number.

    ``bug_fix_002`` → ``bug_fix``; an id that is all digits is its own type.
    """
    return workflow_id.rstrip("0123456789").rstrip("_-.") or workflow_id
