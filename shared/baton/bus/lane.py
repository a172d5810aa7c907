"""One transport consumer of a group and its fetch → handle → settle → commit loop.

A group reads its source topic in one lane and its retry topics in another
(:class:`~baton.bus.consumer.GroupConsumer`): a fetch names every partition it asks for,
and the broker answers with an entry for each, so a source fetch that also named the
partitions of three retry topics cost four times the decoding on both sides for records
that are almost never there. Each lane commits its own partitions' offsets.

Offsets are committed only after every record of a batch is handled and every record
produced meanwhile (by handlers, retries, dead letters, re-routing) is acknowledged.
Settled offsets are committed together, when the lane has nothing more to read or half a
second after the last commit, and always before its partitions move or it stops: a commit
per batch cost the broker a request per record at low load, and a record handled but not
yet committed comes again only after a crash, where handlers already take a record twice
(idempotency ledger). A record due for retry later pauses its partition until it is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from baton.bus.delivery import Abandoned
from baton.bus.subscription import BATCH_DELIVERIES
from baton.bus.transport import Ack, Record, RevokeCallback, TopicPartition, TransportConsumer

__all__ = ["Lane", "PartitionHandler"]

log = logging.getLogger("baton.bus")

_MAX_RECORDS = 500
_BUSY_WAIT = 0.1
"""Seconds a fetch waits while offsets wait to be committed or a batch to settle."""
_IDLE_WAIT = 2.0
"""Seconds a fetch waits with nothing in hand (stopping ends the wait): waking ten times a
second, each of a service's consumers cost it a few ms of CPU a second with nothing to do."""
_COMMIT_TIMEOUT = 15.0
_COMMIT_EVERY = 0.5
"""Seconds between commits while records keep coming (an idle lane commits at once)."""

PartitionHandler = Callable[["Lane", TopicPartition, list[Record]], Coroutine[Any, Any, int | None]]
"""Handles a partition's records of a batch in order; the offset to commit after them."""


def _succeeded(task: asyncio.Task[None]) -> bool:
    return not task.cancelled() and task.exception() is None


