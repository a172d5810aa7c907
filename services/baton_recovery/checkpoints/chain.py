"""Chains of differential checkpoints: when to store a delta, and what to store.

A chain is a full checkpoint followed by deltas, each applying to the one before it; every
checkpoint records the hash of the full state it stands for, which
:mod:`baton_recovery.checkpoints.rebuild` checks on the way back, so a damaged link is found where
it is. A delta is a byte delta (:mod:`baton_recovery.checkpoints.bytedelta`) when the state before
is small enough to be its base, as workflow states almost always are; otherwise a diff
(:mod:`baton_recovery.checkpoints.delta`).

Choices the protocol leaves open (a workflow definition may ask for
``"differential": true``):

- :class:`ChainPolicy`: a chain holds at most ``full_every`` checkpoints (one full, then
  deltas; 10 by default), and a delta whose encoding is larger than ``max_delta_ratio`` of
  the full encoding (50 % by default) is stored as a full checkpoint instead. Sizes are those
  of the canonical encodings before compression, and a byte delta's as stored (it is its own
  compression).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import orjson

from baton_recovery.checkpoints.bytedelta import can_base, encode_against
from baton_recovery.checkpoints.canonical import canonical_decoded, canonical_json, encode_canonical
from baton_recovery.checkpoints.delta import encoded_diff, patch
from baton_recovery.checkpoints.snapshot import Snapshot, compress_canonical, content_hash
from baton_recovery.errors import InvalidStateError

__all__ = ["ChainPolicy", "CheckpointKind", "PreparedCheckpoint", "prepare_checkpoint"]

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


class PreparedCheckpoint(NamedTuple):
    """What to store for a new checkpoint.

    Attributes:
        kind: ``full`` or ``delta``.
        stored: The payload as stored: the state's encoding (compressed when large), a
            byte delta (:mod:`baton_recovery.checkpoints.bytedelta`), or an encoded diff (compressed
            when large); its ``hash`` is that of what the payload decodes to.
        state_hash: Hash of the full state the checkpoint stands for.
        full_size: Bytes of the full state's canonical encoding.
        delta_size: Bytes of the delta (a byte delta as stored, a diff's encoding before
            compression); None when none was made (nothing to diff against, or the chain
            was due a full checkpoint anyway).
        raw: The full state's canonical encoding: the base of the next checkpoint.
        stored_state: The state as plain JSON, equal to what restoring this checkpoint
            gives, kept only when the next delta will be a diff (:func:`prepare_checkpoint`);
            it shares the subtrees the diff left alone with ``previous_state``.
    """

    kind: CheckpointKind
    stored: Snapshot
    state_hash: str
    full_size: int
    delta_size: int | None
    raw: bytes
    stored_state: dict[str, Any] | None


def prepare_checkpoint(
    *,
    state: Mapping[str, Any],
    previous: bytes | None,
    deltas_since_full: int | None,
    policy: ChainPolicy,
    previous_state: Mapping[str, Any] | None = None,
    json_ready: bool = False,
) -> PreparedCheckpoint:
    """Decide between a full and a delta checkpoint of ``state`` and build its payload.

    ``state`` is encoded once: those bytes are hashed, stored when it is full, and the delta
    is made from them. A previous state small enough (:func:`~baton_recovery.checkpoints.bytedelta.
    can_base`) gets a byte delta, exact by construction, once ``state`` is checked to be
    JSON-ready data; a larger one a diff (:mod:`baton_recovery.checkpoints.delta`), proven against
    the encoding (:func:`_delta`).

    Args:
        state: The state to capture.
        previous: The canonical encoding of the previous checkpoint's full state, if any.
        deltas_since_full: Deltas stored since the chain's full checkpoint (None: no chain).
        policy: When to store full.
        previous_state: ``previous`` decoded, as plain JSON, when at hand (a diff needs it;
            decoded from ``previous`` otherwise).
        json_ready: ``state`` is known to be JSON-ready data (decoded from JSON and left
            alone since), so a byte delta or a full checkpoint of a small state skips the
            check: its encoding then round-trips by construction.

    Raises:
        InvalidStateError: ``state`` is not JSON-ready data.
    """
    full = dict(state)
    raw = encode_canonical(full)
    digest = content_hash(raw)
    if previous is None or policy.full_due(deltas_since_full=deltas_since_full):
        return _full(full, raw, digest, checked=json_ready)
    if can_base(previous):
        # The check (refusing what is not JSON-ready) also gives the state as plain JSON,
        # which is kept only for a state too large to be a byte delta's base.
        decoded = None if json_ready and can_base(raw) else canonical_decoded(full, raw=raw)[1]
        blob = encode_against(raw, base=previous)
        if (
            policy.choose(
                deltas_since_full=deltas_since_full, delta_size=len(blob), full_size=len(raw)
            )
            == "full"
        ):
            return _full(
                full, raw, digest, decoded=decoded, checked=json_ready, delta_size=len(blob)
            )
        stored = Snapshot(blob=blob, hash=digest, original_size=len(raw), compressed_size=len(blob))
        kept = None if can_base(raw) else decoded
        return PreparedCheckpoint("delta", stored, digest, len(raw), len(blob), raw, kept)
    before = orjson.loads(previous) if previous_state is None else previous_state
    limit = policy.max_delta_ratio * len(raw)
    delta = _delta(before, full, raw, limit, exact=False) or _delta(
        before, full, raw, limit, exact=True
    )
    if isinstance(delta, int):  # too large: stored full, no need to prove it
        return _full(full, raw, digest, delta_size=delta)
    if delta is None:  # never for JSON-ready data: no diff rebuilds the state
        return _full(full, raw, digest)
    delta_raw, patched = delta  # the patched state is proven JSON-ready, equal to ``state``
    if (
        policy.choose(
            deltas_since_full=deltas_since_full, delta_size=len(delta_raw), full_size=len(raw)
        )
        == "full"
    ):
        return _full(full, raw, digest, decoded=patched, delta_size=len(delta_raw))
    kept = None if can_base(raw) else patched
    return PreparedCheckpoint(
        "delta", compress_canonical(delta_raw), digest, len(raw), len(delta_raw), raw, kept
    )


def _full(
    full: dict[str, Any],
    raw: bytes,
    digest: str,
    *,
    decoded: dict[str, Any] | None = None,
    checked: bool = False,
    delta_size: int | None = None,
) -> PreparedCheckpoint:
    """A full checkpoint of ``full``, whose encoding is ``raw`` with hash ``digest``;
    ``decoded`` is that encoding decoded, when the caller has it (otherwise decoding checks
    that it is JSON-ready, unless it is ``checked`` already and the decoded state is not
    kept)."""
    if decoded is None and not (checked and can_base(raw)):
        decoded = canonical_decoded(full, raw=raw)[1]
    stored = compress_canonical(raw, raw_hash=digest)  # a full payload's hash is the state's
    kept = None if can_base(raw) else decoded
    return PreparedCheckpoint("full", stored, digest, len(raw), delta_size, raw, kept)


def _delta(
    previous: Mapping[str, Any], state: dict[str, Any], raw: bytes, limit: float, *, exact: bool
) -> tuple[bytes, dict[str, Any]] | int | None:
    """The canonical encoding of the diff from ``previous`` to ``state``, and ``previous``
    patched with it; None unless that patched state encodes to ``raw``; or just the size of
    that encoding when it exceeds ``limit`` (a full checkpoint then).

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
    return (delta_raw, stored) if encode_canonical(stored) == raw else None
