"""Writing checkpoints: full or differential, many per round trip.

For a batch of checkpoint requests the writer reads the latest checkpoint of every workflow
involved (and which of the ids are stored already) in one query, then encodes and hashes
each new state and makes its delta against the state before it
(:func:`~baton_recovery.checkpoints.chain.prepare_checkpoint`) as the rows are being sent to the
table (:meth:`RecoveryStore.insert_rows`). Requests of one workflow in a batch chain onto each
other in order. A checkpoint id stored before (a redelivered request), or twice in a
batch, is stored once and reported as None again.

The state before is kept in memory from the last committed write, as its canonical encoding
(the base of a byte delta), and for a state too large for that also as plain JSON nobody
mutates (successive states share their unchanged subtrees), and used only while the table
confirms it: its checkpoint is still the workflow's latest, with the same state hash.
Otherwise (a restart, another writer, a rolled-back batch) it is rebuilt from the chain
with every hash checked. Either way the rows written are the same. The memory is updated
by :meth:`CheckpointWriter.committed`, which the caller calls once the transaction of
:meth:`CheckpointWriter.write` has committed.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from baton_recovery.checkpoints.chain import ChainPolicy, prepare_checkpoint
from baton_recovery.errors import RecoveryError
from baton_recovery.store import Head, RecoveryStore

__all__ = ["CheckpointRequest", "CheckpointWriter", "WrittenCheckpoints"]

LAST_STATES: Final = 2_000
"""Latest checkpointed states kept in memory: one per running workflow (an ended one's goes,
:meth:`CheckpointWriter.forget`), the least recent dropped past this many; a state not
kept is read back from its chain."""
_LOOK_EVERY: Final = 8
"""Requests prepared early between two looks at whether the lookup has answered."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointRequest:
    """One checkpoint to store."""

    workflow_id: str
    checkpoint_id: str
    checkpoint_type: str
    trigger: str
    state_version: int
    state: Mapping[str, Any]
    decoded: bool = False
    """``state`` was decoded from JSON (an event's data) and left alone since: it is
    JSON-ready by construction, so the writer need not check it."""


class _Head(NamedTuple):
    """The latest checkpoint of a workflow, with its full state's canonical encoding (and
    the state as plain JSON when prepare kept it: ``PreparedCheckpoint.stored_state``)."""

    checkpoint_id: str
    state_hash: str
    deltas_since_full: int
    raw: bytes
    state: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class WrittenCheckpoints:
    """What one :meth:`CheckpointWriter.write` stored.

    Attributes:
        created: Per request, in order: its ``checkpoint_sync`` data, or None when its id
            was stored before.
    """

    created: list[dict[str, Any] | None]
    _heads: dict[str, _Head]


