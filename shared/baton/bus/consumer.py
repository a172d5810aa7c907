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
to the right one instead, :mod:`baton.bus.rerouting`). The source topic and the retry
topics are read by two members of the group (:mod:`baton.bus.lane`: fetching, committing
after the outputs are acknowledged, pausing a retry partition until its record is due),
which take turns handling their batches.

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
import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from baton.bus.delivery import Delivery
from baton.bus.lane import Lane
from baton.bus.rerouting import Placement
from baton.bus.subscription import StartAt, Subscription
from baton.bus.transport import Record, RevokeCallback, TopicPartition, TransportConsumer
from baton.errors import DependencyUnavailableError
from baton.protocol.headers import H, get_header
from baton.protocol.routing import routing_key_from_line

if TYPE_CHECKING:
    from baton.bus.bus import Bus

__all__ = ["GroupConsumer"]


def _report_crash(task: asyncio.Task[None], *, on_crash: Callable[[BaseException], None]) -> None:
    error = None if task.cancelled() else task.exception()
    if error is not None:
        on_crash(error)


class GroupConsumer:
    """Runs the consume → handle → commit loops of one (group, source topic): one lane for
    the source topic, one for its retry topics."""

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
        retries = [bus.topics.retry(source, n) for n in range(1, levels + 1)]
        self.topics = [source, *retries]
        self._placement = Placement(bus=bus, group=group, source=source)
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._delivery = Delivery(bus=bus, group=group, source=source, stopping=self._stopping)

        def lane(topics: list[str], gather: int | None) -> Lane:
            def make(on_revoke: RevokeCallback) -> TransportConsumer:
                return bus.transport.consumer(
                    group=group,
                    topics=topics,
                    from_beginning=start_at is StartAt.EARLIEST,
                    on_revoke=on_revoke,
                    client_id=f"{bus.settings.component}.{group}",
                    gather_ms=gather,
                )

            return Lane(
                group=group,
                make_consumer=make,
                handle=self._partition,
                lock=self._lock,
                stopping=self._stopping,
            )

        # Retries are rare and due seconds later: their lane's fetches are answered when a
        # record comes or after the idle wait, whatever the source lane gathers.
        self._lanes = [lane([source], gather_ms), *([lane(retries, None)] if retries else [])]
        self._source = self._lanes[0].consumer
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False

    async def start(self, *, on_crash: Callable[[BaseException], None]) -> None:
        """Join the group and start the loops; ``on_crash`` hears of a fatal loop error."""
        for lane in self._lanes:
            await lane.consumer.start()
        self._started = True
        for n, lane in enumerate(self._lanes):
            task = asyncio.create_task(lane.run(), name=f"baton-consumer-{self.group}-{n}")
            task.add_done_callback(functools.partial(_report_crash, on_crash=on_crash))
            self._tasks.append(task)

    def partitions(self) -> frozenset[int]:
        """Partitions of the source topic this member holds now (none while stopped or
        during a rebalance)."""
        if not self._started or self._stopping.is_set():
            return frozenset()
        return frozenset(tp.partition for tp in self._source.assignment())

    async def lag(self) -> dict[TopicPartition, int]:
        """Records not yet handled and committed in each partition (source and retry
        topics) this member holds (:meth:`TransportConsumer.lag`); empty while stopped."""
        if not self._started or self._stopping.is_set():
            return {}
        behind: dict[TopicPartition, int] = {}
        for lags in await asyncio.gather(*(lane.consumer.lag() for lane in self._lanes)):
            behind.update(lags)
        return behind

    async def wait_assigned(self) -> frozenset[int]:
        """Wait until this member holds partitions of the source topic and knows its
        position in each (a brand-new group's start is looked up after the assignment)."""
        while True:
            held = self.partitions()
            if held:
                try:
                    for partition in held:
                        await self._source.position(TopicPartition(self.source, partition))
                except DependencyUnavailableError:  # revoked meanwhile: a rebalance
                    await asyncio.sleep(0.05)
                    continue
                return held
            await asyncio.sleep(0.05)

    async def stop(self, *, timeout: float = 30.0) -> None:
        """Finish the batches in hand within ``timeout`` seconds, commit them, leave the
        group (past the timeout a batch is abandoned uncommitted). Safe to call twice."""
        self._stopping.set()
        tasks, self._tasks = self._tasks, []
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # errors went to on_crash
        for lane in self._lanes:
            await lane.consumer.stop()

    async def _partition(self, lane: Lane, tp: TopicPartition, records: list[Record]) -> int | None:
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
                    lane.hold(tp, offset=record.offset, due=due)
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
