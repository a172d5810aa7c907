"""JSON input of helper commands: an argument or ``-`` for stdin, the helper request envelope.

The helper protocol's ``format_helper_request`` wraps the parameters as ``{"operation", "data",
"metadata", "timestamp", "request_id"}``. Such an envelope is unwrapped and its
``request_id`` becomes the request's id, so a caller that repeats the same envelope (the helper
protocol's ``retry_helper_command``) has it applied once: the services store replies by request id.
The reply printed echoes that ``request_id``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import orjson

from baton.cli.common import fail
from baton.errors import ProtocolError

__all__ = ["JsonInput", "is_json_arg", "json_arg", "json_object", "parse_json"]

_ENVELOPE_KEYS = frozenset({"operation", "data", "metadata", "timestamp", "request_id"})
_JSON_STARTS = ("{", "[", '"')  # no workflow id starts so ([A-Za-z0-9_.-])


def is_json_arg(text: str) -> bool:
    """Whether an argument that is either JSON or an id is meant as JSON (``-`` is stdin).

    Any JSON array or string counts, so that a wrong kind of JSON is refused as such
    instead of being taken for an id.
    """
    return text == "-" or text.lstrip().startswith(_JSON_STARTS)


@dataclass(frozen=True)
class JsonInput:
    """A parsed JSON argument.

    Attributes:
        value: The parameters (the envelope's ``data`` when one was given).
        request_id: The envelope's ``request_id``, reused on every retry.
        operation: The envelope's ``operation``, when given.
    """

    value: Any
    request_id: str | None = None
    operation: str | None = None


def parse_json(text: str, *, what: str) -> JsonInput:
    """Parse ``text`` (``-`` reads stdin) and unwrap the helper request envelope.

    Raises:
        ProtocolError: not valid JSON, or an envelope with a bad ``request_id``.
    """
    if text == "-":
        text = sys.stdin.read()
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"not valid JSON: {exc}", part=what, position=exc.pos) from None
    if not (isinstance(value, dict) and "operation" in value and "data" in value):
        return JsonInput(value=value)
    if not set(value) <= _ENVELOPE_KEYS:
        return JsonInput(value=value)  # an object that merely has such keys, not an envelope
    request_id = value.get("request_id")
    if request_id is not None and (not isinstance(request_id, str) or not request_id.strip()):
        raise ProtocolError("request_id must be a non-empty string", part=f"{what}.request_id")
    operation = value.get("operation")
    return JsonInput(
        value=value["data"],
        request_id=request_id,
        operation=operation if isinstance(operation, str) else None,
    )


def json_arg(text: str, *, what: str) -> JsonInput:
    """:func:`parse_json` for a command: bad input exits 2 naming the argument."""
    try:
        return parse_json(text, what=what)
    except ProtocolError as exc:
        raise fail(exc) from None


def json_object(text: str, *, what: str) -> tuple[dict[str, Any], str | None]:
    """A JSON object argument and its request id; anything else exits 2."""
    got = json_arg(text, what=what)
    if not isinstance(got.value, dict):
        raise fail(ProtocolError("must be a JSON object", part=what))
    return got.value, got.request_id
