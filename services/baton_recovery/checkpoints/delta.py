"""Diffs between JSON states: compute one, apply it, encode it for storage.

A diff is a list of :class:`Change`: ``set`` a value at a path, or ``delete`` the key at a
path; a path is the list of dict keys from the root. Dicts are compared key by key, anything
else (lists included) is replaced whole when it differs. Values compare as JSON does: ``1``,
``1.0`` and ``true`` differ, as do ``0.0`` and ``-0.0`` (they encode differently, so they
hash differently). :mod:`baton_recovery.checkpoints.chain` stores checkpoints as such diffs, encoded
(:func:`encode_diff`); :func:`encoded_diff` builds that form directly.

Applying a change that does not fit the state (a missing key, a path through a non-dict) is
an error, never ignored: it means the diff was made from another state.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson

from baton_recovery.errors import CorruptCheckpointError

_MISSING: Final = object()

__all__ = [
    "Change",
    "apply_diff",
    "copy_json",
    "decode_diff",
    "diff",
    "encode_diff",
    "encoded_diff",
    "patch",
    "same_json",
]


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
    if isinstance(a, dict | list):
        # ``==`` in C first; equal encodings then tell 1 from 1.0 from true within.
        return bool(a == b) and _encoded(a) == _encoded(b) is not None
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return bool(a == b)


def diff(base: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """The changes that turn ``base`` into ``new``, in sorted path order."""
    return [Change(tuple(c["path"]), c["op"], c.get("value")) for c in encoded_diff(base, new)]


def encoded_diff(
    base: Mapping[str, Any], new: Mapping[str, Any], *, exact: bool = True
) -> list[dict[str, Any]]:
    """``encode_diff(diff(base, new))``, built directly (it is what a delta stores).

    Args:
        base: The state before.
        new: The state after.
        exact: False compares values with ``==`` alone, which is cheaper but blind to
            ``1`` → ``1.0`` → ``true`` and ``0.0`` → ``-0.0``: for callers that check the
            result, as :func:`baton_recovery.checkpoints.chain.prepare_checkpoint` does.
    """
    out: list[dict[str, Any]] = []
    if exact:
        _diff(base, new, [], out, exact=True)
    else:
        _loose_diff(base, new, (), out)
    return out


def _loose_diff(
    base: Mapping[str, Any], new: Mapping[str, Any], at: tuple[str, ...], out: list[dict[str, Any]]
) -> None:
    """:func:`_diff` with ``exact=False``, in fewer steps: it runs for every checkpoint."""
    changed = [key for key, value in new.items() if base.get(key, _MISSING) != value]
    if not base.keys() <= new.keys():
        changed.extend(base.keys() - new.keys())  # some keys of base are gone
    if not changed:
        return
    changed.sort()
    for key in changed:
        value = new.get(key, _MISSING)
        if value is _MISSING:
            out.append({"path": [*at, key], "op": "delete"})
            continue
        before = base.get(key, _MISSING)
        if isinstance(before, dict) and isinstance(value, dict):
            _loose_diff(before, value, (*at, key), out)
        else:
            out.append({"path": [*at, key], "op": "set", "value": value})


def _diff(
    base: Mapping[str, Any],
    new: Mapping[str, Any],
    at: list[str],
    out: list[dict[str, Any]],
    *,
    exact: bool,
) -> None:
    same: list[str] = []
    changed: list[str] = []
    added = 0
    for key, value in new.items():
        if key not in base:
            changed.append(key)
            added += 1
        elif base[key] == value:
            same.append(key)
        else:
            changed.append(key)
    if len(base) > len(new) - added:  # some keys of base are gone
        changed.extend(base.keys() - new.keys())
    if exact and same and not _same_encodings(base, new, same):
        # ``==`` is blind to 1 == 1.0 == True and to 0.0 == -0.0: find the pairs it missed.
        changed.extend(key for key in same if not same_json(base[key], new[key]))
    for key in sorted(changed):
        if key not in new:
            out.append({"path": [*at, key], "op": "delete"})
        elif key in base and isinstance(base[key], dict) and isinstance(new[key], dict):
            _diff(base[key], new[key], [*at, key], out, exact=exact)
        else:
            out.append({"path": [*at, key], "op": "set", "value": new[key]})


def _same_encodings(base: Mapping[str, Any], new: Mapping[str, Any], keys: list[str]) -> bool:
    """Whether ``keys`` hold the same JSON in both, with one encoding per side: equal
    encodings of objects with the same keys mean equal encodings of every value."""
    if len(keys) == len(new) == len(base):
        return _encoded(base) == _encoded(new) is not None
    return _encoded({k: base[k] for k in keys}) == _encoded({k: new[k] for k in keys}) is not None


def _encoded(value: Any) -> bytes | None:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        return None  # compares unequal to everything: the value is replaced whole


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
    _apply(result, changes)
    return result


def patch(base: Mapping[str, Any], encoded: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``base`` with an encoded diff applied, leaving ``base`` alone but sharing with it
    every subtree the diff does not touch, and holding the diff's values themselves.

    For states nobody mutates (the writer's last states), and diffs this process encoded
    (their form is not checked as :func:`decode_diff` does): only the objects on the
    changed paths are copied, where :func:`apply_diff` copies everything.

    Raises:
        ValueError: a change does not fit the state (module doc).
    """
    result = dict(base)
    owned = {id(result)}  # the dicts copied already: changed in place from then on
    parents: list[str] = []
    node: dict[str, Any] = result
    for change in encoded:
        *keys, last = change["path"]
        if keys != parents:  # a diff is in path order: siblings share their parent
            parents, node = keys, result
            for depth, key in enumerate(keys):
                child = node.get(key)
                if not isinstance(child, dict):
                    where = "/".join(keys[: depth + 1])
                    raise ValueError(f"no object at {where!r} to {change['op']} {last!r} in")
                if id(child) not in owned:
                    child = node[key] = dict(child)
                    owned.add(id(child))
                node = child
        if change["op"] == "set":
            node[last] = change["value"]
        elif node.pop(last, _MISSING) is _MISSING:
            raise ValueError(f"nothing to delete at {'/'.join(change['path'])!r}")
    return result


def _apply(result: dict[str, Any], changes: Iterable[Change]) -> None:
    """Apply ``changes`` to ``result`` in place, copying the values set."""
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
