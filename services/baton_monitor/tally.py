"""A batch of events' changes to the monitor's faust tables, each key written once.

Faust writes one changelog record per table assignment. Counting event by event, one event
wrote about nine (its offset, two counts, five hopping windows, one or two sketches): most
of the Kafka records of a workflow, and most of the monitor's CPU. The counting agent takes
the events that arrived together (:meth:`faust.Stream.take_events`), a :class:`Tally` sums
their changes in memory, and :meth:`Tally.write` assigns each touched key once: a window's
count once per batch, however many events fell in it.

A batch mixes the source partitions, so the changelog partition cannot come from the
current event as faust's tables assume: every key starts with its source partition, and
:class:`PartitionedTable` writes each change to that partition's changelog — where a
restarted or rebalanced monitor restores it from.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Final

import faust
from faust.types.windows import WindowT

from baton_monitor import sketch

__all__ = ["PartitionedTable", "Tally", "source_partition"]

_GONE: Final = object()
"""A start removed within the batch."""


def source_partition(key: Any) -> int:
    """The source partition a table key starts with: ``p``, ``(p, …)`` or ``((p, …), window)``."""
    head = key
    while isinstance(head, tuple):
        head = head[0]
    return int(head)


class PartitionedTable(faust.Table):  # type: ignore[misc]  # faust is untyped
    """A faust table writing each change to the changelog partition its key names."""

    def partition_for_key(self, key: Any) -> int | None:
        return source_partition(key)


class Tally:
    """The changes one batch makes to the tables, applied by :meth:`write`.

    Args:
        tables: The monitor's tables by name (``tumbling``, ``hopping``, ``errors``,
            ``sketches``, ``starts``, ``counted``); the windowed ones have their window set.
        windows: The window of each windowed table.
    """

    def __init__(self, *, tables: Mapping[str, Any], windows: Mapping[str, WindowT]) -> None:
        self._tables = tables
        self._windows = windows
        self._counts: dict[tuple[str, Any], int] = defaultdict(int)
        self._samples: dict[Any, list[float]] = defaultdict(list)
        self._starts: dict[Any, Any] = {}
        self._offsets: dict[int, int] = {}

    def counted(self, partition: int) -> int | None:
        """The latest offset of ``partition`` counted, this batch included."""
        if partition in self._offsets:
            return self._offsets[partition]
        done = self._tables["counted"].data.get(partition)
        return None if done is None else int(done)

    def mark(self, partition: int, offset: int) -> None:
        """Record ``offset`` of ``partition`` as counted."""
        self._offsets[partition] = offset

    def count(self, table: str, key: tuple[Any, ...], *, at: float) -> None:
        """One more in each window of ``table`` holding the moment ``at``."""
        for window in self._windows[table].ranges(at):
            self._counts[(table, (key, window))] += 1

    def sample(self, key: tuple[Any, ...], value: float, *, at: float) -> None:
        """Add ``value`` to the sketch ``key`` of each window holding ``at``."""
        for window in self._windows["sketches"].ranges(at):
            self._samples[(key, window)].append(value)

    def start(self, key: tuple[Any, ...]) -> float | None:
        """When the task or phase ``key`` started, if known."""
        value = self._starts.get(key)
        if value is None:
            value = self._tables["starts"].data.get(key)
        return None if value is None or value is _GONE else float(value)

    def begin(self, key: tuple[Any, ...], *, at: float) -> None:
        self._starts[key] = at

    def end(self, key: tuple[Any, ...]) -> None:
        self._starts[key] = _GONE

    def write(self) -> int:
        """Assign every changed key once (each assignment is one changelog record);
        returns how many were written. The tally is empty afterwards."""
        written = 0
        for (name, key), delta in self._counts.items():
            table = self._tables[name]
            table[key] = int(table.data.get(key, 0)) + delta
            written += 1
        sketches = self._tables["sketches"]
        for key, values in self._samples.items():
            sketches[key] = sketch.add_many(sketches.data.get(key), values)
            written += 1
        starts = self._tables["starts"]
        for key, value in self._starts.items():
            if value is not _GONE:
                starts[key] = value
            elif key in starts.data:
                del starts[key]
            else:
                continue
            written += 1
        counted = self._tables["counted"]
        for partition, offset in self._offsets.items():
            counted[partition] = offset
            written += 1
        self._counts.clear()
        self._samples.clear()
        self._starts.clear()
        self._offsets.clear()
        return written
