"""Orchestrator patterns for agents and orchestrators built on Baton.

- :class:`Pipeline` of :class:`Step` s with "Step N/Total" progress (printed and/or on the
  bus as the task's ``PHASE_PROGRESS``) and checkpoint-resume through a
  :class:`CheckpointStore` (:class:`JsonFileStore`: atomic JSON files).
- :class:`ValidationChain`: checks in order, early exit on the first failure.
- :class:`StrategyRouter`: a strategy by name, with fallback routes.
"""

from baton.client.patterns.checkpoint import CheckpointStore, JsonFileStore
from baton.client.patterns.pipeline import (
    Pipeline,
    Step,
    StepEvent,
    StepReporter,
    print_steps,
    task_progress,
)
from baton.client.patterns.strategy import Routed, StrategyRouter
from baton.client.patterns.validation import Check, ValidationChain, ValidationOutcome

__all__ = [
    "Check",
    "CheckpointStore",
    "JsonFileStore",
    "Pipeline",
    "Routed",
    "Step",
    "StepEvent",
    "StepReporter",
    "StrategyRouter",
    "ValidationChain",
    "ValidationOutcome",
    "print_steps",
    "task_progress",
]
