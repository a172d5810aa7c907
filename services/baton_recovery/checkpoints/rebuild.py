"""Rebuilding a checkpoint's state from its chain, every hash checked on the way.

A chain is read back from its full checkpoint: each delta is applied to the state rebuilt so
far, and each result must match the hash its checkpoint recorded, so a damaged link is found
where it is. Byte deltas (:mod:`baton_recovery.checkpoints.bytedelta`) apply to the encoding of the
state before, diffs (:mod:`baton_recovery.checkpoints.delta`) to the state itself; a chain may mix
them (a state that grew past a byte delta's base size switches to diffs), and the state is decoded
or encoded only where the next link needs the other form.

A delta that does not apply to the state rebuilt so far is corruption of that checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from baton_recovery.checkpoints.bytedelta import ByteDelta, is_byte_delta
from baton_recovery.checkpoints.chain import CheckpointKind
from baton_recovery.checkpoints.delta import apply_diff, copy_json, decode_diff
from baton_recovery.checkpoints.snapshot import (
    MAX_STATE_BYTES,
    canonical_json,
    content_hash,
    decode_snapshot,
)
from baton_recovery.errors import CheckpointChainError, CorruptCheckpointError

__all__ = ["CheckpointRecord", "Rebuilt", "chain_to", "rebuild", "rebuild_state", "stored_record"]


@dataclass(frozen=True, slots=True)
class CheckpointRecord:
    """A stored checkpoint, as a chain sees it.

    Attributes:
        checkpoint_id: Its id.
        kind: ``full`` or ``delta``.
        state_hash: Hash of the full state it stands for.
        payload: Decoded from storage: the state (full), the encoded diff, or a
            :class:`~baton_recovery.checkpoints.bytedelta.ByteDelta` (which decodes only
            against its base).
        base_id: The checkpoint a delta applies to; None for a full one.
    """

    checkpoint_id: str
    kind: CheckpointKind
    state_hash: str
    payload: Any
    base_id: str | None = None


def stored_record(
    *,
    checkpoint_id: str,
    kind: CheckpointKind,
    state_hash: str,
    payload: bytes,
    payload_hash: str,
    base_id: str | None,
) -> CheckpointRecord:
    """A record from a stored row; its payload's hash is checked now, or, for a byte delta
    (whose payload hash is its state's), when it is applied.

    Raises:
        CorruptCheckpointError: the payload does not decode or match its hash.
    """
    if is_byte_delta(payload):
        if payload_hash != state_hash:
            raise CorruptCheckpointError(
                f"checkpoint {checkpoint_id}: a byte delta's payload hash {payload_hash} "
                f"is not its state hash {state_hash}",
                checkpoint_id=checkpoint_id,
                expected=state_hash,
                actual=payload_hash,
            )
        data: Any = ByteDelta(payload)
    else:
        data = decode_snapshot(payload, expected_hash=payload_hash, checkpoint_id=checkpoint_id)
    return CheckpointRecord(checkpoint_id, kind, state_hash, data, base_id)


def chain_to(records: Mapping[str, CheckpointRecord], checkpoint_id: str) -> list[CheckpointRecord]:
    """The chain ending at ``checkpoint_id``: its full checkpoint first, then the deltas.

    Raises:
        CheckpointChainError: a checkpoint of the chain is missing, a delta has no base, or
            the chain loops.
    """
    chain: list[CheckpointRecord] = []
    seen: set[str] = set()
    current: str | None = checkpoint_id
    while current is not None:
        record = records.get(current)
        if record is None:
            wanted_by = chain[-1].checkpoint_id if chain else None
            where = f" (base of {wanted_by})" if wanted_by else ""
            raise CheckpointChainError(
                f"checkpoint {current} not found{where}", checkpoint_id=current
            )
        if current in seen:
            raise CheckpointChainError(
                f"checkpoint chain loops at {current}", checkpoint_id=current
            )
        seen.add(current)
        chain.append(record)
        if record.kind == "full":
            break
        if record.base_id is None:
            raise CheckpointChainError(
                f"delta checkpoint {current} names no base", checkpoint_id=current
            )
        current = record.base_id
    chain.reverse()
    return chain


class Rebuilt(NamedTuple):
    """A rebuilt state: its canonical encoding (hash checked), and the state itself when
    the last link produced it (None after a byte delta: decode ``raw`` when needed)."""

    raw: bytes
    state: dict[str, Any] | None


def _verified(record: CheckpointRecord, raw: bytes) -> bytes:
    actual = content_hash(raw)
    if actual != record.state_hash:
        raise CorruptCheckpointError(
            f"checkpoint {record.checkpoint_id} is corrupt: rebuilt state hash {actual} "
            f"does not match {record.state_hash}",
            checkpoint_id=record.checkpoint_id,
            expected=record.state_hash,
            actual=actual,
        )
    return raw


def rebuild(
    records: Mapping[str, CheckpointRecord] | Sequence[CheckpointRecord], checkpoint_id: str
) -> Rebuilt:
    """The full state at ``checkpoint_id``, with the hash of every checkpoint on the way checked.

    Args:
        records: Stored checkpoints (by id, or a list); at least the chain to the target.
        checkpoint_id: The checkpoint to rebuild.

    Raises:
        CheckpointChainError: the chain is broken (:func:`chain_to`).
        CorruptCheckpointError: a payload is not what its kind needs, a delta does not apply,
            or a rebuilt state does not match its recorded hash; names that checkpoint.
    """
    by_id = records if isinstance(records, Mapping) else {r.checkpoint_id: r for r in records}
    chain = chain_to(by_id, checkpoint_id)
    first = chain[0]
    if not isinstance(first.payload, dict):
        raise CorruptCheckpointError(
            f"checkpoint {first.checkpoint_id}: a full checkpoint must hold an object",
            checkpoint_id=first.checkpoint_id,
        )
    state: dict[str, Any] | None = copy_json(first.payload)
    raw = _verified(first, canonical_json(state))
    for record in chain[1:]:
        if isinstance(record.payload, ByteDelta):
            raw = record.payload.apply(
                raw, checkpoint_id=record.checkpoint_id, max_size=MAX_STATE_BYTES
            )
            raw, state = _verified(record, raw), None
            continue
        changes = decode_diff(record.payload, checkpoint_id=record.checkpoint_id)
        try:
            state = apply_diff(orjson.loads(raw) if state is None else state, changes)
        except ValueError as exc:
            raise CorruptCheckpointError(
                f"checkpoint {record.checkpoint_id}: delta does not apply: {exc}",
                checkpoint_id=record.checkpoint_id,
                expected=record.state_hash,
            ) from None
        raw = _verified(record, canonical_json(state))
    return Rebuilt(raw, state)


def rebuild_state(
    records: Mapping[str, CheckpointRecord] | Sequence[CheckpointRecord], checkpoint_id: str
) -> dict[str, Any]:
    """:func:`rebuild`, as the state itself (plain JSON, owned by the caller).

    Raises:
        CheckpointChainError, CorruptCheckpointError: as :func:`rebuild`.
    """
    raw, state = rebuild(records, checkpoint_id)
    if state is not None:
        return state
    decoded: dict[str, Any] = orjson.loads(raw)
    return decoded
