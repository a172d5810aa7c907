"""What a status replica keeps in memory: bounded, versioned copies of rows
(:mod:`baton_status.cache`), shared by its writer and its readers.

- ``views``: views of the workflows it wrote or read last (full ones from the writer,
  partial ones from readers), at most ``BATON_STATUS_VIEW_CACHE``;
- ``histories``: the duration history of the workflow types it used last;
- ``system``: the system view.

Nothing is loaded at start: a copy is made when a row is first used, so memory and start-up
time follow the work in flight, not the history kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from baton_status.cache import VersionedCache
from baton_status.history import History
from baton_status.queries import Singleton
from baton_status.views import SystemView, WorkflowView

__all__ = ["HISTORY_TYPES", "SYSTEM", "Memory", "current"]

HISTORY_TYPES: Final = 256
"""Workflow types whose history a replica keeps at most."""
SYSTEM: Final = "system"
"""The system view's singleton name (and key in ``Memory.system``)."""

V = TypeVar("V")


class Memory:
    """A replica's copies of rows (see the module doc).

    Args:
        views: Most views kept.
    """

    def __init__(self, *, views: int) -> None:
        self.views: VersionedCache[WorkflowView] = VersionedCache(size=views)
        self.histories: VersionedCache[History] = VersionedCache(size=HISTORY_TYPES)
        self.system: VersionedCache[SystemView] = VersionedCache(size=1)


async def current(
    cache: VersionedCache[V],
    key: str,
    *,
    read: Callable[[int | None], Awaitable[Singleton]],
    parse: Callable[[Any], V],
    take: bool = False,
) -> tuple[int | None, V | None]:
    """The row ``key`` as ``read`` finds it, from ``cache`` while its version is unchanged.

    ``read(known)`` reads the row, its value only when its version is not ``known``. With
    ``take`` (a writer about to change the value) the copy leaves the cache (it is
    :meth:`~baton_status.cache.VersionedCache.put` back once committed); otherwise the
    value read is kept there. Returns ``(version, value)``, ``(None, None)`` without a row.
    """
    row = await read(cache.version(key, full=True))
    if row.version is None:
        return None, None
    if row.value is None:  # unchanged since the copy was made
        if take:
            held = cache.take(key, version=row.version)
        else:
            found = cache.get(key, version=row.version, full=True)
            held = None if found is None else found.value
        if held is not None:
            return row.version, held
        # The copy went meanwhile (taken by the writer, or pushed out): read the value.
        row = await read(None)
        if row.version is None:
            return None, None
    value = parse(row.value)
    if not take:
        cache.put(key, row.version, value)
    return row.version, value
