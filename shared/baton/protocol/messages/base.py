"""Building blocks shared by the messages of the protocol.

Choices the protocol leaves open:

- Every model forbids unknown fields (a typo is an error, not silently dropped data), except
  the few marked open (``metadata``, ``alternatives``), which carry free-form extras.
- Field descriptions come from the attribute docstrings, so they reach the JSON Schemas.
- Ids default to ``<prefix>_<UUIDv7>`` (``req_…``, ``resp_…``, ``alloc_…``, ``ckpt_…``,
  ``err_…``): unique and time-ordered, like event ids.
- Timestamps are ISO-8601; a naive one is taken as UTC, every one is normalised to UTC, and
  the default is the time of creation.
- Durations are strings such as ``"10m"`` (:mod:`baton.protocol.duration`).
- Percentages are numbers in 0..100, probabilities and ratios numbers in 0..1.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from baton.protocol.duration import DURATION_PATTERN
from baton.protocol.headers import new_event_id

__all__ = [
    "ID_PATTERN",
    "Duration",
    "Identifier",
    "Message",
    "OpenMessage",
    "Percent",
    "Priority",
    "Probability",
    "Timestamp",
    "new_id",
    "utc_now",
]

ID_PATTERN = r"^[A-Za-z0-9_.-]{1,128}$"


def new_id(prefix: str) -> str:
    """A fresh id ``<prefix>_<UUIDv7>``, e.g. ``req_01947f3e-…``."""
    return f"{prefix}_{new_event_id()}"


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


Timestamp = Annotated[datetime, AfterValidator(_as_utc)]
"""ISO-8601 date and time, normalised to UTC (naive means UTC)."""

Duration = Annotated[str, StringConstraints(pattern=DURATION_PATTERN, max_length=64)]
"""A duration string: ``30s``, ``10m``, ``2h``, ``2h 30m``, ``1.2s``."""

Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
"""An id as in event lines: ``[A-Za-z0-9_.-]{1,128}``."""

Percent = Annotated[float, Field(ge=0, le=100)]
"""A percentage, 0..100."""

Probability = Annotated[float, Field(ge=0, le=1)]
"""A probability or ratio, 0..1."""

Priority = Literal["critical", "high", "medium", "low"]
"""Priority of a workflow or a request."""


class Message(BaseModel):
    """Base of every protocol model: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class OpenMessage(BaseModel):
    """Base of the few free-form objects: unknown fields are kept."""

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)
