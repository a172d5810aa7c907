"""GroupCommit: the batches of one fetch in one call, each still all or none; and the bus's
partitions of one fetch joined through it."""

from __future__ import annotations

import asyncio

import pytest

from baton.bus import Bus, MemoryTransport
from baton.config import BatonSettings
from baton.errors import DependencyUnavailableError, HandlerError
from baton.protocol.event import Event
from baton.runtime import GroupCommit


class Recorder:
    """A batch handler that records its calls and refuses lists holding ``bad``."""

    def __init__(self, *, bad: str | None = None, outage: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.bad = bad
        self.outage = outage

    async def __call__(self, items: list[str]) -> None:
        self.calls.append(list(items))
        if self.outage:
            raise DependencyUnavailableError("database gone")
        if self.bad is not None and self.bad in items:
            raise HandlerError(f"bad item {self.bad}", retriable=False)


async def test_batches_that_arrive_together_are_one_call_in_order() -> None:
    handler = Recorder()
    joined = GroupCommit(handler)
    await asyncio.gather(joined(["a1", "a2"]), joined(["b1"]), joined(["c1", "c2"]))
    assert handler.calls == [["a1", "a2", "b1", "c1", "c2"]]
    assert (joined.calls, joined.joined) == (1, 3)
    await joined(["d1"])  # later: a call of its own
    assert handler.calls[-1] == ["d1"]


async def test_a_failed_joined_call_applies_each_batch_alone_and_fails_only_the_bad_one() -> None:
    handler = Recorder(bad="b1")
    joined = GroupCommit(handler)
    results = await asyncio.gather(
        joined(["a1"]), joined(["b1", "b2"]), joined(["c1"]), return_exceptions=True
    )
    assert results[0] is None
    assert results[2] is None
    assert isinstance(results[1], HandlerError)
    assert handler.calls == [["a1", "b1", "b2", "c1"], ["a1"], ["b1", "b2"], ["c1"]]


async def test_an_outage_fails_every_batch_at_once() -> None:
    handler = Recorder(outage=True)
    joined = GroupCommit(handler)
    results = await asyncio.gather(joined(["a"]), joined(["b"]), return_exceptions=True)
    assert all(isinstance(r, DependencyUnavailableError) for r in results)
    assert handler.calls == [["a", "b"]]  # not tried again alone


async def test_a_caller_that_gives_up_is_left_out() -> None:
    handler = Recorder()
    joined = GroupCommit(handler)
    gone = asyncio.ensure_future(joined(["gone"]))
    staying = asyncio.ensure_future(joined(["kept"]))
    gone.cancel()
    await staying
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert handler.calls == [["kept"]]


async def test_the_partitions_of_one_fetch_are_one_call() -> None:
    """Through the bus: records waiting on three partitions come as one joined list, each
    partition's in order."""
    memory = MemoryTransport(partitions=3)
    settings = BatonSettings(topic_prefix="unit")
    seen: list[list[Event]] = []
    all_in = asyncio.Event()

    async def handle(events: list[Event]) -> None:
        seen.append(events)
        if sum(len(s) for s in seen) >= 24:
            all_in.set()

    bus = Bus(settings=settings, transport=memory)
    bus.subscribe_batches("#", GroupCommit(handle), group="unit.joined")
    workflows = [f"wf_{n}" for n in range(6)]
    for step in range(4):
        for wf in workflows:
            await bus.publish(Event.parse(f"PROBE_TICK:{wf}:p:{{'step': {step}}}"))
    partitions = {await bus.partition_for(wf) for wf in workflows}
    assert len(partitions) > 1
    async with bus:
        await asyncio.wait_for(all_in.wait(), 10)
    assert len(seen) == 1  # one fetch, one call
    for wf in workflows:
        assert [e.data["step"] for e in seen[0] if e.workflow_id == wf] == [0, 1, 2, 3]
