"""Transactional outbox: events written with the state change that caused them.

A handler inserts its events into ``baton_outbox`` in the same PostgreSQL transaction as
its state change, so either both happen or neither. The relay publishes them in insertion
order, waits for Kafka's acknowledgement, then deletes them; after a crash it publishes
what is left (a record may go out twice — with the same event id, which consumers dedupe).
Replicas of a service share its rows: one relays them at a time (a transaction-level
advisory lock per owner), so that a row is not published by two of them and the order
holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson

from baton.backoff import BackoffPolicy
from baton.bus import Bus
from baton.bus.tracecontext import inject_trace
from baton.db import Database
from baton.errors import DependencyUnavailableError
from baton.protocol.event import Event, encode_record

__all__ = ["Outbox"]

_INSERT_ALL = (
    "insert into baton_outbox (owner, topic, key, value, headers) "
    "select owner, topic, key, value, headers::jsonb from unnest("
    "${0}::text[], ${1}::text[], ${2}::bytea[], ${3}::bytea[], ${4}::text[]) "
    "with ordinality as r (owner, topic, key, value, headers, n) order by n"
)
"""Rows given as five arrays, inserted in their order (the ids, and so the relay, keep it).
The headers come as JSON text: a list of pairs in a ``jsonb[]`` would be read as more
dimensions of the array."""

_TAKE = (
    "with relay as (select pg_try_advisory_xact_lock(hashtextextended($1, 0)) as got), "
    "taken as (delete from baton_outbox where id in (select id from baton_outbox "
    "where owner = $1 and (select got from relay) order by id limit $2) "
    "returning id, topic, key, value, headers) "
    "select relay.got, taken.* from relay left join taken on true order by taken.id"
)
"""The relay lock (one replica relays an owner's rows at a time, in order) and the oldest
rows, deleted in the caller's transaction: committed only once Kafka has them."""

log = logging.getLogger("baton.outbox")

_BATCH = 500
_BUSY_RETRY = 0.05
"""Seconds before looking again while another replica relays the owner's rows."""
_OUTAGE_BACKOFF = BackoffPolicy(base=0.5, max_delay=10.0, max_attempts=None, jitter="none")
"""Pauses of the relay while Kafka does not take its rows."""


class Outbox:
    """Writes events into the outbox and relays them to Kafka.

    Args:
        db: The service's database.
        bus: Where the relay publishes.
        owner: Whose rows these are (the service name); each service relays its own.
        poll_interval: Seconds between looks for rows nobody announced (a crashed
            replica's); the relay is woken by :meth:`notify` for its own.
    """

    def __init__(self, *, db: Database, bus: Bus, owner: str, poll_interval: float = 5.0) -> None:
        self._db = db
        self._bus = bus
        self._owner = owner
        self._poll = poll_interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.published = 0

    async def add(self, conn: Any, event: Event, *, topic: str | None = None) -> None:
        """Queue ``event`` inside the caller's transaction ``conn``."""
        await self.add_many(conn, [(event, topic)])

    async def add_many(self, conn: Any, events: list[tuple[Event, str | None]]) -> None:
        """Queue several events in order inside ``conn``, in one round trip."""
        if events:
            await conn.execute(self.insert_statement(first=1), *self.columns(events))

    @staticmethod
    def insert_statement(*, first: int) -> str:
        """The insert of :meth:`columns`' five arrays, given as parameters ``$first`` to
        ``$first + 4``: for a caller that queues events inside a statement of its own (a
        ``with`` clause), so that its change and its events take one round trip."""
        return _INSERT_ALL.format(*range(first, first + 5))

    def columns(self, events: list[tuple[Event, str | None]]) -> list[list[Any]]:
        """``(event, topic)`` pairs (None: the events topic) as the five arrays of
        :meth:`insert_statement`, in order."""
        rows = [self._row(e, topic) for e, topic in events]
        return [[row[i] for row in rows] for i in range(5)]

    def _row(self, event: Event, topic: str | None) -> tuple[Any, ...]:
        if not event.source:
            event = event.replace(source=self._bus.settings.component)
        key, value, headers = encode_record(event)
        # The relay publishes later, outside this handler's span: carry the trace context
        # now, so the event stays in its workflow's trace (an event naming its trace keeps it).
        inject_trace(headers)
        return (
            self._owner,
            topic or self._bus.topics.events,
            key,
            value,
            orjson.dumps([[k, v.decode("utf-8", "replace")] for k, v in headers]).decode(),
        )

    def notify(self) -> None:
        """Tell the relay there is something to send (after the transaction committed)."""
        self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._relay(), name=f"outbox-{self._owner}")

    async def stop(self) -> None:
        """Send what is committed, then stop. Safe to call twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            with contextlib.suppress(Exception):
                await self.flush()

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    async def flush(self) -> int:
        """Publish every committed row now; returns how many were sent (0 when another
        replica is relaying the owner's rows: it sends them)."""
        return (await self._flush())[0]

    async def _flush(self) -> tuple[int, bool]:
        """Rows sent, and whether another replica held the relay lock."""
        sent = 0
        while True:
            count = await self._send_batch()
            if count is None:
                return sent, True
            sent += count
            if count < _BATCH:
                return sent, False

    async def _relay(self) -> None:
        pause = self._poll
        waits = _OUTAGE_BACKOFF.waits()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)
            self._wake.clear()
            try:
                _, busy = await self._flush()
                # Another replica relays now: look again soon rather than at the next poll,
                # in case the rows just committed here came after its last look.
                pause = _BUSY_RETRY if busy else self._poll
                waits = _OUTAGE_BACKOFF.waits()
            except DependencyUnavailableError as exc:
                # Rows stay until Kafka acknowledged them; a re-sent row is deduplicated by
                # its event id downstream.
                pause = next(waits)
                log.warning("outbox relay waits for %s (again in %.1fs)", exc, pause)

    async def _send_batch(self) -> int | None:
        """Send the oldest rows; None when another replica holds the relay lock.

        Three round trips whatever the batch: the lock and the rows taken in one statement
        (deleted, in the transaction), then the commit once Kafka acknowledged every row —
        a failed send rolls the delete back and the rows stay.
        """
        async with self._db.transaction() as conn:
            rows = await conn.fetch(_TAKE, self._owner, _BATCH)
            if not rows[0]["got"]:
                return None
            rows = [row for row in rows if row["id"] is not None]
            if not rows:
                return 0
            deliveries = []
            for row in rows:
                headers = [(k, v.encode()) for k, v in row["headers"]]
                deliveries.append(
                    await self._bus.send_raw(
                        row["topic"], key=row["key"], value=row["value"], headers=headers
                    )
                )
            for delivery in deliveries:
                await delivery
        self.published += len(rows)
        return len(rows)
