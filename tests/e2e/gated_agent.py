"""An agent worker process whose tasks end when the test says so (for tests/e2e).

Run as ``python gated_agent.py AGENT_ID GATE_DIR`` with the ``BATON_*`` variables of the
services. Attempt N of task T runs until the file ``GATE_DIR/T.N`` exists; an attempt taken
away from the agent (its handler cancelled) leaves ``GATE_DIR/cancelled.AGENT_ID.T.N``.
SIGTERM or SIGINT stops the worker cleanly.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

from baton import AgentWorker, BatonClient, Task


async def main(agent_id: str, gates: Path) -> None:
    async def handle(task: Task) -> dict[str, Any]:
        name = f"{task.task_id}.{task.attempt}"
        try:
            # The gate is a file another process creates: there is no event to wait on.
            while not (gates / name).exists():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            (gates / f"cancelled.{agent_id}.{name}").touch()
            raise
        return {"by": agent_id, "attempt": task.attempt}

    client = BatonClient.from_env(component=f"gated-{agent_id}")
    worker = AgentWorker(client=client, agent_id=agent_id, handler=handle, heartbeat_interval=0.5)
    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Task[None]] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stopping.append(loop.create_task(worker.stop())))
    await worker.run_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
