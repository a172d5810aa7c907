"""Baton's Python client: a bus client, an agent worker, and orchestration patterns.

- :class:`BatonClient`: publish, subscribe, ask services, create and follow workflows.
- :class:`AgentWorker`: receives an agent's task assignments, heartbeats, runs a handler
  and reports progress, results and failures (fenced, cancellable).
- Patterns (seed 004): :class:`Pipeline` (step progress), :class:`CheckpointedRun` with a
  :class:`JsonFileStore` (checkpoint-resume), :class:`ValidationChain` (early exit),
  :class:`StrategyRouter` (routing with fallback).
"""

from baton.client.client import BatonClient
from baton.client.errors import ClientError, TaskRejectedError
from baton.client.snapshot import TERMINAL_STATUSES, WorkflowSnapshot
from baton.client.task import Task, TaskHandler, TaskResult
from baton.client.worker import AgentWorker

__all__ = [
    "TERMINAL_STATUSES",
    "AgentWorker",
    "BatonClient",
    "ClientError",
    "Task",
    "TaskHandler",
    "TaskRejectedError",
    "TaskResult",
    "WorkflowSnapshot",
]
