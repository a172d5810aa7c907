"""Fixtures: clients on one in-memory broker (the test environment agents use), and a
stand-in hub on the same broker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from baton.bus import Bus, MemoryTransport
from baton.client import BatonClient
from baton.config import BatonSettings
from baton.protocol.event import Event
from baton.testing import AgentTestEnvironment, FakeHub

ClientFactory = Callable[..., BatonClient]


@pytest.fixture
def settings() -> BatonSettings:
    return BatonSettings(topic_prefix="unit", retry_delays=(0.2,), request_timeout=5)


@pytest.fixture
async def env(settings: BatonSettings) -> AsyncIterator[AgentTestEnvironment]:
    async with AgentTestEnvironment(settings=settings) as environment:
        yield environment


@pytest.fixture
def memory(env: AgentTestEnvironment) -> MemoryTransport:
    return env.transport


@pytest.fixture
def hub(env: AgentTestEnvironment) -> FakeHub:
    return env.hub


@pytest.fixture
def make_client(env: AgentTestEnvironment) -> ClientFactory:
    def factory(component: str = "unit-client") -> BatonClient:
        return env.client(component=component)

    return factory


Responder = Callable[[Event], Awaitable[dict[str, Any]]]


@pytest.fixture
async def serve_hub(
    memory: MemoryTransport, settings: BatonSettings
) -> AsyncIterator[Callable[[Responder], Awaitable[Bus]]]:
    """Answers the hub's commands topic with a given responder (a stand-in, no state)."""
    buses: list[Bus] = []

    async def start(responder: Responder) -> Bus:
        bus = Bus(settings=settings.model_copy(update={"component": "fake-hub"}), transport=memory)
        bus.serve("hub", responder)
        await bus.start()
        buses.append(bus)
        return bus

    yield start
    for bus in buses:
        await bus.stop()