class CheckpointWriter:
    """Stores checkpoints for workflow-recovery (module doc)."""

    def __init__(self, *, store: RecoveryStore, policy: ChainPolicy) -> None:
        self.store = store
        self.policy = policy
        self._last: OrderedDict[str, _Head] = OrderedDict()

    async def write(self, conn: Any, requests: Sequence[CheckpointRequest]) -> WrittenCheckpoints:
        """Store ``requests`` in order, in ``conn``'s transaction.

        Raises:
            InvalidStateError: a state is not JSON-ready data.
            CheckpointChainError, CorruptCheckpointError: a state before had to be rebuilt
                and its chain is broken or damaged.
        """
        lookup = asyncio.ensure_future(
            self.store.heads(
                conn,
                workflow_ids=sorted({r.workflow_id for r in requests}),
                checkpoint_ids=[r.checkpoint_id for r in requests],
            )
        )
        early: dict[int, _Prepared] = {}
        built_on: dict[str, _Head] = {}
        try:
            await self._prepare_early(requests, lookup, early, built_on)
        finally:
            await asyncio.wait([lookup])  # the connection is free again before anything else
        latest, known = lookup.result()
        heads = await self._heads(conn, latest)
        stale: set[str] = set()
        for index, prepared in early.items():  # early rows stand if memory was right
            workflow = requests[index].workflow_id
            head = heads.get(workflow)
            if head is None or head[:2] != built_on[workflow][:2] or prepared.row[0] in known:
                stale.add(workflow)
        todo: list[tuple[CheckpointRequest, _Prepared | None]] = []
        for index, req in enumerate(requests):  # ids stored before, or twice, are stored once
            if req.checkpoint_id not in known:
                known.add(req.checkpoint_id)
                ready = None if req.workflow_id in stale else early.get(index)
                todo.append((req, ready))
        syncs: dict[str, _Sync] = {}
        rows = self._rows(todo, heads, syncs)  # prepared while the rows are being sent
        inserted = await self.store.insert_rows(conn, rows, count=len(todo))
        created: list[dict[str, Any] | None] = []
        for req in requests:
            sync = syncs.pop(req.checkpoint_id, None)
            created.append(
                sync.data() if sync is not None and req.checkpoint_id in inserted else None
            )
        return WrittenCheckpoints(created, heads)

    async def _prepare_early(
        self,
        requests: Sequence[CheckpointRequest],
        lookup: asyncio.Future[Any],
        early: dict[int, _Prepared],
        built_on: dict[str, _Head],
    ) -> None:
        """Prepare requests from the states in memory while the lookup runs on the server,
        until it answers; ``built_on`` records the state each workflow's rows start from."""
        reached: dict[str, _Head] = {}
        seen: set[str] = set()
        for index, req in enumerate(requests):
            if index % _LOOK_EVERY == 0:
                await asyncio.sleep(0)  # sends the lookup, then lets its answer in
                if lookup.done():
                    return
            workflow = req.workflow_id
            head = reached.get(workflow) or self._last.get(workflow)
            if head is None or req.checkpoint_id in seen:
                continue  # not in memory (nor later ones of the workflow); a repeated id
            try:
                prepared = self._prepare(req, head)
            except RecoveryError:
                return  # raised again when it is its turn, unless its id is stored already
            seen.add(req.checkpoint_id)
            built_on.setdefault(workflow, head)
            early[index] = prepared
            reached[workflow] = prepared.head

    def _rows(
        self,
        todo: list[tuple[CheckpointRequest, _Prepared | None]],
        heads: dict[str, _Head],
        syncs: dict[str, _Sync],
    ) -> Iterator[tuple[Any, ...]]:
        """The rows of ``todo``, each prepared when asked for unless it was already; fills
        ``syncs`` and moves ``heads`` on as it goes."""
        for req, prepared in todo:
            if prepared is None:
                prepared = self._prepare(req, heads.get(req.workflow_id))
            syncs[req.checkpoint_id] = prepared.sync
            heads[req.workflow_id] = prepared.head
            yield prepared.row

    def _prepare(self, req: CheckpointRequest, head: _Head | None) -> _Prepared:
        prepared = prepare_checkpoint(
            state=req.state,
            previous=None if head is None else head.raw,
            previous_state=None if head is None else head.state,
            json_ready=req.decoded,
            deltas_since_full=None if head is None else head.deltas_since_full,
            policy=self.policy,
        )
        delta = head is not None and prepared.kind == "delta"
        since_full = head.deltas_since_full + 1 if head is not None and delta else 0
        blob = prepared.stored
        row = (
            req.checkpoint_id,
            req.workflow_id,
            req.checkpoint_type,
            req.trigger,
            req.state_version,
            prepared.kind,
            head.checkpoint_id if head is not None and delta else None,
            since_full,
            blob.blob,
            blob.hash,
            prepared.state_hash,
            prepared.full_size,
            blob.compressed_size,
        )
        return _Prepared(
            row,
            _Sync(
                req, prepared.kind, prepared.state_hash, prepared.full_size, blob.compressed_size
            ),
            _Head(
                req.checkpoint_id,
                prepared.state_hash,
                since_full,
                prepared.raw,
                prepared.stored_state,
            ),
        )

    def committed(self, written: WrittenCheckpoints) -> None:
        """Remember the states ``written`` left as latest, once its transaction committed
        (without this the next write reads them back instead)."""
        for workflow_id, head in written._heads.items():
            self._last[workflow_id] = head
            self._last.move_to_end(workflow_id)
        while len(self._last) > LAST_STATES:
            self._last.popitem(last=False)

    def forget(self, workflow_id: str) -> None:
        """Drop the state kept of a workflow that ended (a later checkpoint of it, after a
        restore, reads its chain back)."""
        self._last.pop(workflow_id, None)

    @property
    def kept(self) -> int:
        """Workflows whose latest state is kept in memory."""
        return len(self._last)

    async def _heads(self, conn: Any, latest_rows: list[Head]) -> dict[str, _Head]:
        heads: dict[str, _Head] = {}
        for latest in latest_rows:
            deltas = 0 if latest.kind == "full" else latest.deltas_since_full
            cached = self._last.get(latest.workflow_id)
            if (
                cached is not None
                and cached.checkpoint_id == latest.checkpoint_id
                and cached.state_hash == latest.state_hash
            ):
                raw, state = cached.raw, cached.state
            else:
                raw, state = await self.store.rebuilt_at(conn, latest.checkpoint_id)
            heads[latest.workflow_id] = _Head(
                latest.checkpoint_id, latest.state_hash, deltas, raw, state
            )
        return heads


class _Prepared(NamedTuple):
    """A request made ready: its row, what its ``checkpoint_sync`` says, and the head after it."""

    row: tuple[Any, ...]
    sync: _Sync
    head: _Head


class _Sync(NamedTuple):
    """What the ``checkpoint_sync`` of a stored checkpoint says (built only if inserted)."""

    request: CheckpointRequest
    kind: str
    state_hash: str
    full_size: int
    stored_size: int

    def data(self) -> dict[str, Any]:
        """The protocol's ``checkpoint_sync``."""
        req, stored, full = self.request, self.stored_size, self.full_size
        return {
            "checkpoint_sync": {
                "message_type": "checkpoint_sync",
                "checkpoint_id": req.checkpoint_id,
                "workflow_id": req.workflow_id,
                "checkpoint_type": req.checkpoint_type,
                "trigger": req.trigger,
                "state_version": req.state_version,
                "state_snapshot": {"workflow_state_hash": self.state_hash},
                "validation_results": {
                    "integrity_check": "passed",
                    "dependency_validation": "unknown",
                    "resource_consistency": "unknown",
                },
                "storage_metadata": {
                    "size_bytes": stored,
                    "compression_ratio": round(stored / full, 4) if full else 1.0,
                    "storage_location": f"postgresql:recovery_checkpoints/{req.checkpoint_id}",
                    "differential": self.kind == "delta",
                },
            }
        }
