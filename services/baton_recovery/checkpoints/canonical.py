"""Canonical JSON encoding of states, and the check that a value is JSON-ready data.

A state is JSON-ready data: dicts with string keys, lists, strings, integers (64-bit), finite
floats, booleans and None. Its canonical encoding is orjson with sorted keys, so equal states
always encode to the same bytes. Tuples, non-string keys, NaN and infinities are refused
rather than coerced, so that ``decode(encode(state)) == state`` always holds and a hash
always names one state.

Plain JSON below means what decoding produced: only ``dict``, ``list``, ``str``, ``int``,
``float``, ``bool`` and None, and owned by whoever decoded it.
"""

from __future__ import annotations

import math
from typing import Any, Final

import orjson

from baton_recovery.errors import InvalidStateError

__all__ = ["canonical_decoded", "canonical_json", "check_json_ready", "encode_canonical"]

_SORTED: Final = orjson.OPT_SORT_KEYS


def check_json_ready(value: Any) -> None:
    """Refuse a value that is not JSON-ready data (module doc).

    Raises:
        InvalidStateError: naming the path to the first offending value.
    """
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        if item is None or isinstance(item, str | bool | int):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidStateError(f"{item!r} is not a finite number", path=path)
        elif isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise InvalidStateError(f"key {key!r} is not a string", path=path)
                stack.append((child, [*path, key]))
        elif isinstance(item, list):
            stack.extend((child, [*path, index]) for index, child in enumerate(item))
        else:
            raise InvalidStateError(f"{type(item).__name__} is not JSON data", path=path)


def encode_canonical(value: Any) -> bytes:
    """orjson's sorted-key encoding of ``value``, without checking that it round-trips.

    On its own this refuses only what orjson cannot encode (non-string keys, integers beyond
    64 bits, unknown types); what it encodes lossily (NaN as null, tuples as lists) needs
    :func:`canonical_decoded`, or a comparison with plain JSON known to be equal.

    Raises:
        InvalidStateError: orjson cannot encode ``value``.
    """
    try:
        return orjson.dumps(value, option=_SORTED)
    except (orjson.JSONEncodeError, TypeError) as exc:  # e.g. an integer beyond 64 bits
        check_json_ready(value)
        raise InvalidStateError(str(exc), path=[]) from None


def canonical_decoded(value: Any, *, raw: bytes | None = None) -> tuple[bytes, Any]:
    """The canonical encoding of JSON-ready data, and that encoding decoded again.

    The decoded copy is plain JSON equal to ``value`` that shares nothing with it. orjson
    encodes what :func:`check_json_ready` refuses in lossy ways; comparing the decoded copy
    with ``value`` (both in C) catches every such case, and only then the slow walk runs to
    name the offending path.

    Args:
        value: The data.
        raw: ``encode_canonical(value)``, when the caller has it already.

    Raises:
        InvalidStateError: not JSON-ready data.
    """
    if raw is None:
        raw = encode_canonical(value)
    again = orjson.loads(raw)
    # ``==`` is blind to 1 == 1.0 == True; a second encoding of the decoded value is not.
    if not (again == value and orjson.dumps(again, option=_SORTED) == raw):
        check_json_ready(value)
    return raw, again


def canonical_json(value: Any) -> bytes:
    """The canonical encoding of JSON-ready data: orjson, keys sorted, no whitespace.

    Raises:
        InvalidStateError: not JSON-ready data.
    """
    return canonical_decoded(value)[0]
