"""The quickstart agent's tests: its handler against a stand-in hub, in memory, no Kafka.

From the repository's root (pytest-asyncio runs the ``async`` tests)::

    .venv/bin/pytest examples/test_agent_quickstart.py
"""

from agent_quickstart import handle

from baton import AgentWorker
from baton.testing import AgentTestEnvironment


async def test_the_agent_reports_progress_then_its_result() -> None:
    async with AgentTestEnvironment() as env:
        client = env.client(component="quickstart-agent_001")
        async with AgentWorker(client=client, agent_id="agent_001", handler=handle):
            await env.hub.assign("t1", agent="agent_001", description="the auth module")
            done = await env.hub.wait_for("TASK_COMPLETED", task_id="t1")
    assert done.data["results"] == {"summary": "research done by agent_001", "attempt": 1}
    progress = env.hub.reports("PHASE_PROGRESS", task_id="t1")
    assert [p.data["message"] for p in progress] == [
        "Step 1/2: reading the auth module",
        "Step 2/2: writing the result",
    ]


async def test_a_newer_assignment_of_the_task_replaces_the_running_one() -> None:
    async with AgentTestEnvironment() as env:
        client = env.client(component="quickstart-agent_001")
        async with AgentWorker(client=client, agent_id="agent_001", handler=handle):
            await env.hub.assign("t1", agent="agent_001", token=1)
            await env.hub.assign("t1", agent="agent_001", token=2)  # a retry: fenced anew
            await env.hub.wait_for("TASK_COMPLETED", task_id="t1")
    done = env.hub.reports("TASK_COMPLETED", task_id="t1")
    assert [d.data["fencing_token"] for d in done] == [2]
    assert done[0].data["results"]["attempt"] == 2
