"""A bounded, versioned cache of rows the status service read or wrote.

PostgreSQL holds the read model; a replica keeps copies of the rows it used last (views of
workflows in flight, the history of their types, the system view), each with the row's
version. A copy is used only while the row still has that version (the store reads just
the version when the caller names the one it holds), so another replica's write is never
missed, and at most ``size`` copies are kept: the least recently used go first.

A writer :meth:`take` s the copy it is about to change (the projection changes views in
place) and :meth:`put` s it back once committed: until then readers read the row, and a
transaction that fails leaves no half-changed copy behind.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, NamedTuple, TypeVar

__all__ = ["Cached", "VersionedCache"]

V = TypeVar("V")


class Cached(NamedTuple, Generic[V]):
    """A copy of a row: its version, its value, and whether the value is complete.

    Attributes:
        version: The row's version the value is of.
        value: The value.
        full: False for a partial copy a reader made (a view without its timeline), which
            a writer must not build on.
    """

    version: int
    value: V
    full: bool = True


class VersionedCache(Generic[V]):
    """Key → :class:`Cached`, the ``size`` most recently used (see the module doc).

    Args:
        size: Most copies kept (0 keeps none).
    """

    def __init__(self, *, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, Cached[V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: str, *, version: int | None = None, full: bool = False) -> Cached[V] | None:
        """The copy of ``key`` (of ``version`` when given; only a full one when ``full``)."""
        item = self._items.get(key)
        if item is None or (version is not None and item.version != version):
            return None
        if full and not item.full:
            return None
        self._items.move_to_end(key)
        return item

    def version(self, key: str, *, full: bool = False) -> int | None:
        """The version of the copy of ``key`` held (a full one when ``full``), or None."""
        item = self.get(key, full=full)
        return None if item is None else item.version

    def put(self, key: str, version: int, value: V, *, full: bool = True) -> None:
        """Keep ``value`` as ``key``'s copy at ``version``, unless a newer copy is held (or a
        full one of that version, and ``value`` is partial)."""
        held = self._items.get(key)
        if held is not None and (
            held.version > version or (held.version == version and held.full and not full)
        ):
            return
        self._items[key] = Cached(version, value, full)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def take(self, key: str, *, version: int) -> V | None:
        """Remove and return the full copy of ``key`` at ``version`` (module doc), or None."""
        item = self._items.get(key)
        if item is None or item.version != version or not item.full:
            return None
        del self._items[key]
        return item.value

    def discard(self, key: str) -> None:
        """Forget ``key``'s copy."""
        self._items.pop(key, None)
