"""Canonical encoding, hashes, compression and corruption detection of snapshots."""

from __future__ import annotations

import hashlib
import zlib
from typing import Any

import orjson
import pytest
from hypothesis import given

from baton.protocol.messages.checkpoint import CheckpointSyncMessage
from baton_recovery.checkpoints.canonical import canonical_decoded
from baton_recovery.checkpoints.snapshot import (
    RAW_BELOW,
    canonical_json,
    check_json_ready,
    checkpoint_sync,
    compress_canonical,
    content_hash,
    decode_snapshot,
    encode_snapshot,
    state_hash,
    state_snapshot,
    storage_metadata,
)
from baton_recovery.errors import CorruptCheckpointError, InvalidStateError
from tests.unit.recovery.support import T0, json_objects, json_values

STATE: dict[str, Any] = {
    "workflow_id": "workflow_123",
    "tasks": {"t1": {"status": "completed"}, "t2": {"status": "running", "agent_id": "a1"}},
    "agents": {"a1": {"status": "active"}},
    "resources": {"memory_gb": 8},
}


def test_canonical_encoding_sorts_keys_and_has_no_whitespace() -> None:
    assert canonical_json({"b": 1, "a": {"d": [1, 2], "c": None}}) == (
        b'{"a":{"c":null,"d":[1,2]},"b":1}'
    )


def test_hash_is_sha256_of_the_canonical_encoding() -> None:
    raw = canonical_json(STATE)
    assert state_hash(STATE) == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert content_hash(b"") == (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_key_order_does_not_change_the_hash() -> None:
    reordered = dict(reversed(list(STATE.items())))
    assert state_hash(reordered) == state_hash(STATE)


def test_json_types_that_print_alike_hash_differently() -> None:
    assert state_hash({"x": 1}) != state_hash({"x": 1.0})
    assert state_hash({"x": 1}) != state_hash({"x": True})


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"a": {"b": float("nan")}}, ["a", "b"]),
        ({"a": [1, float("inf")]}, ["a", 1]),
        ({"a": (1, 2)}, ["a"]),
        ({"a": {1: "x"}}, ["a"]),
        ({"a": {"b": {1, 2}}}, ["a", "b"]),
    ],
)
def test_values_that_are_not_json_are_refused_naming_where(value: Any, path: list[Any]) -> None:
    with pytest.raises(InvalidStateError) as caught:
        check_json_ready(value)
    assert caught.value.path == path
    assert caught.value.exit_code == 2
    assert not caught.value.retriable


def test_integers_beyond_64_bits_are_refused() -> None:
    with pytest.raises(InvalidStateError, match="64-bit"):
        canonical_json({"big": 2**64})


def test_encode_records_sizes_and_ratio() -> None:
    state = {"tasks": {f"task_{i}": {"status": "pending"} for i in range(200)}}
    snap = encode_snapshot(state)
    raw = canonical_json(state)
    assert snap.original_size == len(raw)
    assert snap.compressed_size == len(snap.blob) < len(raw)
    assert snap.ratio == pytest.approx(len(snap.blob) / len(raw))
    assert snap.hash == state_hash(state)
    assert zlib.decompress(snap.blob) == raw


def test_decode_returns_the_state() -> None:
    snap = encode_snapshot(STATE)
    assert decode_snapshot(snap.blob, expected_hash=snap.hash, checkpoint_id="ckpt_1") == STATE


@given(json_values)
def test_round_trip_property(value: Any) -> None:
    snap = encode_snapshot(value)
    back = decode_snapshot(snap.blob, expected_hash=snap.hash, checkpoint_id="c")
    assert canonical_json(back) == canonical_json(value)
    assert state_hash(back) == snap.hash


@given(json_objects, json_objects)
def test_equal_states_hash_equal_and_different_ones_differ(a: Any, b: Any) -> None:
    assert (state_hash(a) == state_hash(b)) == (canonical_json(a) == canonical_json(b))


def test_a_wrong_hash_is_corruption_naming_the_checkpoint() -> None:
    snap = encode_snapshot(STATE)
    other = state_hash({"something": "else"})
    with pytest.raises(CorruptCheckpointError) as caught:
        decode_snapshot(snap.blob, expected_hash=other, checkpoint_id="ckpt_789")
    err = caught.value
    assert "ckpt_789" in str(err)
    assert err.checkpoint_id == "ckpt_789"
    assert err.expected == other
    assert err.actual == snap.hash
    assert not err.retriable
    assert err.to_dict()["checkpoint_id"] == "ckpt_789"


def test_tampered_content_is_corruption() -> None:
    tampered = zlib.compress(canonical_json({**STATE, "workflow_id": "other"}), 6)
    snap = encode_snapshot(STATE)
    with pytest.raises(CorruptCheckpointError, match="does not match"):
        decode_snapshot(tampered, expected_hash=snap.hash, checkpoint_id="c1")


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda b: b[: len(b) // 2], "truncated"),
        (lambda b: b + b"junk", "trailing data"),
        (lambda b: b"not zlib at all", "corrupt"),
        (lambda b: bytes([b[0], b[1] ^ 0xFF]) + b[2:], "corrupt"),
    ],
)
def test_damaged_blobs_are_corruption(mangle: Any, message: str) -> None:
    snap = encode_snapshot({"tasks": {f"t{i}": i for i in range(200)}})
    assert snap.compressed_size < snap.original_size
    with pytest.raises(CorruptCheckpointError, match=message):
        decode_snapshot(mangle(snap.blob), expected_hash=snap.hash, checkpoint_id="c2")


