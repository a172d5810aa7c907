"""Writing checkpoints: full or differential, many per round trip.

For a batch of checkpoint requests the writer reads the latest checkpoint of every workflow
involved in one query, diffs each new state against the state before it (kept in memory
from the last write when the table confirms it is still the latest, else rebuilt from the
chain with every hash checked), hashes and compresses, and inserts the batch in one
statement. Requests of one workflow in a batch chain onto each other in order. A checkpoint
id stored before is skipped (a redelivered request), and reported as None.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from baton_recovery.chain import ChainPolicy, prepare_checkpoint
from baton_recovery.snapshot import encode_snapshot
from baton_recovery.store import RecoveryStore

__all__ = ["CheckpointRequest", "CheckpointWriter"]

LAST_STATES: Final = 10_000
"""Latest checkpointed states kept in memory (one per workflow, least recent dropped)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointRequest:
    """One checkpoint to store."""

    workflow_id: str
    checkpoint_id: str
    checkpoint_type: str
    trigger: str
    state_version: int
    state: Mapping[str, Any]


@dataclass(slots=True)
class _Head:
    checkpoint_id: str
    deltas_since_full: int
    state: Mapping[str, Any]


class CheckpointWriter:
    """Stores checkpoints for workflow-recovery (module doc)."""

    def __init__(self, *, store: RecoveryStore, policy: ChainPolicy) -> None:
        self.store = store
        self.policy = policy
        self._last: OrderedDict[str, _Head] = OrderedDict()

    async def write(
        self, conn: Any, requests: Sequence[CheckpointRequest]
    ) -> list[dict[str, Any] | None]:
        """Store ``requests`` in order (in ``conn``'s transaction); each one's
        ``checkpoint_sync`` data, or None when its id was stored before."""
        heads = await self._heads(conn, {r.workflow_id for r in requests})
        rows: list[tuple[Any, ...]] = []
        syncs: list[dict[str, Any]] = []
        for req in requests:
            head = heads.get(req.workflow_id)
            prepared = prepare_checkpoint(
                state=req.state,
                previous=None if head is None else head.state,
                deltas_since_full=None if head is None else head.deltas_since_full,
                policy=self.policy,
            )
            since_full = (
                0 if prepared.kind == "full" else (head.deltas_since_full + 1 if head else 0)
            )
            blob = encode_snapshot(prepared.payload)
            rows.append(
                (
                    req.checkpoint_id,
                    req.workflow_id,
                    req.checkpoint_type,
                    req.trigger,
                    req.state_version,
                    prepared.kind,
                    head.checkpoint_id if head is not None and prepared.kind == "delta" else None,
                    since_full,
                    blob.blob,
                    blob.hash,
                    prepared.state_hash,
                    prepared.full_size,
                    blob.compressed_size,
                )
            )
            syncs.append(
                _sync(
                    req,
                    state_hash=prepared.state_hash,
                    kind=prepared.kind,
                    stored=blob.compressed_size,
                    full=prepared.full_size,
                )
            )
            heads[req.workflow_id] = _Head(req.checkpoint_id, since_full, req.state)
        inserted = await self.store.insert_many(conn, rows)
        # Valid once committed; if the transaction rolls back, the table disagrees next time.
        for workflow_id, head in heads.items():
            self._last[workflow_id] = head
            self._last.move_to_end(workflow_id)
        while len(self._last) > LAST_STATES:
            self._last.popitem(last=False)
        return [s if r[0] in inserted else None for s, r in zip(syncs, rows, strict=True)]

    async def _heads(self, conn: Any, workflows: set[str]) -> dict[str, _Head]:
        heads: dict[str, _Head] = {}
        for latest in await self.store.latest_many(conn, sorted(workflows)):
            cached = self._last.get(latest.workflow_id)
            if cached is not None and cached.checkpoint_id == latest.checkpoint_id:
                heads[latest.workflow_id] = cached
                continue
            state = await self.store.state_at(conn, latest.checkpoint_id)
            deltas = 0 if latest.kind == "full" else latest.deltas_since_full
            heads[latest.workflow_id] = _Head(latest.checkpoint_id, deltas, state)
        return heads


def _sync(
    req: CheckpointRequest, *, state_hash: str, kind: str, stored: int, full: int
) -> dict[str, Any]:
    """Seed 001's ``checkpoint_sync`` of a stored checkpoint."""
    return {
        "checkpoint_sync": {
            "message_type": "checkpoint_sync",
            "checkpoint_id": req.checkpoint_id,
            "workflow_id": req.workflow_id,
            "checkpoint_type": req.checkpoint_type,
            "trigger": req.trigger,
            "state_version": req.state_version,
            "state_snapshot": {"workflow_state_hash": state_hash},
            "validation_results": {
                "integrity_check": "passed",
                "dependency_validation": "unknown",
                "resource_consistency": "unknown",
            },
            "storage_metadata": {
                "size_bytes": stored,
                "compression_ratio": round(stored / full, 4) if full else 1.0,
                "storage_location": f"postgresql:recovery_checkpoints/{req.checkpoint_id}",
                "differential": kind == "delta",
            },
        }
    }
