"""Rebuilding states from stored chains: byte deltas, diffs and both mixed, every hash checked,
and a damaged link found where it is."""

from __future__ import annotations

import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baton_recovery.checkpoints.bytedelta import MAX_BASE, ByteDelta, encode_against, is_byte_delta
from baton_recovery.checkpoints.chain import ChainPolicy, prepare_checkpoint
from baton_recovery.checkpoints.delta import encode_diff
from baton_recovery.checkpoints.rebuild import (
    CheckpointRecord,
    chain_to,
    rebuild,
    rebuild_state,
    stored_record,
)
from baton_recovery.checkpoints.snapshot import canonical_json, content_hash, state_hash
from baton_recovery.errors import CheckpointChainError, CorruptCheckpointError
from tests.unit.recovery.support import json_objects


def big_state(done: int, n: int = 40, note: int = 200) -> dict[str, Any]:
    tasks = {f"task_{i:03d}": {"status": "completed" if i < done else "pending"} for i in range(n)}
    return {"workflow_id": "wf_001", "tasks": tasks, "note": "x" * note}


def record(
    cid: str, kind: str, state: dict[str, Any], payload: Any, base: str | None = None
) -> CheckpointRecord:
    return CheckpointRecord(cid, kind, state_hash(state), payload, base)  # type: ignore[arg-type]


def stored_chain(states: list[dict[str, Any]], policy: ChainPolicy) -> list[CheckpointRecord]:
    """Checkpoints of successive states as the writer stores them, read back as the store
    reads them (:func:`stored_record`)."""
    out: list[CheckpointRecord] = []
    since: int | None = None
    previous: bytes | None = None
    kept: dict[str, Any] | None = None
    for i, state in enumerate(states):
        prepared = prepare_checkpoint(
            state=state,
            previous=previous,
            previous_state=kept,
            deltas_since_full=since,
            policy=policy,
        )
        base = out[-1].checkpoint_id if prepared.kind == "delta" else None
        out.append(
            stored_record(
                checkpoint_id=f"c{i}",
                kind=prepared.kind,
                state_hash=prepared.state_hash,
                payload=prepared.stored.blob,
                payload_hash=prepared.stored.hash,
                base_id=base,
            )
        )
        since = 0 if prepared.kind == "full" else (since or 0) + 1
        previous, kept = prepared.raw, prepared.stored_state
    return out


def test_rebuild_every_checkpoint_of_a_chain_of_byte_deltas() -> None:
    states = [big_state(i) for i in range(12)]
    records = stored_chain(states, ChainPolicy(full_every=5))
    assert [r.kind for r in records] == [
        "full",
        *["delta"] * 4,
        "full",
        *["delta"] * 4,
        "full",
        "delta",
    ]
    assert all(isinstance(r.payload, ByteDelta) for r in records if r.kind == "delta")
    for i, state in enumerate(states):
        assert rebuild_state(records, f"c{i}") == state
        again = rebuild(records, f"c{i}")
        assert again.raw == canonical_json(state)
    by_id = {r.checkpoint_id: r for r in records}
    assert [r.checkpoint_id for r in chain_to(by_id, "c8")] == ["c5", "c6", "c7", "c8"]


def test_a_chain_mixing_byte_deltas_and_diffs_rebuilds() -> None:
    # The note grows past a byte delta's base size, then shrinks back under it.
    notes = [200, 200, MAX_BASE, MAX_BASE + 10, MAX_BASE + 10, 300, 300]
    states = [big_state(i, note=n) for i, n in enumerate(notes)]
    records = stored_chain(states, ChainPolicy(full_every=20, max_delta_ratio=2.0))
    payloads = [type(r.payload).__name__ for r in records]
    assert payloads == ["dict", "ByteDelta", "ByteDelta", "list", "list", "list", "ByteDelta"]
    for i, state in enumerate(states):
        assert rebuild_state(records, f"c{i}") == state


@settings(max_examples=50)
@given(st.lists(json_objects, min_size=1, max_size=6), st.integers(min_value=1, max_value=4))
def test_rebuild_property(states: list[dict[str, Any]], every: int) -> None:
    records = stored_chain(states, ChainPolicy(full_every=every, max_delta_ratio=10.0))
    for i, state in enumerate(states):
        assert canonical_json(rebuild_state(records, f"c{i}")) == canonical_json(state)


def _replace(records: list[CheckpointRecord], index: int, payload: Any) -> None:
    bad = records[index]
    records[index] = CheckpointRecord(
        bad.checkpoint_id, bad.kind, bad.state_hash, payload, bad.base_id
    )


