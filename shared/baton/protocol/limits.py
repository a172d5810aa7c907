"""Size limits of an event line and of its data (the protocol leaves the numbers to us).

The limits keep one hostile or broken line from costing a consumer more than a bounded
amount of memory and stack; they are far above what a sane event carries:

- ``MAX_LINE_BYTES`` (1 MiB): the whole line, in UTF-8 bytes; the default of
  ``parse_line(max_bytes=...)`` and of ``BATON_MAX_LINE_BYTES``.
- ``MAX_EVENT_TYPE_CHARS`` (128): the protocol gives no bound for ``EVENT_TYPE``; we use the same
  one as for ``workflow_id`` and ``phase`` (``MAX_ID_CHARS``, fixed by the protocol).
- ``MAX_DEPTH`` (32): nesting of objects and arrays in data; the data object itself is level 1.
- ``MAX_STRING_CHARS`` (262 144): one string, key or value (a stack trace fits easily).
- ``MAX_ITEMS`` (10 000): members of one object or elements of one array.
- ``MAX_KEY_BYTES`` (1 KiB), ``MAX_HEADERS`` (64) and ``MAX_HEADER_BYTES`` (64 KiB): a record's
  key and headers, checked by :func:`check_record` where a record is verified (message
  signing), since the plain consume path does not otherwise look at them byte by byte.

The value is bounded after decompression: aiokafka hands over decompressed values, and the
line limit applies to them before anything is decoded.

Data shorter than ``WALK_FROM_CHARS`` cannot hold a string or a container over the limits,
and data with at most ``MAX_DEPTH`` brackets cannot nest too deep, so the codec's fast path
skips :func:`check_limits` for the usual small events.

A violation is a :class:`~baton.errors.ProtocolError` whose ``part`` is the path of the
offending value, ``data.<key>.<key>[<index>]`` (``data`` for the data object itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from baton.errors import ProtocolError

__all__ = [
    "MAX_DEPTH",
    "MAX_EVENT_TYPE_CHARS",
    "MAX_HEADERS",
    "MAX_HEADER_BYTES",
    "MAX_ID_CHARS",
    "MAX_ITEMS",
    "MAX_KEY_BYTES",
    "MAX_LINE_BYTES",
    "MAX_STRING_CHARS",
    "WALK_FROM_CHARS",
    "check_limits",
    "check_record",
    "field_path",
    "needs_walk",
]

MAX_LINE_BYTES: Final = 1_048_576
MAX_EVENT_TYPE_CHARS: Final = 128
MAX_ID_CHARS: Final = 128
MAX_DEPTH: Final = 32
MAX_STRING_CHARS: Final = 262_144
MAX_ITEMS: Final = 10_000
MAX_KEY_BYTES: Final = 1024
MAX_HEADERS: Final = 64
MAX_HEADER_BYTES: Final = 65_536
WALK_FROM_CHARS: Final = min(MAX_STRING_CHARS, 2 * MAX_ITEMS)


def needs_walk(text: str | bytes) -> bool:
    """False when encoded data ``text`` is too small to break a limit (no walk needed)."""
    if len(text) > WALK_FROM_CHARS:
        return True
    if isinstance(text, str):
        return text.count("{") + text.count("[") > MAX_DEPTH
    return text.count(b"{") + text.count(b"[") > MAX_DEPTH


def field_path(parts: Sequence[str | int], *, root: str = "data") -> str:
    """Readable path of a value: ``data.resources.tool_instances`` or ``data.items[2].id``."""
    out = [root]
    for part in parts:
        out.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    return "".join(out)


def check_limits(value: dict[str, Any]) -> None:
    """Check decoded data against the depth, string and item limits.

    Raises:
        ProtocolError: a limit is exceeded; ``part`` is the path of the offending value.
    """
    _walk(value, 1, [])


def _walk(value: Any, depth: int, path: list[str | int]) -> None:
    if depth > MAX_DEPTH:
        raise ProtocolError(f"nested deeper than {MAX_DEPTH} levels", part=field_path(path))
    if len(value) > MAX_ITEMS:
        raise ProtocolError(
            f"{len(value)} items, over the limit of {MAX_ITEMS}", part=field_path(path)
        )
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        if isinstance(key, str) and len(key) > MAX_STRING_CHARS:
            raise ProtocolError(
                f"key of {len(key)} characters, over the limit of {MAX_STRING_CHARS}",
                part=field_path(path),
            )
        if isinstance(item, str):
            if len(item) > MAX_STRING_CHARS:
                raise ProtocolError(
                    f"string of {len(item)} characters, over the limit of {MAX_STRING_CHARS}",
                    part=field_path([*path, key]),
                )
        elif isinstance(item, dict | list):
            path.append(key)
            _walk(item, depth + 1, path)
            path.pop()


def check_record(*, key: bytes | None, headers: Sequence[tuple[str, bytes]]) -> None:
    """Check a record's key and headers against ``MAX_KEY_BYTES`` and ``MAX_HEADER_BYTES``.

    (The value is bounded by the line limit when it is parsed.)

    Raises:
        ProtocolError: ``part`` is ``key`` or ``headers``.
    """
    if key is not None and len(key) > MAX_KEY_BYTES:
        raise ProtocolError(f"key is {len(key)} bytes, over {MAX_KEY_BYTES}", part="key")
    if len(headers) > MAX_HEADERS:
        raise ProtocolError(f"{len(headers)} headers, over {MAX_HEADERS}", part="headers")
    size = sum(len(k) + len(v) for k, v in headers)
    if size > MAX_HEADER_BYTES:
        raise ProtocolError(f"headers are {size} bytes, over {MAX_HEADER_BYTES}", part="headers")