class Lane:
    """Fetches from one transport consumer and hands each partition's records on.

    Args:
        group: The consumer group (for logs).
        make_consumer: Makes the transport consumer, given the revoke callback to join
            the group with.
        handle: What to do with a partition's records (run under ``lock``).
        lock: Shared by the group's lanes: one batch of the group is handled at a time.
        stopping: Set when the group stops.
    """

    def __init__(
        self,
        *,
        group: str,
        make_consumer: Callable[[RevokeCallback], TransportConsumer],
        handle: PartitionHandler,
        lock: asyncio.Lock,
        stopping: asyncio.Event,
    ) -> None:
        self.group = group
        self.consumer = make_consumer(self.on_revoke)
        self._handle = handle
        self._lock = lock
        self._stopping = stopping
        self._due: dict[TopicPartition, float] = {}
        self._settling: asyncio.Task[None] | None = None
        self._settled: dict[TopicPartition, int] = {}
        self._committed_at = 0.0
        self._committing = asyncio.Lock()  # commits in order: never an older after a newer

    def hold(self, tp: TopicPartition, *, offset: int, due: float) -> None:
        """Read ``tp`` again from ``offset`` once ``due`` (a time.time()) has come."""
        self.consumer.seek(tp, offset)
        self.consumer.pause(tp)
        self._due[tp] = due

    async def on_revoke(self, revoked: set[TopicPartition]) -> None:
        async with self._lock:  # let the batch in hand finish...
            if self._settling is not None:  # ...and be committed before partitions move
                with contextlib.suppress(Exception):  # the loop reports it
                    await self._settling
            await self._commit()
            for tp in revoked:
                self._due.pop(tp, None)

    def _resume_due(self, *, idle: bool) -> float:
        now = time.time()
        next_due = now + (_IDLE_WAIT if idle else _BUSY_WAIT)
        for tp, due in list(self._due.items()):
            if due <= now:
                del self._due[tp]
                self.consumer.resume(tp)
            else:
                next_due = min(next_due, due)
        return next_due - now

    async def run(self) -> None:
        """Fetch, handle and commit until the group stops."""
        try:
            while not self._stopping.is_set():
                wait = self._resume_due(idle=not self._settled and self._settling is None)
                if wait > _BUSY_WAIT:
                    batch = await self._fetch_unless_stopping(wait)
                else:
                    batch = await self.consumer.fetch(
                        timeout_ms=max(1, int(wait * 1000)), max_records=_MAX_RECORDS
                    )
                if batch:
                    async with self._lock:
                        await self._handle_batch(batch)
                if self._settled and (
                    not batch or time.monotonic() - self._committed_at >= _COMMIT_EVERY
                ):
                    await self._commit()
        except Abandoned:
            log.warning("group %s stopped in an outage; its batch comes again", self.group)
        finally:
            if self._settling is not None:
                await self._settling
            await self._commit()

    async def _fetch_unless_stopping(self, wait: float) -> dict[TopicPartition, list[Record]]:
        """A long fetch that stopping cuts short (records it would have returned are not
        committed, so they come again)."""
        fetch = asyncio.ensure_future(
            self.consumer.fetch(timeout_ms=int(wait * 1000), max_records=_MAX_RECORDS)
        )
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((fetch, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not fetch.done():
                fetch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await fetch
        return fetch.result() if not fetch.cancelled() else {}

    async def _commit(self) -> None:
        """Commit the offsets settled so far (records handled, their outputs acknowledged)."""
        async with self._committing:
            offsets, self._settled = self._settled, {}
            if not offsets:
                return
            self._committed_at = time.monotonic()
            try:
                await asyncio.wait_for(self.consumer.commit(offsets), _COMMIT_TIMEOUT)
            except Exception as exc:  # rebalance or broker loss: the records come again
                log.warning(
                    "commit failed for group %s (%r); records will be redelivered",
                    self.group,
                    exc,
                )

    async def _handle_batch(self, batch: dict[TopicPartition, list[Record]]) -> None:
        """Handle a batch, then settle it (acks, then commit) while the next one is handled.

        At most one batch is settling at a time, and each settles only after the one before
        it, so offsets are committed in order and never past an unacknowledged output; if
        an output is lost, the loop stops and the records come again from the last commit.
        """
        deliveries: list[Awaitable[Ack]] = []
        token = BATCH_DELIVERIES.set(deliveries)
        try:
            if len(batch) == 1:  # the usual batch at low load: no tasks to make
                ends = [await self._handle(self, *next(iter(batch.items())))]
            else:
                ends = await self._partitions(batch)
        finally:
            BATCH_DELIVERIES.reset(token)
        offsets = {tp: end for tp, end in zip(batch, ends, strict=True) if end is not None}
        previous = self._settling
        if previous is not None and not previous.done():
            await previous
        if not deliveries and (previous is None or _succeeded(previous)):
            self._settled.update(offsets)  # nothing to wait for: settled now
            self._settling = None
            return
        self._settling = asyncio.create_task(self._settle(previous, deliveries, offsets))

    async def _partitions(self, batch: dict[TopicPartition, list[Record]]) -> list[int | None]:
        """Handle the partitions of a batch concurrently: each one's end offset."""
        # A task group, so that one partition abandoned at stop cancels its siblings.
        try:
            async with asyncio.TaskGroup() as tasks:
                running = [
                    tasks.create_task(self._handle(self, tp, records))
                    for tp, records in batch.items()
                ]
        except BaseExceptionGroup as group:
            raise group.exceptions[0] from None  # one cause, as the loop reports it
        return [task.result() for task in running]

    async def _settle(
        self,
        previous: asyncio.Task[None] | None,
        deliveries: list[Awaitable[Ack]],
        offsets: dict[TopicPartition, int],
    ) -> None:
        if previous is not None:
            await previous  # a failed predecessor fails this one: no commit past it
        for delivery in deliveries:  # already in flight; awaiting in turn makes no task
            await delivery
        self._settled.update(offsets)  # committed by the loop (_commit)
