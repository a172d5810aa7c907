"""Memory sizes and durations as workflow definitions write them.

- Memory: ``"2GB"``, ``"512MB"``, ``"1.5 GiB"``, ``"1TB"`` or a plain number of GB. Units are
  binary (1 GB = 1024 MB), the way agents' memory limits are usually meant; case is ignored.
- Durations: the protocol's strings (``"4h"``, ``"10m"``, ``"2h 30m"``), or a number of seconds
  where a field says so (definitions may write dependency timeouts as ``120``).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Final

from baton.errors import ProtocolError
from baton.protocol.duration import format_duration, parse_duration

__all__ = ["after", "format_seconds", "iso", "parse_memory_gb", "parse_seconds"]

_MEMORY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_TO_GB: Final = {"b": 1024.0**-3, "k": 1024.0**-2, "m": 1 / 1024, "g": 1.0, "t": 1024.0}


def parse_memory_gb(value: str | float) -> float:
    """GB in a memory size such as ``"2GB"`` or ``"512MB"``; a plain number is GB.

    Raises:
        ValueError: not a size (pydantic reports it against the field).
    """
    if isinstance(value, bool):
        raise ValueError("memory must be a size like '2GB' or '512MB', not a boolean")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"memory {value} is negative")
        return float(value)
    match = _MEMORY.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a memory size like '2GB' or '512MB'")
    number, unit = match.groups()
    return float(number) * _TO_GB[(unit or "g")[0].lower()]


def parse_seconds(value: str | float, *, part: str = "duration") -> float:
    """Seconds in a duration string (``"10m"``) or a number of seconds.

    Raises:
        ValueError: not a duration (a ``ValueError`` so pydantic names the field).
    """
    try:
        return parse_duration(value, part=part)
    except ProtocolError as exc:
        raise ValueError(str(exc)) from None


def format_seconds(seconds: float) -> str:
    """A duration string for a non-negative number of seconds (``14400`` → ``"4h"``)."""
    return format_duration(max(0.0, seconds))


def iso(moment: datetime) -> str:
    """``moment`` as an ISO-8601 UTC string ending in ``Z``."""
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def after(moment: datetime, seconds: float) -> datetime:
    """``moment`` plus ``seconds``."""
    return moment + timedelta(seconds=seconds)
