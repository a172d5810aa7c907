"""Preparing a checkpoint against a state too large for a byte delta: one encoding of the
state, diffs proven against it, and the bytes stored exactly those of the straightforward
diff (kept here as the reference). The tests make every state count as large."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baton_recovery.checkpoints.canonical import canonical_decoded
from baton_recovery.checkpoints.chain import ChainPolicy, prepare_checkpoint
from baton_recovery.checkpoints.delta import Change, encode_diff
from baton_recovery.checkpoints.snapshot import canonical_json, compress_canonical, state_hash
from baton_recovery.errors import InvalidStateError
from tests.unit.recovery.support import json_objects


@pytest.fixture(autouse=True)
def diffs_only() -> Iterator[None]:
    with large_states():
        yield


def large_states() -> Any:
    """Every state counts as too large to be a byte delta's base: deltas are diffs."""
    return mock.patch("baton_recovery.checkpoints.chain.can_base", return_value=False)


def big_state(done: int, n: int = 40) -> dict[str, Any]:
    tasks = {f"task_{i:03d}": {"status": "completed" if i < done else "pending"} for i in range(n)}
    return {"workflow_id": "wf_001", "tasks": tasks, "note": "x" * 200}


def reference_diff(base: Any, new: Any, at: tuple[str, ...] = ()) -> list[Change]:
    """The diff as first written: exact comparisons at every level, in Python."""
    if base == new and canonical_json(base) == canonical_json(new):
        return []
    out: list[Change] = []
    for key in sorted(base.keys() | new.keys()):
        path = (*at, key)
        if key not in new:
            out.append(Change(path, "delete"))
        elif key not in base:
            out.append(Change(path, "set", new[key]))
        elif isinstance(base[key], dict) and isinstance(new[key], dict):
            out.extend(reference_diff(base[key], new[key], path))
        elif not _strictly_same(base[key], new[key]):
            out.append(Change(path, "set", new[key]))
    return out


def _strictly_same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_strictly_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_strictly_same(x, y) for x, y in zip(a, b, strict=True))
    return canonical_json(a) == canonical_json(b)


_flips = st.sampled_from([0, 1, 1.0, True, False, 0.0, -0.0])


@settings(max_examples=100)
@given(
    st.lists(
        st.tuples(json_objects, st.dictionaries(st.sampled_from("xy"), _flips)),
        min_size=1,
        max_size=6,
    ),
    st.integers(min_value=1, max_value=4),
)
def test_stored_bytes_are_those_of_the_reference_diff(
    steps: list[tuple[dict[str, Any], dict[str, Any]]], every: int
) -> None:
    policy = ChainPolicy(full_every=every, max_delta_ratio=0.8)
    previous: dict[str, Any] | None = None
    since: int | None = None
    state: dict[str, Any] = {}
    with large_states():  # hypothesis runs the body more often than the fixture
        for update, numbers in steps:
            state = {**state, **update, "n": {**state.get("n", {}), **numbers}}
            prepared = prepare_checkpoint(
                state=state,
                previous=None if previous is None else canonical_json(previous),
                previous_state=previous,
                deltas_since_full=since,
                policy=policy,
            )
            raw = canonical_json(state)
            assert prepared.state_hash == state_hash(state)
            assert (prepared.full_size, prepared.raw) == (len(raw), raw)
            if prepared.kind == "full":
                assert prepared.stored == compress_canonical(raw)
            else:
                assert previous is not None
                expected = canonical_json(encode_diff(reference_diff(previous, state)))
                assert prepared.stored == compress_canonical(expected)
                assert prepared.delta_size == len(expected)
                assert (
                    policy.choose(
                        deltas_since_full=since, delta_size=len(expected), full_size=len(raw)
                    )
                    == "delta"
                )
            assert prepared.stored_state is not None
            assert canonical_json(prepared.stored_state) == raw
            previous = prepared.stored_state
        since = 0 if prepared.kind == "full" else (since or 0) + 1


def test_the_stored_state_shares_what_did_not_change_and_copies_what_did() -> None:
    before = canonical_decoded(big_state(1))[1]
    after = big_state(2)
    prepared = prepare_checkpoint(
        state=after,
        previous=canonical_json(before),
        previous_state=before,
        deltas_since_full=0,
        policy=ChainPolicy(),
    )
    assert prepared.kind == "delta"
    assert prepared.stored_state == after
    assert prepared.stored_state["tasks"]["task_010"] is before["tasks"]["task_010"]
    assert prepared.stored_state["tasks"]["task_001"] is not after["tasks"]["task_001"]
    assert before == big_state(1)  # left alone


def test_a_number_changing_type_only_is_a_delta_too() -> None:
    before = {"a": {"n": 1, "z": 0.0}, "b": [1]}
    for after in ({"a": {"n": 1.0, "z": 0.0}, "b": [1]}, {"a": {"n": 1, "z": -0.0}, "b": [True]}):
        prepared = prepare_checkpoint(
            state=after,
            previous=canonical_json(before),
            previous_state=before,
            deltas_since_full=0,
            policy=ChainPolicy(max_delta_ratio=5),
        )
        assert prepared.kind == "delta"
        expected = canonical_json(encode_diff(reference_diff(before, after)))
        assert prepared.stored == compress_canonical(expected)
        assert prepared.stored_state is not None
        assert canonical_json(prepared.stored_state) == canonical_json(after)


def test_a_full_checkpoint_when_no_delta_rebuilds_the_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Never happens for JSON-ready data; should the diff ever be wrong, the proof fails
    # and the state is stored whole.
    monkeypatch.setattr(
        "baton_recovery.checkpoints.chain.patch", lambda base, encoded: {"wrong": 1}
    )
    prepared = prepare_checkpoint(
        state=big_state(2),
        previous=canonical_json(big_state(1)),
        deltas_since_full=0,
        policy=ChainPolicy(),
    )
    assert prepared.kind == "full"
    assert prepared.stored == compress_canonical(canonical_json(big_state(2)))
    assert prepared.stored_state == big_state(2)


def test_no_diff_when_a_full_checkpoint_is_due() -> None:
    policy = ChainPolicy(full_every=3)
    assert not policy.full_due(deltas_since_full=1)
    assert policy.full_due(deltas_since_full=2)
    prepared = prepare_checkpoint(
        state=big_state(2),
        previous=canonical_json(big_state(1)),
        deltas_since_full=2,
        policy=policy,
    )
    assert (prepared.kind, prepared.delta_size) == ("full", None)


@pytest.mark.parametrize(
    ("state", "path"),
    [
        ({"a": {"b": (1, 2)}, "c": 1}, ["a", "b"]),
        ({"a": {"b": [1, 2]}, "c": float("inf")}, ["c"]),
        ({"a": {"b": [1, 2]}, "c": 1, "d": {2: 3}}, ["d"]),
        ({"a": {"b": [1, 2], "e": object()}, "c": 1}, ["a", "e"]),
    ],
)
@pytest.mark.parametrize("byte_delta", [False, True])
def test_a_state_that_is_not_json_is_refused_against_a_previous_one(
    state: dict[str, Any], path: list[str], byte_delta: bool
) -> None:
    with (
        mock.patch("baton_recovery.checkpoints.chain.can_base", return_value=byte_delta),
        pytest.raises(InvalidStateError) as caught,
    ):
        prepare_checkpoint(
            state=state,
            previous=b'{"a":{"b":[1,2]},"c":1}',
            deltas_since_full=0,
            policy=ChainPolicy(),
        )
    assert caught.value.path == path
