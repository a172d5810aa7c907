"""The demo's agents: a few :class:`~baton.client.AgentWorker` s doing simulated work.

Each task takes a fraction of a second, reporting progress half way. While
:attr:`Workforce.breaking` is set, the migration's database task fails with
``connection_timeout`` — the demo's error-handling scenario — until the demo switches to
the "alternative approach" and clears it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from baton.client import AgentWorker, BatonClient, Task
from baton.demo.scenarios import failing_task

__all__ = ["TaskBroke", "Workforce"]


class TaskBroke(Exception):  # the simulated tool's own error, not a Baton one
    """The simulated tool's failure; the worker reports it as TASK_FAILED."""


@dataclass
class Workforce:
    """``count`` agent workers named like the resource pool's agents (agent_001…)."""

    client: BatonClient
    count: int = 4
    work_seconds: tuple[float, float] = (0.2, 0.6)
    heartbeat_interval: float = 1.0
    breaking: bool = True
    _workers: list[AgentWorker] = field(default_factory=list, init=False)

    @property
    def agent_ids(self) -> list[str]:
        return [f"agent_{i:03d}" for i in range(1, self.count + 1)]

    async def start(self) -> None:
        for agent_id in self.agent_ids:
            worker = AgentWorker(
                client=self.client,
                agent_id=agent_id,
                handler=self._work,
                heartbeat_interval=self.heartbeat_interval,
                capabilities=["research", "planning", "implementation", "testing"],
            )
            await worker.start()
            self._workers.append(worker)

    async def stop(self) -> None:
        workers, self._workers = self._workers, []
        for worker in workers:
            with contextlib.suppress(Exception):  # stopping the rest matters more
                await worker.stop()

    async def _work(self, task: Task) -> Mapping[str, Any]:
        low, high = self.work_seconds
        await asyncio.sleep(random.uniform(low, high) / 2)
        await task.progress(50, message=f"{task.task_id}: half way")
        await asyncio.sleep(random.uniform(low, high) / 2)
        if self.breaking and failing_task(task.workflow_id, task.task_id):
            raise TaskBroke("connection_timeout: database did not answer within 30s")
        return {"ok": True, "summary": f"{task.task_id} done by {task.agent_id}"}
