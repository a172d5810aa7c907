"""Group commit across partitions: one handler call for the batches of one fetch.

The bus hands a batch subscription one list of events per partition of a fetch, the
partitions concurrently (:meth:`baton.bus.Bus.subscribe_batches`). A handler whose cost is
mostly round trips (a transaction per call) can be wrapped in :class:`GroupCommit`: the
lists that arrive in the same turn of the event loop — those of one fetch — are joined into
one call, so a fetch costs one transaction however many partitions it spans.

Each caller still gets all or none of its own events. When the joined call raises, each
caller's list is applied again alone, and only a caller whose own list fails sees the error
(the bus then hands that list's events over one by one, as for any failed batch). An outage
(:class:`~baton.errors.DependencyUnavailableError`) fails every caller at once: alone they
would meet it too, and the bus waits it out in place.

Per-partition order holds: each caller's events keep their order, and the joined list is
the callers' lists one after the other. Events of different partitions never depended on
each other's order. The wrapped handler must accept events of several partitions in one
list (one transaction locking its rows in one order, say).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from baton.errors import DependencyUnavailableError

__all__ = ["GroupCommit"]

log = logging.getLogger("baton.runtime")

T = TypeVar("T")


@dataclass(slots=True)
class _Group(Generic[T]):
    """The callers waiting for one joined call, in their order of arrival."""

    parts: list[tuple[list[T], asyncio.Future[None]]] = field(default_factory=list)


class GroupCommit(Generic[T]):
    """Joins the batch calls that arrive together into one call of ``apply`` (module doc).

    Args:
        apply: The batch handler, called with the callers' lists one after the other.

    Attributes:
        calls: Calls made to ``apply`` (joined ones and lone ones).
        joined: Batches handed over by callers that shared a call with another.
    """

    def __init__(self, apply: Callable[[list[T]], Awaitable[None]]) -> None:
        self._apply = apply
        self._pending: _Group[T] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self.calls = 0
        self.joined = 0

    async def __call__(self, items: list[T]) -> None:
        """Apply ``items`` with whatever else arrives in this turn of the event loop.

        Raises:
            Exception: what ``apply`` raised for ``items`` alone (or for all, in an outage).
        """
        loop = asyncio.get_running_loop()
        group = self._pending
        if group is None:
            group = self._pending = _Group()
            # Runs after the callbacks ready now: the other partitions of the fetch join.
            loop.call_soon(self._start, group)
        done: asyncio.Future[None] = loop.create_future()
        group.parts.append((items, done))
        await done

    def _start(self, group: _Group[T]) -> None:
        if self._pending is group:
            self._pending = None
        task = asyncio.create_task(self._run(group), name="baton-group-commit")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, group: _Group[T]) -> None:
        parts = [(items, done) for items, done in group.parts if not done.done()]
        try:
            if len(parts) > 1:
                self.joined += len(parts)
                try:
                    await self._call([item for items, _ in parts for item in items])
                except DependencyUnavailableError as exc:
                    for _, done in parts:
                        _settle(done, exc)
                    return
                except Exception as exc:
                    log.info("a joined batch of %d failed (%r): each alone", len(parts), exc)
                else:
                    for _, done in parts:
                        _settle(done, None)
                    return
            for items, done in parts:
                if done.done():  # its caller gave up meanwhile (stopping)
                    continue
                try:
                    await self._call(items)
                except Exception as exc:
                    _settle(done, exc)
                else:
                    _settle(done, None)
        finally:
            for _, done in parts:  # cancelled itself (the loop is closing): callers too
                if not done.done():
                    done.cancel()

    async def _call(self, items: list[T]) -> None:
        self.calls += 1
        await self._apply(items)


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
