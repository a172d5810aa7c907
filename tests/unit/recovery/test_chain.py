"""Chain policy (full every N, or when a delta is too large) and what each checkpoint stores:
a byte delta against a small state, a diff against a large one."""

from __future__ import annotations

import base64
import random
from typing import Any

import pytest

from baton_recovery.checkpoints.bytedelta import MAX_BASE, ByteDelta, is_byte_delta
from baton_recovery.checkpoints.chain import ChainPolicy, prepare_checkpoint
from baton_recovery.checkpoints.snapshot import canonical_json, decode_snapshot, state_hash


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


def raw(state: dict[str, Any]) -> bytes:
    return canonical_json(state)


def test_prepare_builds_a_small_byte_delta_then_a_full_one_when_it_grows() -> None:
    policy = ChainPolicy()
    first = prepare_checkpoint(
        state=big_state(0), previous=None, deltas_since_full=None, policy=policy
    )
    assert first.kind == "full"
    assert decode_snapshot(
        first.stored.blob, expected_hash=first.stored.hash, checkpoint_id="c0"
    ) == big_state(0)
    assert first.state_hash == first.stored.hash == state_hash(big_state(0))
    assert first.raw == raw(big_state(0))
    assert first.full_size == len(first.raw)
    assert first.delta_size is None

    second = prepare_checkpoint(
        state=big_state(1), previous=first.raw, deltas_since_full=0, policy=policy
    )
    assert second.kind == "delta"
    assert is_byte_delta(second.stored.blob)
    assert second.stored.hash == second.state_hash == state_hash(big_state(1))
    assert second.delta_size == len(second.stored.blob) < 100  # the change, not the state
    assert ByteDelta(second.stored.blob).apply(
        first.raw, checkpoint_id="c1", max_size=1 << 20
    ) == raw(big_state(1))
    assert second.stored_state is None  # a small state is kept as its encoding only

    everything = prepare_checkpoint(
        state={"other": base64.b64encode(random.Random(0).randbytes(3000)).decode()},
        previous=first.raw,
        deltas_since_full=1,
        policy=policy,
    )
    assert everything.kind == "full"  # the delta would exceed half the full size
    assert everything.delta_size is not None
    assert everything.delta_size > 0.5 * everything.full_size


def test_a_state_too_large_to_be_a_base_gets_diffs_and_keeps_its_decoded_form() -> None:
    large = [big_state(i, n=900) for i in range(3)]
    assert len(raw(large[0])) > MAX_BASE
    policy = ChainPolicy()
    first = prepare_checkpoint(state=large[0], previous=None, deltas_since_full=None, policy=policy)
    assert first.stored_state == large[0]
    second = prepare_checkpoint(
        state=large[1],
        previous=first.raw,
        previous_state=first.stored_state,
        deltas_since_full=0,
        policy=policy,
    )
    assert second.kind == "delta"
    assert not is_byte_delta(second.stored.blob)
    assert decode_snapshot(
        second.stored.blob, expected_hash=second.stored.hash, checkpoint_id="c1"
    ) == [{"path": ["tasks", "task_000", "status"], "op": "set", "value": "completed"}]
    assert second.stored_state == large[1]
    # Without the decoded previous state at hand, it is decoded from its encoding.
    third = prepare_checkpoint(
        state=large[2], previous=second.raw, deltas_since_full=1, policy=policy
    )
    assert (third.kind, third.stored_state) == ("delta", large[2])


def test_a_state_that_shrinks_below_the_base_size_goes_back_to_byte_deltas() -> None:
    policy = ChainPolicy(max_delta_ratio=10.0)
    large = {**big_state(0), "note": "x" * MAX_BASE}
    small = big_state(0)
    down = prepare_checkpoint(state=small, previous=raw(large), deltas_since_full=0, policy=policy)
    assert (down.kind, down.stored_state) == ("delta", None)  # a diff, then kept as bytes
    up = prepare_checkpoint(
        state=big_state(1), previous=down.raw, deltas_since_full=1, policy=policy
    )
    assert is_byte_delta(up.stored.blob)


def test_a_json_ready_state_skips_the_check_and_stores_the_same_bytes() -> None:
    policy = ChainPolicy()
    before = raw(big_state(0))
    for since in (None, 0):
        checked = prepare_checkpoint(
            state=big_state(1), previous=before, deltas_since_full=since, policy=policy
        )
        trusted = prepare_checkpoint(
            state=big_state(1),
            previous=before,
            deltas_since_full=since,
            policy=policy,
            json_ready=True,
        )
        assert trusted == checked
