"""One consumer group reading one source topic and its retry topics.

Per batch: for each record, the routing key (a header, else the line's first two fields)
is matched against the group's patterns *before* the value is decoded; matching records are
decoded, validated against the registry and handed to their handlers. Records of a partition
in a row that only batch subscriptions of one batch handler want (records no subscription
wants in between) go to it as one list (group commit: a service subscribing several
patterns to one handler gets them together); should it raise, each of them is handed to its
subscription again alone. Partitions of a batch
are handled concurrently, records of one partition in order (so per-workflow order holds,
the key being the workflow id; a record another client put on the wrong partition is moved
to the right one instead, :mod:`baton.bus.rerouting`). Offsets are committed only after
every record of the batch is handled and every record produced meanwhile (by handlers,
retries, dead letters, re-routing) is acknowledged. A record due for retry later pauses
its retry partition until it is due. Settled offsets are committed together, when the
group has nothing more to read or half a second after the last commit, and always before
its partitions move or it stops: a commit per batch cost the broker a request per record at
low load, and a record handled but not yet committed comes again only after a crash, where
handlers already take a record twice (idempotency ledger).

Choice: retries do not block the source partition (later events of the same workflow go on
while one waits in a retry topic); handlers that need strict order should treat a missing
predecessor as a retriable error.

An outage is different from a failing record: a handler raising
:class:`~baton.errors.DependencyUnavailableError` (PostgreSQL or Kafka gone) is retried in
place with backoff, holding its partition, until the dependency answers — nothing goes to a
retry or dead-letter topic, and order is kept. Stopping meanwhile abandons the batch
uncommitted, so its records come again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from baton.bus.delivery import Abandoned, Delivery
from baton.bus.rerouting import Placement
from baton.bus.subscription import BATCH_DELIVERIES, StartAt, Subscription
from baton.bus.transport import Ack, Record, TopicPartition, TransportConsumer
from baton.errors import DependencyUnavailableError
from baton.protocol.headers import H, get_header
from baton.protocol.routing import routing_key_from_line

if TYPE_CHECKING:
    from baton.bus.bus import Bus

__all__ = ["GroupConsumer"]

log = logging.getLogger("baton.bus")

_MAX_RECORDS = 500
_BUSY_WAIT = 0.1
"""Seconds a fetch waits while offsets wait to be committed or a batch to settle."""
_IDLE_WAIT = 2.0
"""Seconds a fetch waits with nothing in hand (stopping ends the wait): waking ten times a
second, each of a service's consumers cost it a few ms of CPU a second with nothing to do."""
_COMMIT_TIMEOUT = 15.0
_COMMIT_EVERY = 0.5
"""Seconds between commits while records keep coming (an idle group commits at once)."""


def _succeeded(task: asyncio.Task[None]) -> bool:
    return not task.cancelled() and task.exception() is None


