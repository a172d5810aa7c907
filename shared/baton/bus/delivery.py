"""Handing a consumer group's records to its handlers: decode, validate, deliver.

A record is decoded and checked against the registry once, then given to every
subscription that wants it; a run of records one batch handler wants goes to it as one
list, and should that raise, each record again alone to its subscription (so a bad one
fails by itself). A handler's failure is retried through a retry topic or kept as a dead
letter (:mod:`baton.bus.failures`), decided by the error's ``retriable`` flag; an outage
(:class:`~baton.errors.DependencyUnavailableError`) is instead waited out in place, holding
the partition, until the dependency answers or the group stops (:class:`Abandoned`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from baton.backoff import BackoffPolicy
from baton.bus.failures import Failure, is_retriable, send_failed
from baton.bus.middleware import consume_scope
from baton.bus.subscription import Subscription
from baton.bus.transport import Record
from baton.errors import DependencyUnavailableError, ProtocolError
from baton.protocol.event import Event, decode_record
from baton.protocol.headers import H, get_header

if TYPE_CHECKING:
    from baton.bus.bus import Bus

__all__ = ["Abandoned", "Delivery"]

log = logging.getLogger("baton.bus")

_OUTAGE_BACKOFF = BackoffPolicy(base=0.2, max_delay=5.0, max_attempts=None, jitter="none")
"""Waits between in-place retries of the handlers an outage stopped."""


class Abandoned(Exception):
    """A batch given up while waiting out an outage at stop: not committed, redelivered."""


class Delivery:
    """Delivers the records of one (group, source topic) to its subscriptions.

    Args:
        bus: The bus (settings, registry, middleware, stats, and where failures go).
        group: The consumer group.
        source: The source topic (records from elsewhere are retry copies).
        stopping: Set when the group stops: an outage is no longer waited out.
    """

    def __init__(self, *, bus: Bus, group: str, source: str, stopping: asyncio.Event) -> None:
        self.bus = bus
        self.group = group
        self.source = source
        self._stopping = stopping

    async def handle(self, record: Record, targets: list[Subscription]) -> None:
        if not targets:
            return
        # Only retry copies carry an attempt count (replays drop it with the other bookkeeping).
        attempts = 1
        if record.topic != self.source:
            attempts += int(get_header(record.headers, H.ATTEMPTS) or 0)
        event = await self._decode(record, attempts)
        if event is not None:
            await self._deliver(record, targets, event, attempts)

    async def flush(self, run: list[tuple[Record, Subscription]]) -> None:
        """Hand a run of source records to their batch handler as one list; if it raises,
        each event alone to its subscription (so a bad one fails by itself). Empties
        ``run``."""
        if not run:
            return
        records = list(run)
        run.clear()
        decoded: list[tuple[Record, Subscription, Event]] = []
        for record, sub in records:
            event = await self._decode(record, 1)
            if event is not None:
                decoded.append((record, sub, event))
        if len(decoded) > 1:
            batch = decoded[0][1].batch
            assert batch is not None
            try:
                with contextlib.ExitStack() as scopes:
                    for record, _, event in decoded:
                        scopes.enter_context(
                            consume_scope(
                                self.bus.middleware, record=record, event=event, group=self.group
                            )
                        )
                    await batch([event for _, _, event in decoded])
            except Exception as exc:
                log.info(
                    "group %s: a batch of %d for %s failed (%r); handing them over one by one",
                    self.group,
                    len(decoded),
                    decoded[0][1].name,
                    exc,
                )
            else:
                self.bus.stats["handled"] += len(decoded)
                self.bus.stats["batches"] += 1
                return
        for record, sub, event in decoded:
            await self._deliver(record, [sub], event, 1)

    async def _decode(self, record: Record, attempts: int) -> Event | None:
        """The record's event, registry findings included; None when it is not one (it
        is dead-lettered)."""
        bus = self.bus
        try:
            if record.refused is not None:  # a compression bomb, never inflated
                raise ProtocolError(record.refused, part="batch")
            event = decode_record(
                record.value,
                record.headers,
                max_bytes=bus.settings.max_line_bytes,
                timestamp_ms=record.timestamp_ms,
            )
            findings = bus.registry.check(event.event_type, event.data)
            if findings and findings != event.findings:
                event = event.replace(findings=findings)
        except ProtocolError as exc:
            bus.stats["rejected"] += 1
            await self._fail(record, Failure(exc, attempts), retry=False)
            return None
        return event

    async def _deliver(
        self, record: Record, targets: list[Subscription], event: Event, attempts: int
    ) -> None:
        """Run the handlers; an outage is waited out, other failures retried or
        dead-lettered."""
        failed = await self._dispatch(targets, record, event)
        if any(isinstance(e, DependencyUnavailableError) for _, e in failed):
            failed = await self._wait_out(failed, record, event)
        self.bus.stats["handled"] += 1
        if not failed:
            return
        retriable = [(s, e) for s, e in failed if is_retriable(e)]
        fatal = [(s, e) for s, e in failed if not is_retriable(e)]
        for group_failed, retry in ((retriable, True), (fatal, False)):
            if group_failed:
                names = tuple(s.name for s, _ in group_failed)
                await self._fail(record, Failure(group_failed[0][1], attempts, names), retry=retry)

    async def _dispatch(
        self, targets: list[Subscription], record: Record, event: Event
    ) -> list[tuple[Subscription, Exception]]:
        """Run each target's handler; the ones that raised, with what."""
        failed: list[tuple[Subscription, Exception]] = []
        for sub in targets:
            try:
                with consume_scope(
                    self.bus.middleware, record=record, event=event, group=self.group
                ):
                    await sub.handler(event)
            except Exception as exc:
                failed.append((sub, exc))
        return failed

    async def _wait_out(
        self, failed: list[tuple[Subscription, Exception]], record: Record, event: Event
    ) -> list[tuple[Subscription, Exception]]:
        """Retry the handlers an outage stopped, in place, until none is out (module doc).

        Raises:
            _Abandoned: the consumer is stopping while the dependency is still out.
        """
        waits = _OUTAGE_BACKOFF.waits()
        since = time.monotonic()
        outage = [(s, e) for s, e in failed if isinstance(e, DependencyUnavailableError)]
        settled = [(s, e) for s, e in failed if not isinstance(e, DependencyUnavailableError)]
        log.warning(
            "group %s waits for a dependency at %s[%d]@%d: %s",
            self.group,
            record.topic,
            record.partition,
            record.offset,
            outage[0][1],
        )
        while outage:
            self.bus.stats["outage_waits"] += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), next(waits))
            if self._stopping.is_set():
                raise Abandoned
            again = await self._dispatch([s for s, _ in outage], record, event)
            outage = [(s, e) for s, e in again if isinstance(e, DependencyUnavailableError)]
            settled += [(s, e) for s, e in again if not isinstance(e, DependencyUnavailableError)]
        log.warning("group %s resumed after %.1fs", self.group, time.monotonic() - since)
        return settled

    async def _fail(self, record: Record, failure: Failure, *, retry: bool) -> None:
        await send_failed(self.bus, record, failure, group=self.group, retry=retry)
