"""Routing keys and subscription patterns.

A routing key is ``<category>.<workflow_id>.<action>``, derived from the event type:
``RESOURCE_ALLOCATED`` on ``wf_001`` → ``resource.wf_001.allocated``. The category is the
type's first word, the action the rest (``AGENT_PERFORMANCE_ALERT`` → ``agent`` /
``performance_alert``); a one-word type gets the action ``event``.

Choice (the protocol leaves it open): a ``.`` inside a workflow id would split a segment, so in a
routing key it is written ``~`` (a character workflow ids cannot contain). Patterns are
matched against that form: ``resource.a~b.*`` matches workflow ``a.b``.

Patterns: ``*`` matches exactly one segment, ``#`` zero or more.
"""

from __future__ import annotations

import re
from functools import lru_cache

from baton.errors import ProtocolError

__all__ = ["Pattern", "routing_key", "routing_key_from_line"]

_SEGMENT = re.compile(r"^[A-Za-z0-9_~-]+$")


def routing_key(event_type: str, workflow_id: str) -> str:
    """The routing key of an event type on a workflow."""
    category, _, action = event_type.lower().partition("_")
    return f"{category}.{workflow_id.replace('.', '~')}.{action or 'event'}"


def routing_key_from_line(value: bytes) -> str | None:
    """Routing key from the first two fields of a raw line, without decoding its data.

    Used for records from producers that did not set the routing-key header. Returns None
    when the line does not even have two colon-separated fields; the decoder reports why.
    A line wrapped in double quotes (accepted by the codec) gives the key of its content.
    """
    start = 1 if value[:1] == b'"' else 0
    first = value.find(b":", start)
    if first <= start:
        return None
    second = value.find(b":", first + 1)
    if second <= first + 1:
        return None
    try:
        event_type = value[start:first].decode("ascii")
        workflow_id = value[first + 1 : second].decode("ascii")
    except UnicodeDecodeError:
        return None
    return routing_key(event_type, workflow_id)


class Pattern:
    """A compiled subscription pattern such as ``resource.*.allocated`` or ``workflow.#``.

    Args:
        text: The pattern; segments separated by ``.``; ``*`` one segment, ``#`` any number.

    Raises:
        ProtocolError: an empty segment or a character that cannot be in a routing key.
    """

    __slots__ = ("_regex", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._regex = _compile(text)

    def matches(self, key: str) -> bool:
        """True when routing key ``key`` matches this pattern."""
        return self._regex.match("." + key) is not None

    def __repr__(self) -> str:
        return f"Pattern({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pattern) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


@lru_cache(maxsize=1024)
def _compile(text: str) -> re.Pattern[str]:
    if not text:
        raise ProtocolError("pattern is empty", part="pattern")
    parts: list[str] = []
    for index, segment in enumerate(text.split(".")):
        if segment == "#":
            parts.append(r"(?:\.[^.]+)*")
        elif segment == "*":
            parts.append(r"\.[^.]+")
        elif _SEGMENT.match(segment):
            parts.append(r"\." + re.escape(segment))
        else:
            raise ProtocolError(
                f"segment {index + 1} {segment!r} of pattern {text!r} is not '*', '#' or "
                "letters, digits, '_', '-', '~'",
                part="pattern",
            )
    return re.compile("^" + "".join(parts) + "$")
