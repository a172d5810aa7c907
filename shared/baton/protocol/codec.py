"""The line codec: ``EVENT_TYPE:workflow_id:phase:data`` ⇄ fields.

Parsing splits on the first three colons only (data may hold colons). The valid path is one
compiled regex over the head of the line plus ``orjson.loads`` of the data; everything
slower (the relaxed single-quoted data, diagnosis of a bad line) runs only when
that fails. Every error is a :class:`~baton.errors.ProtocolError` whose ``part`` names the
wrong part (``line``, ``event_type``, ``workflow_id``, ``phase``, ``data``,
``data.<path>``) and whose ``position`` is the 0-based character offset in the line.

Choices the protocol leaves open:

- Data written with single quotes (``{'duration':'45m'}``) is read by the safe parser of
  :mod:`baton.protocol.relaxed_json`; :func:`format_line` always writes compact JSON, so a
  line is normalised on its way out.
- A whole line wrapped in one pair of double quotes (``"PHASE_COMPLETED:wf_001:...:{...}"``,
  as the protocol prints its examples in bash) is accepted: an event type never starts with
  ``"``, so the quotes are unambiguous. They are stripped without any unescaping; a line
  that starts with ``"`` must end with one.
- One trailing ``\\n`` or ``\\r\\n`` is ignored (lines read from a file or a terminal).
  Whitespace inside data is JSON whitespace and accepted; the line written out has none.
- ``EVENT_TYPE`` is at most 128 characters, like the ids. The size limits of the data are
  in :mod:`baton.protocol.limits`; :func:`format_line` enforces them too, so whatever it
  writes parses back (the line size limit excepted: it is a per-deployment setting).
- A bad line is reported by its first wrong or missing field, in order (``hello`` is a
  bad ``event_type``, ``NO_FIELDS`` lacks its ``workflow_id``); ``line`` is for what
  concerns the whole line (empty, too big, unbalanced quotes).
- For bytes, the UTF-8 check reports the character offset of the first bad byte and the
  part it falls in (counted by the colons before it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final, NoReturn

import orjson

from baton.errors import ProtocolError
from baton.protocol import relaxed_json
from baton.protocol.limits import (
    MAX_EVENT_TYPE_CHARS,
    MAX_ID_CHARS,
    MAX_LINE_BYTES,
    check_limits,
    needs_walk,
)

__all__ = ["LINE_PATTERN", "MAX_LINE_BYTES", "Line", "format_line", "parse_data", "parse_line"]

LINE_PATTERN: Final = (
    rf"^[A-Z][A-Z0-9_]{{0,{MAX_EVENT_TYPE_CHARS - 1}}}"
    rf":[A-Za-z0-9_.-]{{1,{MAX_ID_CHARS}}}:[A-Za-z0-9_.-]{{1,{MAX_ID_CHARS}}}:\{{.*\}}$"
)
"""Regular expression of a line as :func:`format_line` writes it (used in the AsyncAPI)."""

_HEAD = re.compile(
    rf"([A-Z][A-Z0-9_]{{0,{MAX_EVENT_TYPE_CHARS - 1}}})"
    rf":([A-Za-z0-9_.-]{{1,{MAX_ID_CHARS}}}):([A-Za-z0-9_.-]{{1,{MAX_ID_CHARS}}}):"
)
_BAD_TYPE_CHAR = re.compile(r"[^A-Z0-9_]")
_BAD_ID_CHAR = re.compile(r"[^A-Za-z0-9_.-]")
_PARTS: Final = ("event_type", "workflow_id", "phase", "data")
_FORMAT = "EVENT_TYPE:workflow_id:phase:data"
_KINDS = {
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


@dataclass(frozen=True, slots=True)
class Line:
    """The four fields of one event line."""

    event_type: str
    workflow_id: str
    phase: str
    data: dict[str, Any]


def parse_data(text: str) -> dict[str, Any]:
    """Decode the data field: a JSON object, or the single-quoted variant of one.

    Raises:
        ProtocolError: not an object, or over a limit; ``position`` is an offset in ``text``.
    """
    return _decode_data(text, 0)


def parse_line(raw: str | bytes, *, max_bytes: int = MAX_LINE_BYTES) -> Line:
    """Split and check one line.

    Args:
        raw: The line, as text or as UTF-8 bytes (a Kafka record value).
        max_bytes: Largest accepted size of the line in UTF-8 bytes.

    Raises:
        ProtocolError: the line is not ``EVENT_TYPE:workflow_id:phase:data``; ``part`` says
            which part is wrong and ``position`` where.
    """
    if isinstance(raw, bytes | bytearray):
        if len(raw) > max_bytes:
            raise ProtocolError(f"line is {len(raw)} bytes, over {max_bytes}", part="line")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            _not_utf8(raw[: exc.start].decode("utf-8"), f"byte 0x{raw[exc.start]:02x}")
    else:
        text = raw
        if len(text) > max_bytes:
            raise ProtocolError(f"line is over {max_bytes} bytes", part="line")
        if not text.isascii():
            try:
                size = len(text.encode("utf-8"))
            except UnicodeEncodeError as exc:
                _not_utf8(text[: exc.start], f"lone surrogate U+{ord(text[exc.start]):04X}")
            if size > max_bytes:
                raise ProtocolError(f"line is {size} bytes, over {max_bytes}", part="line")
    if text.endswith("\n"):
        text = text[:-2] if text.endswith("\r\n") else text[:-1]
    base = 0
    if text.startswith('"'):
        if len(text) < 2 or not text.endswith('"'):
            raise ProtocolError(
                "line starts with '\"' but does not end with one", part="line", position=len(text)
            )
        text = text[1:-1]
        base = 1
    head = _HEAD.match(text)
    if head is None:
        _diagnose(text, base)
    event_type, workflow_id, phase = head.groups()
    return Line(event_type, workflow_id, phase, _decode_data(text[head.end() :], base + head.end()))


def format_line(event_type: str, workflow_id: str, phase: str, data: dict[str, Any]) -> str:
    """Format a line with compact JSON data (the normal form of any accepted line).

    Raises:
        ProtocolError: a field is invalid, or data is not a JSON-encodable object within
            the limits of :mod:`baton.protocol.limits`.
    """
    if _HEAD.fullmatch(f"{event_type}:{workflow_id}:{phase}:") is None:
        for name, value in zip(_PARTS, (event_type, workflow_id, phase), strict=False):
            _check_field(name, value, None)
    if not isinstance(data, dict):
        raise ProtocolError(f"must be a dict, not {type(data).__name__}", part="data")
    try:
        body = orjson.dumps(data)
    except orjson.JSONEncodeError as exc:
        raise ProtocolError(f"cannot be encoded as JSON: {exc}", part="data") from None
    if needs_walk(body):
        check_limits(orjson.loads(body))
    return f"{event_type}:{workflow_id}:{phase}:{body.decode()}"


def _decode_data(text: str, base: int) -> dict[str, Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return relaxed_json.loads(text, offset=base)
    if type(value) is not dict:
        kind = _KINDS.get(type(value), "not an object")
        raise ProtocolError(
            f"must be a JSON object, found {kind}",
            part="data",
            position=base + len(text) - len(text.lstrip(" \t\r\n")),
        )
    if needs_walk(text):
        check_limits(value)
    return value


def _not_utf8(prefix: str, what: str) -> NoReturn:
    part = _PARTS[min(prefix.count(":"), 3)]
    raise ProtocolError(f"not UTF-8: {what}", part=part, position=len(prefix))


def _diagnose(text: str, base: int) -> NoReturn:
    if not text:
        raise ProtocolError(f"empty line; expected {_FORMAT}", part="line", position=base)
    fields = text.split(":", 3)
    start = base
    for name, value in zip(_PARTS, fields[:3], strict=False):
        _check_field(name, value, start)
        start += len(value) + 1
    missing = _PARTS[len(fields)] if len(fields) < 4 else "line"
    raise ProtocolError(
        f"missing: the line ends after {len(fields)} of 4 parts; expected {_FORMAT}",
        part=missing,
        position=base + len(text),
    )


def _check_field(name: str, value: str, start: int | None) -> None:
    def fail(message: str, offset: int) -> NoReturn:
        raise ProtocolError(message, part=name, position=None if start is None else start + offset)

    if name == "event_type":
        limit, bad, allowed = MAX_EVENT_TYPE_CHARS, _BAD_TYPE_CHAR, "[A-Z][A-Z0-9_]*"
    else:
        limit, bad, allowed = MAX_ID_CHARS, _BAD_ID_CHAR, "[A-Za-z0-9_.-]"
    if not value:
        fail(f"is empty; expected {allowed}" + ("" if name == "event_type" else "{1,128}"), 0)
    if name == "event_type" and not "A" <= value[0] <= "Z":
        fail(f"must start with an upper-case letter A-Z, found {value[0]!r}", 0)
    found = bad.search(value)
    if found is not None:
        fail(f"character {found.group()!r} is not allowed (allowed: {allowed})", found.start())
    if len(value) > limit:
        fail(f"is {len(value)} characters long, over the limit of {limit}", limit)
