"""Durations as the protocol writes them: ``"30s"``, ``"10m"``, ``"2h"``, ``"2h 30m"``, ``"1.2s"``.

A duration is one or more ``<number><unit>`` groups, optionally separated by one space;
units ``ms``, ``s``, ``m`` (minutes), ``h``, ``d``, ``w``; numbers are non-negative decimals.
Choices the protocol leaves open: no sign, no exponent, no bare number in the string form
(``"30"`` is refused: seconds or minutes?), units lower-case only (``M`` could be months).
Where a protocol field accepts a plain number, it means seconds.
"""

from __future__ import annotations

import re
from typing import Final

from baton.errors import ProtocolError

__all__ = ["DURATION_PATTERN", "format_duration", "parse_duration"]

_GROUP = r"[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h|d|w)"
DURATION_PATTERN: Final = rf"^{_GROUP}(?: ?{_GROUP})*$"
"""Regular expression of a duration string (also the JSON Schema ``pattern``)."""

_FULL = re.compile(DURATION_PATTERN)
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w)")
_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_MAX_CHARS: Final = 64


def parse_duration(text: str | float, *, part: str = "duration") -> float:
    """Seconds in a duration string; a plain non-negative number is already seconds.

    Args:
        text: ``"45m"``, ``"2h 30m"``, ``"1.2s"``... or a number of seconds.
        part: Name of the input part used in the error (e.g. ``data.estimated_duration``).

    Raises:
        ProtocolError: not a duration.
    """
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ProtocolError(f"expected a duration, found {type(text).__name__}", part=part)
    if not isinstance(text, str):
        if not 0 <= text < float("inf"):
            raise ProtocolError(f"{text!r} is not a non-negative number of seconds", part=part)
        return float(text)
    if len(text) > _MAX_CHARS or _FULL.match(text) is None:
        raise ProtocolError(
            f"{text[:_MAX_CHARS]!r} is not a duration like '30s', '10m', '2h 30m'", part=part
        )
    return sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(text))


def format_duration(seconds: float) -> str:
    """The shortest duration string for ``seconds``, to the millisecond (``9000`` → ``2h30m``).

    Raises:
        ProtocolError: ``seconds`` is negative or not finite.
    """
    if not 0 <= seconds < float("inf"):
        raise ProtocolError(f"{seconds!r} is not a non-negative number of seconds", part="duration")
    millis = round(seconds * 1000)
    if millis == 0:
        return "0s"
    out: list[str] = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, millis = divmod(millis, size)
        if count:
            out.append(f"{count}{unit}")
    if millis:
        out.append(f"{millis}ms")
    return "".join(out)