class GroupConsumer:
    """Runs the consume → handle → commit loop of one (group, source topic)."""

    def __init__(
        self,
        *,
        bus: Bus,
        group: str,
        source: str,
        start_at: StartAt,
        gather_ms: int | None = None,
    ) -> None:
        self.bus = bus
        self.group = group
        self.source = source
        self.subscriptions: list[Subscription] = []
        levels = len(bus.settings.retry_delays)
        self.topics = [source, *(bus.topics.retry(source, n) for n in range(1, levels + 1))]
        self._consumer: TransportConsumer = bus.transport.consumer(
            group=group,
            topics=self.topics,
            from_beginning=start_at is StartAt.EARLIEST,
            on_revoke=self._on_revoke,
            client_id=f"{bus.settings.component}.{group}",
            gather_ms=gather_ms,
        )
        self._placement = Placement(bus=bus, group=group, source=source)
        self._lock = asyncio.Lock()
        self._due: dict[TopicPartition, float] = {}
        self._stopping = asyncio.Event()
        self._delivery = Delivery(bus=bus, group=group, source=source, stopping=self._stopping)
        self._task: asyncio.Task[None] | None = None
        self._settling: asyncio.Task[None] | None = None
        self._settled: dict[TopicPartition, int] = {}
        self._committed_at = 0.0
        self._committing = asyncio.Lock()  # commits in order: never an older after a newer
        self._started = False

    async def start(self, *, on_crash: Callable[[BaseException], None]) -> None:
        """Join the group and start the loop; ``on_crash`` hears of a fatal loop error."""
        await self._consumer.start()
        self._started = True
        self._task = asyncio.create_task(self._run(), name=f"baton-consumer-{self.group}")
        self._task.add_done_callback(
            lambda t: None if t.cancelled() or t.exception() is None else on_crash(t.exception())  # type: ignore[arg-type]
        )

    def partitions(self) -> frozenset[int]:
        """Partitions of the source topic this member holds now (none while stopped or
        during a rebalance)."""
        if not self._started or self._stopping.is_set():
            return frozenset()
        return frozenset(
            tp.partition for tp in self._consumer.assignment() if tp.topic == self.source
        )

    async def lag(self) -> dict[TopicPartition, int]:
        """Records not yet handled and committed in each partition (source and retry
        topics) this member holds (:meth:`TransportConsumer.lag`); empty while stopped."""
        if not self._started or self._stopping.is_set():
            return {}
        return await self._consumer.lag()

    async def wait_assigned(self) -> frozenset[int]:
        """Wait until this member holds partitions of the source topic and knows its
        position in each (a brand-new group's start is looked up after the assignment)."""
        while True:
            held = self.partitions()
            if held:
                try:
                    for partition in held:
                        await self._consumer.position(TopicPartition(self.source, partition))
                except DependencyUnavailableError:  # revoked meanwhile: a rebalance
                    await asyncio.sleep(0.05)
                    continue
                return held
            await asyncio.sleep(0.05)

    async def stop(self, *, timeout: float = 30.0) -> None:
        """Finish the batch in hand within ``timeout`` seconds, commit it, leave the group
        (past the timeout the batch is abandoned uncommitted). Safe to call twice."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(task, timeout=timeout)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            except Exception:  # already reported through on_crash
                pass
            await self._consumer.stop()

    async def _on_revoke(self, revoked: set[TopicPartition]) -> None:
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
                self._consumer.resume(tp)
            else:
                next_due = min(next_due, due)
        return next_due - now

    async def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                wait = self._resume_due(idle=not self._settled and self._settling is None)
                if wait > _BUSY_WAIT:
                    batch = await self._fetch_unless_stopping(wait)
                else:
                    batch = await self._consumer.fetch(
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
        """A long fetch that :meth:`stop` cuts short (records it would have returned are
        not committed, so they come again)."""
        fetch = asyncio.ensure_future(
            self._consumer.fetch(timeout_ms=int(wait * 1000), max_records=_MAX_RECORDS)
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
                await asyncio.wait_for(self._consumer.commit(offsets), _COMMIT_TIMEOUT)
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
                ends = [await self._partition(*next(iter(batch.items())))]
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
                running = [tasks.create_task(self._partition(tp, rs)) for tp, rs in batch.items()]
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

    async def _partition(self, tp: TopicPartition, records: list[Record]) -> int | None:
        end: int | None = None
        run: list[tuple[Record, Subscription]] = []  # source records for one batch handler
        for record in records:
            if record.topic != self.source:
                await self._delivery.flush(run)
                if get_header(record.headers, H.RETRY_GROUP) != self.group:
                    end = record.offset + 1  # another group's retry
                    continue
                due = float(get_header(record.headers, H.RETRY_DUE) or 0)
                if due > time.time():
                    self._consumer.seek(tp, record.offset)
                    self._consumer.pause(tp)
                    self._due[tp] = due
                    break
                await self._delivery.handle(record, self._targets(record))
            else:
                if await self._placement.diverts(record):  # misplaced: its copy comes
                    end = record.offset + 1
                    continue
                targets = self._targets(record)
                if not targets:
                    pass  # wanted by none: the run of a batch handler goes on past it
                elif len(targets) == 1 and targets[0].batch is not None:
                    # Bound methods are equal, not identical: compare with ==.
                    if run and run[0][1].batch != targets[0].batch:
                        await self._delivery.flush(run)
                    run.append((record, targets[0]))
                else:
                    await self._delivery.flush(run)
                    await self._delivery.handle(record, targets)
            end = record.offset + 1
        await self._delivery.flush(run)
        return end

    def _targets(self, record: Record) -> list[Subscription]:
        if record.topic != self.source:
            names = get_header(record.headers, H.RETRY_HANDLERS)
            if names:
                wanted = set(names.split(","))
                return [s for s in self.subscriptions if s.name in wanted]
        key = get_header(record.headers, H.ROUTING_KEY)
        if key is None:
            key = routing_key_from_line(record.value or b"")
            if key is None:  # not even two fields: every group keeps it as a dead letter
                return list(self.subscriptions)
        return [s for s in self.subscriptions if s.pattern.matches(key)]
