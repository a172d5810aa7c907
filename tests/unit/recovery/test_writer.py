"""The checkpoint writer: the states it keeps between writes never change what is stored.

Whatever the writer remembers (or forgets: a restart, a rolled-back batch, another writer),
the rows are those of a writer that reads every state before from the table, and every
checkpoint restores to its state with each hash checked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baton_recovery.checkpoints.canonical import canonical_json
from baton_recovery.checkpoints.chain import ChainPolicy
from baton_recovery.checkpoints.writer import CheckpointRequest, CheckpointWriter
from baton_recovery.errors import InvalidStateError
from tests.unit.recovery.memstore import MemoryStore, restore
from tests.unit.recovery.support import json_objects, json_values

POLICY = ChainPolicy(full_every=4, max_delta_ratio=0.9)


@pytest.fixture(autouse=True, scope="module", params=[0, 20], ids=["quick", "slow-lookup"])
def lookup_turns(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test twice: the lookup answering at once, and slowly (the writer then
    prepares what it can from memory first, and must store the same rows)."""
    MemoryStore.lookup_turns = request.param
    yield
    MemoryStore.lookup_turns = 0


def request(cid: str, state: dict[str, Any], workflow: str = "wf_1") -> CheckpointRequest:
    return CheckpointRequest(
        workflow_id=workflow,
        checkpoint_id=cid,
        checkpoint_type="incremental",
        trigger="automatic",
        state_version=0,
        state=state,
    )


def write(
    writer: CheckpointWriter, store: MemoryStore, requests: list[CheckpointRequest]
) -> list[dict[str, Any] | None]:
    """One committed batch, as the handler runs it."""
    txn = store.txn()
    written = asyncio.run(writer.write(txn, requests))
    txn.commit()
    writer.committed(written)
    return written.created


def tasks(done: int, n: int = 8) -> dict[str, Any]:
    return {
        "workflow_id": "wf_1",
        "tasks": {f"t{i}": {"status": "completed" if i < done else "pending"} for i in range(n)},
        "context": {"notes": "x" * 100, "done": done},
    }


_numbers = st.sampled_from([0, 1, 1.0, True, False, 0.0, -0.0, 2.5])


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[str, dict[str, Any]]]:
    """Successive states of two workflows: each a few changes (numbers changing type
    among them) from the one before, so most are stored as deltas."""
    states = {w: draw(json_objects) for w in ("wf_a", "wf_b")}
    out: list[tuple[str, dict[str, Any]]] = []
    for _ in range(draw(st.integers(min_value=1, max_value=10))):
        workflow = draw(st.sampled_from(sorted(states)))
        state = dict(states[workflow])
        for key in draw(st.lists(st.sampled_from(sorted(state)), max_size=2)) if state else []:
            state.pop(key, None)
        state.update(draw(st.dictionaries(st.sampled_from("abc"), json_values, max_size=2)))
        nested = state.get("n")
        numbers = draw(st.dictionaries(st.sampled_from("xyz"), _numbers))
        state["n"] = {**nested, **numbers} if isinstance(nested, dict) else numbers
        states[workflow] = state
        out.append((workflow, state))
    return out


@settings(max_examples=60, deadline=None)
@given(histories(), st.lists(st.booleans(), min_size=10, max_size=10), st.integers(1, 3))
def test_a_restarted_writer_stores_the_same_rows(
    history: list[tuple[str, dict[str, Any]]], restarts: list[bool], batch: int
) -> None:
    requests = [request(f"c{i}", state, workflow) for i, (workflow, state) in enumerate(history)]
    batches = [requests[i : i + batch] for i in range(0, len(requests), batch)]

    kept_store = MemoryStore()
    kept = CheckpointWriter(store=kept_store, policy=POLICY)
    for part in batches:
        write(kept, kept_store, part)
    fresh_store = MemoryStore()
    fresh = CheckpointWriter(store=fresh_store, policy=POLICY)
    for part, restart in zip(batches, restarts, strict=False):
        if restart:
            fresh = CheckpointWriter(store=fresh_store, policy=POLICY)
        write(fresh, fresh_store, part)

    assert fresh_store.rows == kept_store.rows
    assert kept_store.chain_reads == 0  # every state before came from memory
    for req in requests:
        restored = restore(kept_store.rows, req.checkpoint_id)
        assert canonical_json(restored) == canonical_json(req.state)


def test_a_rolled_back_batch_is_not_remembered() -> None:
    store = MemoryStore()
    writer = CheckpointWriter(store=store, policy=POLICY)
    write(writer, store, [request("c0", tasks(0))])
    txn = store.txn()
    asyncio.run(writer.write(txn, [request("c1", tasks(5))]))  # rolled back: never committed
    write(writer, store, [request("c1", tasks(1))])
    assert store.rows["c1"]["kind"] == "delta"
    assert store.rows["c1"]["base_id"] == "c0"
    assert restore(store.rows, "c1") == tasks(1)
    assert store.chain_reads == 0  # c0 was remembered, and still the latest


def test_another_writers_checkpoint_is_read_from_the_table() -> None:
    store = MemoryStore()
    ours = CheckpointWriter(store=store, policy=POLICY)
    write(ours, store, [request("c0", tasks(0))])
    write(CheckpointWriter(store=store, policy=POLICY), store, [request("c1", tasks(3))])
    write(ours, store, [request("c2", tasks(4))])
    assert store.rows["c2"]["base_id"] == "c1"
    assert restore(store.rows, "c2") == tasks(4)
    assert store.chain_reads == 2  # the other writer's start, and ours after it