def test_a_tampered_byte_delta_is_found_where_it_is() -> None:
    states = [big_state(i) for i in range(4)]
    records = stored_chain(states, ChainPolicy())
    blob = records[2].payload.blob
    _replace(records, 2, ByteDelta(blob[:20] + bytes([blob[20] ^ 0x55]) + blob[21:]))
    assert rebuild_state(records, "c1") == states[1]
    with pytest.raises(CorruptCheckpointError) as caught:
        rebuild_state(records, "c3")
    assert caught.value.checkpoint_id == "c2"


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda blob: blob[:-6], "is truncated"),
        (lambda blob: blob + b"tail", "has trailing data"),
    ],
)
def test_a_cut_or_padded_byte_delta_is_corruption(mangle: Any, message: str) -> None:
    records = stored_chain([big_state(0), big_state(1)], ChainPolicy())
    _replace(records, 1, ByteDelta(mangle(records[1].payload.blob)))
    with pytest.raises(CorruptCheckpointError, match=f"c1 {message}"):
        rebuild_state(records, "c1")


def test_a_byte_delta_made_against_another_base_does_not_apply() -> None:
    records = stored_chain([big_state(0), big_state(1)], ChainPolicy())
    other = encode_against(canonical_json(big_state(1)), base=b'{"another":"base"}')
    _replace(records, 1, ByteDelta(other))
    with pytest.raises(CorruptCheckpointError, match="c1: delta does not apply to its base"):
        rebuild_state(records, "c1")


def test_a_byte_delta_expanding_beyond_the_limit_is_refused() -> None:
    delta = encode_against(b"x" * 5000, base=b"y")
    with pytest.raises(CorruptCheckpointError, match="expands beyond 1000 bytes"):
        ByteDelta(delta).apply(b"y", checkpoint_id="c1", max_size=1000)


def test_a_byte_delta_row_must_record_its_state_hash_as_payload_hash() -> None:
    blob = encode_against(b'{"a":2}', base=b'{"a":1}')
    assert is_byte_delta(blob)
    with pytest.raises(CorruptCheckpointError, match="payload hash"):
        stored_record(
            checkpoint_id="c1",
            kind="delta",
            state_hash=content_hash(b'{"a":2}'),
            payload=blob,
            payload_hash=content_hash(blob),
            base_id="c0",
        )


def test_only_a_zlib_stream_with_a_dictionary_is_a_byte_delta() -> None:
    raw = canonical_json(big_state(3))
    assert is_byte_delta(encode_against(raw, base=b"{}"))
    assert not is_byte_delta(zlib.compress(raw))
    assert not is_byte_delta(raw)
    assert not is_byte_delta(b"[]")


def test_a_tampered_diff_is_found_where_it_is() -> None:
    states = [big_state(i, note=MAX_BASE) for i in range(4)]  # too large for byte deltas
    records = stored_chain(states, ChainPolicy())
    assert isinstance(records[2].payload, list)
    _replace(records, 2, encode_diff([]))  # claims no change, but the hash says otherwise
    assert rebuild_state(records, "c1") == states[1]
    with pytest.raises(CorruptCheckpointError) as caught:
        rebuild_state(records, "c3")
    assert caught.value.checkpoint_id == "c2"
    assert caught.value.expected == records[2].state_hash
    assert caught.value.actual == state_hash(states[1])


def test_a_tampered_full_checkpoint_is_corruption() -> None:
    records = [record("c0", "full", {"a": 1}, {"a": 2})]
    with pytest.raises(CorruptCheckpointError, match="c0"):
        rebuild_state(records, "c0")


def test_a_full_checkpoint_must_hold_an_object() -> None:
    with pytest.raises(CorruptCheckpointError, match="must hold an object"):
        rebuild_state([record("c0", "full", {}, [1, 2])], "c0")


def test_a_delta_that_does_not_apply_is_corruption() -> None:
    records = [
        record("c0", "full", {"a": 1}, {"a": 1}),
        record("c1", "delta", {}, [{"path": ["zzz"], "op": "delete"}], base="c0"),
    ]
    with pytest.raises(CorruptCheckpointError, match="c1: delta does not apply"):
        rebuild_state(records, "c1")


@pytest.mark.parametrize(
    ("records", "target", "where", "message"),
    [
        ([], "c9", "c9", "c9 not found"),
        ([record("c1", "delta", {}, [], base="c0")], "c1", "c0", "c0 not found \\(base of c1\\)"),
        ([record("c1", "delta", {}, [], base=None)], "c1", "c1", "names no base"),
        (
            [record("c1", "delta", {}, [], base="c2"), record("c2", "delta", {}, [], base="c1")],
            "c1",
            "c1",
            "loops",
        ),
    ],
)
def test_broken_chains_are_refused(
    records: list[CheckpointRecord], target: str, where: str, message: str
) -> None:
    with pytest.raises(CheckpointChainError, match=message) as caught:
        rebuild_state(records, target)
    assert caught.value.checkpoint_id == where
    assert not caught.value.retriable


def test_rebuilt_state_shares_nothing_with_the_records() -> None:
    records = [record("c0", "full", {"a": {"b": 1}}, {"a": {"b": 1}})]
    out = rebuild_state(records, "c0")
    out["a"]["b"] = 2
    assert records[0].payload == {"a": {"b": 1}}
