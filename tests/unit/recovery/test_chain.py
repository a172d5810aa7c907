"""Chain policy (full every N, or when a delta is too large) and rebuilding across a chain."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baton_recovery.chain import (
    ChainPolicy,
    CheckpointRecord,
    chain_to,
    prepare_checkpoint,
    rebuild_state,
)
from baton_recovery.delta import encode_diff
from baton_recovery.errors import CheckpointChainError, CorruptCheckpointError
from baton_recovery.snapshot import (
    canonical_json,
    decode_snapshot,
    encode_snapshot,
    state_hash,
)
from tests.unit.recovery.support import json_objects


def big_state(done: int, n: int = 40) -> dict[str, Any]:
    tasks = {f"task_{i:03d}": {"status": "completed" if i < done else "pending"} for i in range(n)}
    return {"workflow_id": "wf_001", "tasks": tasks, "note": "x" * 200}


def test_policy_defaults() -> None:
    policy = ChainPolicy()
    assert (policy.full_every, policy.max_delta_ratio) == (10, 0.5)


def test_full_without_a_chain_and_every_n() -> None:
    policy = ChainPolicy(full_every=3)
    assert policy.choose(deltas_since_full=None, delta_size=1, full_size=100) == "full"
    assert policy.choose(deltas_since_full=0, delta_size=1, full_size=100) == "delta"
    assert policy.choose(deltas_since_full=1, delta_size=1, full_size=100) == "delta"
    assert policy.choose(deltas_since_full=2, delta_size=1, full_size=100) == "full"
    assert ChainPolicy(full_every=1).choose(deltas_since_full=0, delta_size=1, full_size=9) == (
        "full"
    )


def test_full_when_the_delta_is_too_large() -> None:
    policy = ChainPolicy(max_delta_ratio=0.5)
    assert policy.choose(deltas_since_full=0, delta_size=50, full_size=100) == "delta"
    assert policy.choose(deltas_since_full=0, delta_size=51, full_size=100) == "full"


@pytest.mark.parametrize("bad", [{"full_every": 0}, {"max_delta_ratio": 0.0}])
def test_invalid_policies_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        ChainPolicy(**bad)


def test_prepare_builds_a_small_delta_then_a_full_one_when_it_grows() -> None:
    policy = ChainPolicy()
    first = prepare_checkpoint(
        state=big_state(0), previous=None, deltas_since_full=None, policy=policy
    )
    assert first.kind == "full"
    assert first.payload == big_state(0)
    assert first.state_hash == state_hash(big_state(0))
    assert first.full_size == len(canonical_json(big_state(0)))
    assert first.delta_size is None

    second = prepare_checkpoint(
        state=big_state(1), previous=big_state(0), deltas_since_full=0, policy=policy
    )
    assert second.kind == "delta"
    assert second.payload == [
        {"path": ["tasks", "task_000", "status"], "op": "set", "value": "completed"}
    ]
    assert second.delta_size is not None
    assert second.delta_size < second.full_size // 2

    everything = prepare_checkpoint(
        state=big_state(40), previous=big_state(0), deltas_since_full=1, policy=policy
    )
    assert everything.kind == "full"  # the delta would exceed half the full size
    assert everything.delta_size is not None
    assert everything.delta_size > 0.5 * everything.full_size


def record(
    cid: str, kind: str, state: dict[str, Any], payload: Any, base: str | None = None
) -> CheckpointRecord:
    return CheckpointRecord(cid, kind, state_hash(state), payload, base)  # type: ignore[arg-type]


def build_chain(states: list[dict[str, Any]], policy: ChainPolicy) -> list[CheckpointRecord]:
    """Checkpoints of successive states as a service would store them."""
    out: list[CheckpointRecord] = []
    since: int | None = None
    for i, state in enumerate(states):
        prepared = prepare_checkpoint(
            state=state,
            previous=states[i - 1] if i else None,
            deltas_since_full=since,
            policy=policy,
        )
        # Stored compressed and read back, as the store does.
        stored = encode_snapshot(prepared.payload)
        payload = decode_snapshot(stored.blob, expected_hash=stored.hash, checkpoint_id=f"c{i}")
        base = out[-1].checkpoint_id if prepared.kind == "delta" else None
        out.append(CheckpointRecord(f"c{i}", prepared.kind, prepared.state_hash, payload, base))
        since = 0 if prepared.kind == "full" else (since or 0) + 1
    return out


def test_rebuild_every_checkpoint_of_a_chain() -> None:
    states = [big_state(i) for i in range(12)]
    records = build_chain(states, ChainPolicy(full_every=5))
    assert [r.kind for r in records] == [
        "full",
        *["delta"] * 4,
        "full",
        *["delta"] * 4,
        "full",
        "delta",
    ]
    for i, state in enumerate(states):
        assert rebuild_state(records, f"c{i}") == state
    by_id = {r.checkpoint_id: r for r in records}
    assert [r.checkpoint_id for r in chain_to(by_id, "c8")] == ["c5", "c6", "c7", "c8"]


@settings(max_examples=50)
@given(st.lists(json_objects, min_size=1, max_size=6), st.integers(min_value=1, max_value=4))
def test_rebuild_property(states: list[dict[str, Any]], every: int) -> None:
    records = build_chain(states, ChainPolicy(full_every=every, max_delta_ratio=10.0))
    for i, state in enumerate(states):
        assert canonical_json(rebuild_state(records, f"c{i}")) == canonical_json(state)


def test_a_tampered_delta_is_found_where_it_is() -> None:
    states = [big_state(i) for i in range(4)]
    records = build_chain(states, ChainPolicy())
    bad = records[2]
    tampered = encode_diff([])  # claims no change, but the recorded hash says otherwise
    records[2] = CheckpointRecord(bad.checkpoint_id, "delta", bad.state_hash, tampered, bad.base_id)
    assert rebuild_state(records, "c1") == states[1]
    with pytest.raises(CorruptCheckpointError) as caught:
        rebuild_state(records, "c3")
    assert caught.value.checkpoint_id == "c2"
    assert caught.value.expected == bad.state_hash
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
