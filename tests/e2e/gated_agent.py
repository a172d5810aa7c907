"""An agent worker process whose tasks end when the test says so (for tests/e2e).

Run as ``python gated_agent.py AGENT_ID GATE_DIR`` with the ``BATON_*`` variables of the
services. Once its worker holds its partitions (it reads every assignment from then on) it
creates ``GATE_DIR/ready.AGENT_ID``. Attempt N of task T runs until the file ``GATE_DIR/T.N``
exists; an attempt taken away from the agent (its handler cancelled) leaves
``GATE_DIR/cancelled.AGENT_ID.T.N``. When ``GATE_DIR/freeze.T.N`` exists as attempt N
starts, the process removes it and stops itself (SIGSTOP) right after its ``TASK_STARTED``
went out, and ends the attempt as soon as it is continued (SIGCONT). SIGTERM or SIGINT
stops the worker cleanly.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from baton import AgentWorker, BatonClient, Task


async def main(agent_id: str, gates: Path) -> None:
    async def handle(task: Task) -> dict[str, Any]:
        name = f"{task.task_id}.{task.attempt}"
        result = {"by": agent_id, "attempt": task.attempt}
        freeze = gates / f"freeze.{name}"
        if freeze.exists():
            # Frozen on the spot, however slow the machine: nothing the hub says meanwhile is
            # read, and on SIGCONT the attempt ends with no await in between, so the worker
            # reports it as it would have before it froze. Once: the assignment read again
            # after the frozen consumer's session expired must not freeze it a second time.
            freeze.unlink()
            await task.started()  # its start is out before it freezes
            os.kill(os.getpid(), signal.SIGSTOP)
            return result
        try:
            # The gate is a file another process creates: there is no event to wait on.
            while not (gates / name).exists():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            (gates / f"cancelled.{agent_id}.{name}").touch()
            raise
        return result

    client = BatonClient.from_env(component=f"gated-{agent_id}")
    worker = AgentWorker(client=client, agent_id=agent_id, handler=handle, heartbeat_interval=0.5)
    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Task[None]] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stopping.append(loop.create_task(worker.stop())))
    await worker.start()
    await client.wait_assigned(group=worker.group, timeout=120)
    (gates / f"ready.{agent_id}").touch()
    await worker.run_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
