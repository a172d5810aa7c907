"""Test an agent's handler in milliseconds, without Kafka.

:class:`AgentTestEnvironment` runs an in-memory broker with a stand-in hub
(:class:`FakeHub`): the test assigns tasks, cancels workflows or announces what the hub
would, and reads the agent's reports back. Nothing here needs the services or their extra.

Usage (pytest with ``asyncio_mode = "auto"``)::

    from baton import AgentWorker
    from baton.testing import AgentTestEnvironment

    async def test_research_completes() -> None:
        async with AgentTestEnvironment() as env:
            client = env.client(component="research-agent")
            async with AgentWorker(client=client, agent_id="agent_001", handler=research):
                await env.hub.assign("t1", agent="agent_001", inputs={"topic": "auth"})
                done = await env.hub.wait_for("TASK_COMPLETED", task_id="t1")
        assert done.data["results"] == {"summary": "..."}
"""

from baton.testing.environment import AgentTestEnvironment
from baton.testing.hub import FakeHub

__all__ = ["AgentTestEnvironment", "FakeHub"]