def test_a_remembered_state_is_used_only_with_its_hash() -> None:
    # The same checkpoint id stored by another writer with another state: the id alone
    # must not make the remembered state the base of the next delta.
    store = MemoryStore()
    ours = CheckpointWriter(store=store, policy=POLICY)
    write(ours, store, [request("c0", tasks(0))])
    txn = store.txn()
    ours.committed(asyncio.run(ours.write(txn, [request("c1", tasks(6))])))  # not committed
    write(CheckpointWriter(store=store, policy=POLICY), store, [request("c1", tasks(2))])
    write(ours, store, [request("c2", tasks(3))])
    assert restore(store.rows, "c2") == tasks(3)


def test_changing_a_state_after_writing_it_changes_nothing_stored() -> None:
    store = MemoryStore()
    writer = CheckpointWriter(store=store, policy=POLICY)
    state = tasks(0)
    write(writer, store, [request("c0", state)])
    state["tasks"]["t0"]["status"] = "tampered"
    state["context"]["done"] = 99
    write(writer, store, [request("c1", tasks(1))])
    assert restore(store.rows, "c0") == tasks(0)
    assert restore(store.rows, "c1") == tasks(1)


def test_a_redelivered_checkpoint_is_skipped() -> None:
    store = MemoryStore()
    writer = CheckpointWriter(store=store, policy=POLICY)
    first = write(writer, store, [request("c0", tasks(0)), request("c1", tasks(1))])
    again = write(writer, store, [request("c1", tasks(1)), request("c2", tasks(2))])
    assert first[0] is not None
    assert first[1] is not None
    assert again[0] is None
    assert again[1] is not None
    sync = again[1]["checkpoint_sync"]
    assert sync["storage_metadata"]["differential"] is True
    assert sync["state_snapshot"]["workflow_state_hash"] == store.rows["c2"]["state_hash"]
    assert restore(store.rows, "c2") == tasks(2)


def test_early_rows_of_a_stale_memory_or_a_stored_id_are_made_again() -> None:
    store = MemoryStore()
    ours = CheckpointWriter(store=store, policy=POLICY)
    write(ours, store, [request("a0", tasks(0), "wf_a"), request("b0", tasks(0), "wf_b")])
    # Another writer moves wf_a on; wf_b's next id is stored already (a redelivery).
    other = CheckpointWriter(store=store, policy=POLICY)
    write(other, store, [request("a1", tasks(3), "wf_a"), request("b1", tasks(1), "wf_b")])
    batch = [
        request("a2", tasks(4), "wf_a"),
        request("b1", tasks(1), "wf_b"),
        request("b2", tasks(2), "wf_b"),
        request("b2", tasks(5), "wf_b"),  # the same id twice in a batch: stored once
        request("a3", tasks(5), "wf_a"),
    ]
    created = write(ours, store, batch)
    assert [c is not None for c in created] == [True, False, True, False, True]
    assert store.rows["a2"]["base_id"] == "a1"
    assert store.rows["b2"]["base_id"] == "b1"
    for cid, done in (("a2", 4), ("a3", 5), ("b2", 2)):
        assert restore(store.rows, cid) == tasks(done)


def _tuple(state: dict[str, Any]) -> None:
    state["tasks"]["t0"]["status"] = ("completed",)


def _nan(state: dict[str, Any]) -> None:
    state["context"]["done"] = float("nan")


def _int_key(state: dict[str, Any]) -> None:
    state["context"]["by_id"] = {1: "x"}


@pytest.mark.parametrize(
    ("spoil", "path"),
    [
        (_tuple, ["tasks", "t0", "status"]),
        (_nan, ["context", "done"]),
        (_int_key, ["context", "by_id"]),
    ],
)
def test_a_state_that_is_not_json_is_refused_with_its_path(spoil: Any, path: list[str]) -> None:
    store = MemoryStore()
    writer = CheckpointWriter(store=store, policy=POLICY)
    write(writer, store, [request("c0", tasks(0))])
    state = tasks(1)
    spoil(state)
    with pytest.raises(InvalidStateError) as caught:
        write(writer, store, [request("c1", state)])
    assert caught.value.path == path
    assert "c1" not in store.rows


def test_a_redelivered_request_is_not_prepared_again() -> None:
    # Its id is stored: whatever it carries now, nothing of it is diffed or checked.
    store = MemoryStore()
    writer = CheckpointWriter(store=store, policy=POLICY)
    write(writer, store, [request("c0", tasks(0)), request("c1", tasks(1))])
    spoiled = tasks(1)
    _nan(spoiled)
    again = write(writer, store, [request("c1", spoiled), request("c2", tasks(2))])
    assert again[0] is None
    assert again[1] is not None
    assert restore(store.rows, "c2") == tasks(2)


def test_an_ended_workflows_state_is_forgotten_and_read_back_if_needed() -> None:
    """Memory holds running workflows' states only: an ended one's goes (a checkpoint after
    a restore reads its chain back and stores the same rows)."""
    store = MemoryStore()
    writer = CheckpointWriter(store=store, policy=POLICY)
    write(writer, store, [request("c0", tasks(0)), request("d0", tasks(0), workflow="wf_2")])
    assert writer.kept == 2
    writer.forget("wf_1")
    writer.forget("wf_unknown")  # never kept: nothing to do
    assert writer.kept == 1
    write(writer, store, [request("c1", tasks(2))])
    assert store.chain_reads == 1  # wf_1's state was read back from its chain
    assert store.rows["c1"]["base_id"] == "c0"
    assert restore(store.rows, "c1") == tasks(2)
