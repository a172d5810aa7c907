"""An in-memory Baton for tests: one broker, clients on it, and a stand-in hub."""

from __future__ import annotations

from baton.bus import MemoryTransport
from baton.client import BatonClient
from baton.config import BatonSettings
from baton.lifecycle import Lifecycle
from baton.testing.hub import FakeHub

__all__ = ["AgentTestEnvironment"]


class AgentTestEnvironment(Lifecycle):
    """An in-memory broker with a stand-in hub; clients made here talk to both.

    Usage::

        async with AgentTestEnvironment() as env:
            client = env.client(component="research-agent")
            async with AgentWorker(client=client, agent_id="agent_001", handler=research):
                await env.hub.assign("t1", agent="agent_001")
                done = await env.hub.wait_for("TASK_COMPLETED", task_id="t1")

    Args:
        settings: Deployment settings of the clients (default: topic prefix ``test``,
            one quick retry of a failed event, 5 s requests).
        partitions: Partitions of every topic of the in-memory broker.
    """

    def __init__(self, *, settings: BatonSettings | None = None, partitions: int = 3) -> None:
        self.settings = settings or BatonSettings(
            topic_prefix="test", retry_delays=(0.2,), request_timeout=5
        )
        self.transport = MemoryTransport(partitions=partitions)
        self.hub = FakeHub(settings=self.settings, transport=self.transport)
        self._clients: list[BatonClient] = []

    def client(self, *, component: str = "test-agent") -> BatonClient:
        """A client on this environment's broker (not started: a worker starts its own).

        Args:
            component: The program's name; give each worker process of a real deployment
                its own, as here.
        """
        made = BatonClient(component=component, settings=self.settings, transport=self.transport)
        self._clients.append(made)
        return made

    async def start(self) -> None:
        """Start the hub (it records from the first event on). Idempotent."""
        await self.hub.start()

    async def stop(self) -> None:
        """Stop every client made here, then the hub. Safe to call twice."""
        clients, self._clients = self._clients, []
        for made in clients:
            await made.stop()
        await self.hub.stop()