@pytest.mark.parametrize("value", [{"tasks": {"t1": "done"}}, [{"path": ["a"], "op": "delete"}]])
def test_small_objects_and_lists_are_stored_as_they_encode(value: Any) -> None:
    snap = encode_snapshot(value)
    raw = canonical_json(value)
    assert len(raw) < RAW_BELOW
    assert snap.blob == raw
    assert snap.compressed_size == snap.original_size
    assert snap.ratio == 1.0
    assert decode_snapshot(snap.blob, expected_hash=snap.hash, checkpoint_id="c") == value


def test_small_payloads_compressed_as_older_rows_stored_them_still_decode() -> None:
    for value in (STATE, {"tasks": {"t1": "done"}}, [{"path": ["a"], "op": "delete"}], 5):
        raw = canonical_json(value)
        old = zlib.compress(raw, 6)  # every row before uncompressed payloads
        assert decode_snapshot(old, expected_hash=content_hash(raw), checkpoint_id="c") == value


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: b[:-1],
        lambda b: b + b" ",
        lambda b: b.replace(b"done", b"lost"),
        lambda b: b"[" + b,
    ],
)
def test_damaged_uncompressed_blobs_are_corruption(mangle: Any) -> None:
    snap = encode_snapshot({"tasks": {"t1": "done"}})
    with pytest.raises(CorruptCheckpointError, match="does not match"):
        decode_snapshot(mangle(snap.blob), expected_hash=snap.hash, checkpoint_id="c6")


def test_scalars_are_always_compressed() -> None:
    # Only an object or a list may start a stored blob uncompressed (module doc).
    assert zlib.decompress(encode_snapshot("x").blob) == b'"x"'
    assert zlib.decompress(encode_snapshot(7).blob) == b"7"


def test_a_blob_expanding_beyond_the_limit_is_refused_before_hashing() -> None:
    snap = encode_snapshot({"big": "x" * 10_000})
    with pytest.raises(CorruptCheckpointError, match="expands beyond 1000 bytes"):
        decode_snapshot(snap.blob, expected_hash=snap.hash, checkpoint_id="c3", max_size=1000)


def test_an_unknown_hash_algorithm_is_refused() -> None:
    snap = encode_snapshot(STATE)
    with pytest.raises(CorruptCheckpointError, match="unsupported hash"):
        decode_snapshot(snap.blob, expected_hash="md5:abc", checkpoint_id="c4")


def test_valid_hash_of_non_json_is_corruption() -> None:
    raw = b"{not json"
    with pytest.raises(CorruptCheckpointError, match="not JSON"):
        decode_snapshot(zlib.compress(raw), expected_hash=content_hash(raw), checkpoint_id="c5")


def test_state_snapshot_hashes_the_parts_present() -> None:
    parts = state_snapshot(STATE)
    assert parts == {
        "workflow_state_hash": state_hash(STATE),
        "agent_state_hash": state_hash(STATE["agents"]),
        "resource_state_hash": state_hash(STATE["resources"]),
    }
    assert state_snapshot({"tasks": {}}) == {"workflow_state_hash": state_hash({"tasks": {}})}


def test_storage_metadata_and_checkpoint_sync_validate_against_seed_001() -> None:
    snap = encode_snapshot(STATE)
    meta = storage_metadata(snap, location="pg://checkpoints/ckpt_789", backups=("primary",))
    assert meta["size_bytes"] == snap.compressed_size
    assert meta["backup_locations"] == ["primary"]
    data = checkpoint_sync(
        workflow_id="workflow_123",
        checkpoint_id="ckpt_789",
        timestamp=T0,
        state=STATE,
        stored=snap,
        checkpoint_type="phase_complete",
        trigger="failure_prevention",
        location="pg://checkpoints/ckpt_789",
    )
    model = CheckpointSyncMessage.model_validate({"checkpoint_sync": data}).checkpoint_sync
    assert model.checkpoint_id == "ckpt_789"
    assert model.timestamp == T0
    assert model.state_snapshot.workflow_state_hash == state_hash(STATE)
    assert model.state_snapshot.file_system_hash is None
    assert model.validation_results.integrity_check == "passed"
    assert model.storage_metadata.compression_ratio == round(snap.ratio, 4)
    # The data is JSON-ready as it is.
    assert orjson.loads(orjson.dumps(data)) == data


@given(json_objects)
def test_compressing_an_encoding_is_encoding_the_value(value: dict[str, Any]) -> None:
    raw, decoded = canonical_decoded(value)
    assert raw == canonical_json(value)
    assert decoded == value
    assert compress_canonical(raw) == encode_snapshot(value)
    assert compress_canonical(raw, raw_hash=content_hash(raw)) == encode_snapshot(value)


def test_the_decoded_copy_shares_nothing() -> None:
    value = {"a": {"b": [1, {"c": 2}]}}
    _, decoded = canonical_decoded(value)
    decoded["a"]["b"][1]["c"] = 3
    assert value == {"a": {"b": [1, {"c": 2}]}}
