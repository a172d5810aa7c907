"""The monitor's consumer-lag reader: real groups on the suite's broker, clients kept."""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaError
from tests.behaviour.helpers import eventually
from tests.conftest import BusFactory

from baton.protocol.event import Event
from baton_monitor.lag import ConsumerLagReader

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


@pytest.mark.parametrize("make_bus", ["kafka"], indirect=True)
async def test_lag_is_read_reading_after_reading_with_the_same_clients(
    make_bus: BusFactory,
) -> None:
    reader_bus = await make_bus()
    seen: list[Event] = []

    async def on_event(event: Event) -> None:
        seen.append(event)

    prefix = reader_bus.settings.topic_prefix
    group = f"{prefix}.lagging"  # the deployment's groups are named after its prefix
    reader_bus.subscribe("phase.*.progress", on_event, group=group)
    await reader_bus.start()
    await reader_bus.wait_assigned(group=group)
    await reader_bus.publish("PHASE_PROGRESS:wf_lag:p:{'n':0}")
    await eventually(lambda: len(seen) == 1, what="the group read the first event")
    await reader_bus.stop()  # its offsets stay committed; what comes now is lag
    writer = await make_bus()
    await writer.start()
    bootstrap = writer.settings.bootstrap
    async with ConsumerLagReader(bootstrap=bootstrap, prefix=prefix) as r:
        assert not r.connected
        first = await r.read()
        assert first.get(group) == 0, first
        assert r.connected
        for n in range(1, 4):
            await writer.publish(f"PHASE_PROGRESS:wf_lag:p:{{'n':{n}}}")
        assert (await r.read())[group] == 3  # the kept clients see the new ends
        assert r.connected
    assert not r.connected
    await r.stop()  # idempotent


async def test_a_failed_reading_closes_the_clients() -> None:
    reader = ConsumerLagReader(bootstrap="127.0.0.1:1", prefix="nobody")
    with pytest.raises(KafkaError):
        await reader.read()
    assert not reader.connected
