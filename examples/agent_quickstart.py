"""An agent in 30 lines: take this agent's tasks from Baton, report progress and results.

Against a running system (``.venv/bin/baton serve resource`` and ``.venv/bin/baton serve
hub``; the same ``BATON_*`` variables as the services), start one process per
agent of the pool, from the repository's root::

    .venv/bin/python examples/agent_quickstart.py agent_001

then create a workflow: ``.venv/bin/baton coordination-hub create-workflow '{...}'``.
Ctrl-C stops.
"""

import asyncio
import contextlib
import sys
from typing import Any

from baton import AgentWorker, BatonClient, Task


async def handle(task: Task) -> dict[str, Any]:
    await task.progress(10, message=f"Step 1/2: reading {task.description or task.task_id}")
    await asyncio.sleep(0.2)  # the agent's real work goes here
    await task.progress(90, message="Step 2/2: writing the result")
    return {"summary": f"{task.role} done by {task.agent_id}", "attempt": task.attempt}


async def main(agent_id: str) -> None:
    client = BatonClient.from_env(component=f"quickstart-{agent_id}")
    async with AgentWorker(client=client, agent_id=agent_id, handler=handle) as worker:
        await worker.run_forever()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: the worker has stopped cleanly
        asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "agent_001"))
