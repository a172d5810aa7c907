"""Diffs between JSON states: compute one, apply it, encode it for storage.

A diff is a list of :class:`Change`: ``set`` a value at a path, or ``delete`` the key at a
path; a path is the list of dict keys from the root. Dicts are compared key by key, anything
else (lists included) is replaced whole when it differs. Values compare as JSON does: ``1``,
``1.0`` and ``true`` differ, as do ``0.0`` and ``-0.0`` (they encode differently, so they
hash differently). :mod:`baton_recovery.chain` stores checkpoints as such diffs.

Applying a change that does not fit the state (a missing key, a path through a non-dict) is
an error, never ignored: it means the diff was made from another state.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from baton_recovery.errors import CorruptCheckpointError

__all__ = ["Change", "apply_diff", "copy_json", "decode_diff", "diff", "encode_diff", "same_json"]


@dataclass(frozen=True, slots=True)
class Change:
    """One change of a diff.

    Attributes:
        path: Dict keys from the root to the changed value (never empty).
        op: ``set`` (add or replace) or ``delete``.
        value: The new value of a ``set``; None for a ``delete``.
    """

    path: tuple[str, ...]
    op: Literal["set", "delete"]
    value: Any = None


def same_json(a: Any, b: Any) -> bool:
    """True when two JSON-ready values are the same JSON (module doc)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return bool(a == b)


def diff(base: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """The changes that turn ``base`` into ``new``, in sorted path order."""
    out: list[Change] = []
    _diff(base, new, (), out)
    return out


def _diff(
    base: Mapping[str, Any], new: Mapping[str, Any], at: tuple[str, ...], out: list[Change]
) -> None:
    if base == new and _encoded(base) == _encoded(new):
        return  # identical subtrees (C-level check; the encodings tell 1 from 1.0 from true)
    for key in sorted(base.keys() | new.keys()):
        path = (*at, key)
        if key not in new:
            out.append(Change(path=path, op="delete"))
        elif key not in base:
            out.append(Change(path=path, op="set", value=new[key]))
        elif isinstance(base[key], dict) and isinstance(new[key], dict):
            _diff(base[key], new[key], path, out)
        elif not same_json(base[key], new[key]):
            out.append(Change(path=path, op="set", value=new[key]))


def _encoded(value: Any) -> bytes | None:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        return None


def copy_json(value: Any) -> Any:
    """A deep copy of JSON-ready data."""
    if isinstance(value, dict | list):
        return orjson.loads(orjson.dumps(value))
    return value


def apply_diff(base: Mapping[str, Any], changes: Iterable[Change]) -> dict[str, Any]:
    """``base`` with ``changes`` applied; a new state that shares nothing with the inputs.

    Raises:
        ValueError: a change does not fit the state (module doc).
    """
    result: dict[str, Any] = copy_json(dict(base))
    for change in changes:
        if not change.path:
            raise ValueError("a change needs a non-empty path")
        node: Any = result
        for depth, key in enumerate(change.path[:-1]):
            node = node.get(key) if isinstance(node, dict) else None
            if not isinstance(node, dict):
                where = "/".join(change.path[: depth + 1])
                raise ValueError(f"no object at {where!r} to {change.op} {change.path[-1]!r} in")
        last = change.path[-1]
        if change.op == "set":
            node[last] = copy_json(change.value)
        elif last in node:
            del node[last]
        else:
            raise ValueError(f"nothing to delete at {'/'.join(change.path)!r}")
    return result


def encode_diff(changes: Iterable[Change]) -> list[dict[str, Any]]:
    """A diff as JSON-ready data: ``[{"path": [...], "op": "set", "value": ...}, ...]``."""
    out: list[dict[str, Any]] = []
    for change in changes:
        item: dict[str, Any] = {"path": list(change.path), "op": change.op}
        if change.op == "set":
            item["value"] = change.value
        out.append(item)
    return out


def decode_diff(data: Any, *, checkpoint_id: str) -> list[Change]:
    """A diff from what :func:`encode_diff` produced.

    Raises:
        CorruptCheckpointError: the data is not an encoded diff (names the checkpoint).
    """
    if not isinstance(data, list):
        raise CorruptCheckpointError(
            f"checkpoint {checkpoint_id}: a delta must be a list of changes",
            checkpoint_id=checkpoint_id,
        )
    out: list[Change] = []
    for index, item in enumerate(data):
        change = _decode_change(item)
        if change is None:
            raise CorruptCheckpointError(
                f"checkpoint {checkpoint_id}: change {index} is not a valid change",
                checkpoint_id=checkpoint_id,
            )
        out.append(change)
    return out


def _decode_change(item: Any) -> Change | None:
    if not isinstance(item, dict):
        return None
    path, op = item.get("path"), item.get("op")
    if not isinstance(path, list) or not path or not all(isinstance(k, str) for k in path):
        return None
    if op == "delete":
        return Change(path=tuple(path), op="delete")
    if op == "set" and "value" in item:
        return Change(path=tuple(path), op="set", value=item["value"])
    return None
