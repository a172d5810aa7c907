"""A read model's group lets the broker gather events: a few big batches, not one per event."""

from __future__ import annotations

import asyncio

import pytest
from tests.behaviour.helpers import eventually
from tests.conftest import BusFactory

from baton.protocol.event import Event

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


@pytest.mark.parametrize("make_bus", ["kafka"], indirect=True)
async def test_a_gathering_group_gets_events_published_apart_in_few_batches(
    make_bus: BusFactory,
) -> None:
    bus = await make_bus()
    gathered: list[int] = []
    eager: list[int] = []

    async def on_gathered(events: list[Event]) -> None:
        gathered.append(len(events))

    async def on_eager(events: list[Event]) -> None:
        eager.append(len(events))

    bus.subscribe_batches("#", on_gathered, group="g-gather", gather_ms=1500)
    bus.subscribe_batches("#", on_eager, group="g-eager")
    await bus.start()
    await bus.wait_assigned(group="g-gather")
    await bus.wait_assigned(group="g-eager")
    for n in range(10):  # one workflow: one partition, events 30 ms apart
        await bus.publish(f"PHASE_PROGRESS:wf_gather:p:{{'n':{n}}}")
        await asyncio.sleep(0.03)
    await eventually(lambda: sum(gathered) == 10 and sum(eager) == 10, what="all delivered")
    assert len(gathered) <= 3, gathered
    assert len(eager) > len(gathered), (eager, gathered)
