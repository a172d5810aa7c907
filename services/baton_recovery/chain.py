"""Chains of differential checkpoints: when to store a delta, and rebuilding a state.

A chain is a full checkpoint followed by deltas (:mod:`baton_recovery.delta`), each applying
to the one before it; every checkpoint records the hash of the full state it stands for, and
:func:`rebuild_state` checks each of them on the way, so a damaged link is found where it is.

Choices where the seeds are silent (seed 002 asks for ``"differential": true``):

- :class:`ChainPolicy`: a chain holds at most ``full_every`` checkpoints (one full, then
  deltas; 10 by default), and a delta whose encoding is larger than ``max_delta_ratio`` of
  the full encoding (50 % by default) is stored as a full checkpoint instead. Sizes are those
  of the canonical encodings, before compression.
- A delta that does not apply to the state rebuilt so far is corruption of that checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from baton_recovery.canonical import canonical_decoded, canonical_json, encode_canonical
from baton_recovery.delta import apply_diff, copy_json, decode_diff, encoded_diff, patch
from baton_recovery.errors import CheckpointChainError, CorruptCheckpointError, InvalidStateError
from baton_recovery.snapshot import content_hash, state_hash

__all__ = [
    "ChainPolicy",
    "CheckpointKind",
    "CheckpointRecord",
    "PreparedCheckpoint",
    "chain_to",
    "prepare_checkpoint",
    "rebuild_state",
]

CheckpointKind = Literal["full", "delta"]
"""How a checkpoint is stored: the whole state, or a diff from the checkpoint before it."""


@dataclass(frozen=True, slots=True)
class ChainPolicy:
    """When a checkpoint is stored full rather than as a delta (module doc).

    Attributes:
        full_every: Most checkpoints in one chain (1 stores every checkpoint full).
        max_delta_ratio: Largest delta size, as a fraction of the full size.
    """

    full_every: int = 10
    max_delta_ratio: float = 0.5

    def __post_init__(self) -> None:
        if self.full_every < 1:
            raise ValueError(f"full_every must be at least 1, got {self.full_every}")
        if not self.max_delta_ratio > 0:
            raise ValueError(f"max_delta_ratio must be positive, got {self.max_delta_ratio}")

    def choose(
        self, *, deltas_since_full: int | None, delta_size: int, full_size: int
    ) -> CheckpointKind:
        """``full`` or ``delta`` for the next checkpoint.

        Args:
            deltas_since_full: Deltas stored since the last full checkpoint of the chain;
                None when there is no earlier checkpoint to build on.
            delta_size: Bytes of the encoded delta.
            full_size: Bytes of the encoded full state.
        """
        if self.full_due(deltas_since_full=deltas_since_full):
            return "full"
        return "full" if delta_size > self.max_delta_ratio * full_size else "delta"

    def full_due(self, *, deltas_since_full: int | None) -> bool:
        """Whether the next checkpoint is full whatever its delta would be."""
        return deltas_since_full is None or deltas_since_full + 1 >= self.full_every


@dataclass(frozen=True, slots=True)
class PreparedCheckpoint:
    """What to store for a new checkpoint.

    Attributes:
        kind: ``full`` or ``delta``.
        payload: JSON-ready data to store: the state, or the encoded diff.
        state_hash: Hash of the full state the checkpoint stands for.
        full_size: Bytes of the full state's canonical encoding.
        delta_size: Bytes of the encoded diff; None when none was made (nothing to diff
            against, or the chain was due a full checkpoint anyway).
        encoded: The canonical encoding of ``payload`` (what is compressed and stored).
        stored_state: The state as plain JSON, equal to what restoring this checkpoint
            gives; it shares the subtrees the diff left alone with ``previous``.
    """

    kind: CheckpointKind
    payload: Any
    state_hash: str
    full_size: int
    delta_size: int | None
    encoded: bytes
    stored_state: dict[str, Any]


def prepare_checkpoint(
    *,
    state: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    deltas_since_full: int | None,
    policy: ChainPolicy,
) -> PreparedCheckpoint:
    """Decide between a full and a delta checkpoint of ``state`` and build its payload.

    ``state`` is encoded once: those bytes are hashed, stored when it is full, and the
    delta is proven against them (:func:`_delta`). Without ``previous`` the state's own
    decoding checks that it is JSON-ready data; with it, the proven delta does.

    Args:
        state: The state to capture.
        previous: The full state of the previous checkpoint of the chain, if any, as plain
            JSON (decoded or rebuilt from storage, or an earlier ``stored_state``).
        deltas_since_full: Deltas stored since the chain's full checkpoint (None: no chain).
        policy: When to store full.

    Raises:
        InvalidStateError: ``state`` is not JSON-ready data.
    """
    full = dict(state)
    if previous is not None and not policy.full_due(deltas_since_full=deltas_since_full):
        raw = encode_canonical(full)
        limit = policy.max_delta_ratio * len(raw)
        delta = _delta(previous, full, raw, limit, exact=False) or _delta(
            previous, full, raw, limit, exact=True
        )
        if isinstance(delta, int):  # too large: stored full, no need to prove it
            decoded = canonical_decoded(full, raw=raw)[1]
            return PreparedCheckpoint(
                "full", full, content_hash(raw), len(raw), delta, raw, decoded
            )
        if delta is not None:
            encoded, delta_raw, stored = delta
            kind = policy.choose(
                deltas_since_full=deltas_since_full, delta_size=len(delta_raw), full_size=len(raw)
            )
            payload, payload_raw = (full, raw) if kind == "full" else (encoded, delta_raw)
            digest = content_hash(raw)
            return PreparedCheckpoint(
                kind, payload, digest, len(raw), len(delta_raw), payload_raw, stored
            )
    # No chain to build on, a full one due (or, never for JSON-ready data, no delta that
    # rebuilds the state).
    raw, decoded = canonical_decoded(full)
    return PreparedCheckpoint("full", full, content_hash(raw), len(raw), None, raw, decoded)


def _delta(
    previous: Mapping[str, Any], state: dict[str, Any], raw: bytes, limit: float, *, exact: bool
) -> tuple[list[dict[str, Any]], bytes, dict[str, Any]] | int | None:
    """The encoded diff from ``previous`` to ``state``, its canonical encoding, and
    ``previous`` patched with it; None unless that patched state encodes to ``raw``; or
    just the size of that encoding when it exceeds ``limit`` (a full checkpoint then).

    The encoding check proves the delta rebuilds exactly the state hashed, which lets the
    diff compare with ``==`` alone first (``exact=False``: it fails only on a number that
    changed type or zero sign). It also proves ``state`` JSON-ready: each value is in the
    delta, whose own encoding is checked, or ``==`` to plain JSON encoded alike. (A delta
    ``==`` misses changes in is only smaller than the exact one, so a loose delta over the
    limit means a full checkpoint either way.)

    Raises:
        InvalidStateError: a changed value is not JSON-ready data.
    """
    encoded = encoded_diff(previous, state, exact=exact)
    try:
        delta_raw = encode_canonical(encoded)
        if len(delta_raw) > limit:
            return len(delta_raw)
        delta_raw, decoded = canonical_decoded(encoded, raw=delta_raw)
    except InvalidStateError:
        canonical_json(state)  # raises naming the offending path in the state itself
        raise
    stored = patch(previous, decoded)
    return (encoded, delta_raw, stored) if encode_canonical(stored) == raw else None


@dataclass(frozen=True, slots=True)
class CheckpointRecord:
    """A stored checkpoint, as a chain sees it.

    Attributes:
        checkpoint_id: Its id.
        kind: ``full`` or ``delta``.
        state_hash: Hash of the full state it stands for.
        payload: The state (full) or the encoded diff (delta), already decoded from storage.
        base_id: The checkpoint a delta applies to; None for a full one.
    """

    checkpoint_id: str
    kind: CheckpointKind
    state_hash: str
    payload: Any
    base_id: str | None = None


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


def _verify(record: CheckpointRecord, state: dict[str, Any]) -> None:
    actual = state_hash(state)
    if actual != record.state_hash:
        raise CorruptCheckpointError(
            f"checkpoint {record.checkpoint_id} is corrupt: rebuilt state hash {actual} "
            f"does not match {record.state_hash}",
            checkpoint_id=record.checkpoint_id,
            expected=record.state_hash,
            actual=actual,
        )


def rebuild_state(
    records: Mapping[str, CheckpointRecord] | Sequence[CheckpointRecord], checkpoint_id: str
) -> dict[str, Any]:
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
    state: dict[str, Any] = copy_json(first.payload)
    _verify(first, state)
    for record in chain[1:]:
        changes = decode_diff(record.payload, checkpoint_id=record.checkpoint_id)
        try:
            state = apply_diff(state, changes)
        except ValueError as exc:
            raise CorruptCheckpointError(
                f"checkpoint {record.checkpoint_id}: delta does not apply: {exc}",
                checkpoint_id=record.checkpoint_id,
                expected=record.state_hash,
            ) from None
        _verify(record, state)
    return state
