"""A bounded cache whose entries expire: memory bounded by recent work, never by history."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["ExpiringCache"]

V = TypeVar("V")


class ExpiringCache(Generic[V]):
    """Values by key, each trusted ``ttl`` seconds after it was put; at most ``size`` kept,
    the least recently put going first.

    Args:
        size: Most entries kept.
        ttl: Seconds an entry is trusted.
        clock: Monotonic seconds (tests pass their own).
    """

    def __init__(
        self, *, size: int, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._size = size
        self._ttl = ttl
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> V | None:
        """The value put under ``key``, unless it is missing or expired (then dropped)."""
        item = self._items.get(key)
        if item is None:
            return None
        stamp, value = item
        if self._clock() - stamp > self._ttl:
            del self._items[key]
            return None
        return value

    def put(self, key: str, value: V) -> None:
        """Keep ``value`` under ``key``, as the most recent entry."""
        now = self._clock()
        self._items[key] = (now, value)
        self._items.move_to_end(key)
        # Oldest first: past the size, or expired (an entry nobody asks for again would
        # otherwise stay until the size pushes it out: memory growing with history).
        while self._items:
            stamp, _ = next(iter(self._items.values()))
            if len(self._items) <= self._size and now - stamp <= self._ttl:
                break
            self._items.popitem(last=False)

    def pop(self, key: str) -> None:
        """Drop the entry of ``key``, if any."""
        self._items.pop(key, None)
