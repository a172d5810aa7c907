"""Baton's Python client: a bus client, an agent worker, and orchestration patterns.

- :class:`BatonClient`: publish, subscribe, ask services, create and follow workflows.
- :class:`AgentWorker`: receives an agent's task assignments, heartbeats, runs a handler
  and reports progress, results and failures (fenced, cancellable).
- Patterns (:mod:`baton.client.patterns`): :class:`Pipeline` (step progress and
  checkpoint-resume with a :class:`JsonFileStore`), :class:`ValidationChain` (early exit),
  :class:`StrategyRouter` (routing with fallback).
"""

from baton.client.client import BatonClient
from baton.client.errors import ClientError, StepFailedError, StrategyError, TaskRejectedError
from baton.client.patterns import (
    Check,
    CheckpointStore,
    JsonFileStore,
    Pipeline,
    Routed,
    Step,
    StepEvent,
    StepReporter,
    StrategyRouter,
    ValidationChain,
    ValidationOutcome,
    print_steps,
    task_progress,
)
from baton.client.snapshot import TERMINAL_STATUSES, WorkflowSnapshot
from baton.client.task import Task, TaskHandler, TaskResult
from baton.client.worker import AgentWorker

__all__ = [
    "TERMINAL_STATUSES",
    "AgentWorker",
    "BatonClient",
    "Check",
    "CheckpointStore",
    "ClientError",
    "JsonFileStore",
    "Pipeline",
    "Routed",
    "Step",
    "StepEvent",
    "StepFailedError",
    "StepReporter",
    "StrategyError",
    "StrategyRouter",
    "Task",
    "TaskHandler",
    "TaskRejectedError",
    "TaskResult",
    "ValidationChain",
    "ValidationOutcome",
    "WorkflowSnapshot",
    "print_steps",
    "task_progress",
]
