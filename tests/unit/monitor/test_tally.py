"""A batch of events writes each changed table key once, to its source partition."""

from __future__ import annotations

from typing import Any

from faust.windows import HoppingWindow, TumblingWindow

from baton_monitor import sketch
from baton_monitor.tally import Tally, source_partition


class _Table(dict[Any, Any]):
    """Stands in for a faust table: ``data`` is the store, each assignment a changelog record."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[Any] = []

    @property
    def data(self) -> dict[Any, Any]:
        return self

    def __setitem__(self, key: Any, value: Any) -> None:
        self.writes.append(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        self.writes.append(key)
        super().__delitem__(key)


def _tally() -> tuple[Tally, dict[str, _Table]]:
    tumbling = TumblingWindow(60, expires=120)
    tables = {
        n: _Table() for n in ("tumbling", "hopping", "errors", "sketches", "starts", "counted")
    }
    windows = {
        "tumbling": tumbling,
        "errors": tumbling,
        "hopping": HoppingWindow(300, 60, expires=600),
        "sketches": tumbling,
    }
    return Tally(tables=tables, windows=windows), tables


def test_the_source_partition_heads_every_key_shape() -> None:
    assert source_partition(4) == 4
    assert source_partition((2, "wf_1", "task", "t1")) == 2
    assert source_partition(((5, "TASK_COMPLETED"), (60.0, 119.9))) == 5


def test_a_hundred_events_in_one_window_write_each_key_once() -> None:
    tally, tables = _tally()
    for offset in range(100):
        tally.mark(0, offset)
        tally.count("tumbling", (0, "TASK_COMPLETED"), at=1_000.0 + offset / 10)
        tally.count("hopping", (0, "TASK_COMPLETED"), at=1_000.0 + offset / 10)
        tally.sample((0, "latency", "all"), 0.01, at=1_000.0 + offset / 10)
    written = tally.write()
    assert len(tables["tumbling"].writes) == 1
    assert len(tables["hopping"].writes) == 5  # one per hopping window holding the moment
    assert len(tables["sketches"].writes) == 1
    assert tables["counted"] == {0: 99}
    assert written == 1 + 5 + 1 + 1
    assert list(tables["tumbling"].values()) == [100]
    assert all(v == 100 for v in tables["hopping"].values())
    assert next(iter(tables["sketches"].values()))["n"] == 100


def test_counts_add_to_what_the_table_holds() -> None:
    tally, tables = _tally()
    tally.count("tumbling", (1, "WORKFLOW_CREATED"), at=1_000.0)
    tally.write()
    tally.count("tumbling", (1, "WORKFLOW_CREATED"), at=1_001.0)
    tally.sample((1, "latency", "all"), 0.5, at=1_001.0)
    tally.write()
    assert list(tables["tumbling"].values()) == [2]
    assert len(tables["tumbling"].writes) == 2
    merged = next(iter(tables["sketches"].values()))
    assert merged == sketch.add(None, 0.5)


def test_a_start_begun_and_ended_in_one_batch_writes_nothing() -> None:
    tally, tables = _tally()
    task = (0, "wf_1", "task", "t1")
    tally.begin(task, at=10.0)
    assert tally.start(task) == 10.0
    tally.end(task)
    assert tally.start(task) is None
    assert tally.write() == 0
    assert tables["starts"].writes == []


def test_a_start_seen_in_an_earlier_batch_is_read_and_removed() -> None:
    tally, tables = _tally()
    task = (3, "wf_1", "phase", "p1")
    tally.begin(task, at=10.0)
    tally.write()
    assert tally.start(task) == 10.0
    tally.end(task)
    tally.write()
    assert task not in tables["starts"]
    assert tables["starts"].writes == [task, task]  # the set, then the tombstone


def test_the_counted_offset_includes_the_batch() -> None:
    tally, tables = _tally()
    tables["counted"][2] = 7
    assert tally.counted(2) == 7
    assert tally.counted(1) is None
    tally.mark(2, 9)
    assert tally.counted(2) == 9
