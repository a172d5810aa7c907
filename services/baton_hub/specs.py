"""The parts of a workflow definition: resources, tasks, their dependencies and gates.

:class:`~baton_hub.definition.WorkflowDefinition` puts them together and checks them as a
whole; each part here checks only itself.
"""

from __future__ import annotations

from typing import Any

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveInt,
    model_validator,
)

from baton.protocol.messages.base import Duration, Identifier
from baton_hub.units import parse_memory_gb, parse_seconds

__all__ = [
    "ExternalDependencySpec",
    "QualityGate",
    "ResourceRequirements",
    "SpecModel",
    "TaskDependency",
    "TaskSpec",
]


class SpecModel(BaseModel):
    """Base of the definition models: unknown fields are errors (a typo is not ignored)."""

    # Always revalidate: normalising a definition must not change models the caller built.
    model_config = ConfigDict(
        extra="forbid", revalidate_instances="always", use_attribute_docstrings=True
    )


class ResourceRequirements(SpecModel):
    """Resources the workflow asks the resource manager for.

    The ``create-workflow`` JSON writes ``memory`` (``"2GB"``) and ``duration``
    (``"4h"``); they become ``memory_gb`` and ``duration_hours``.
    """

    agents: PositiveInt = 1
    memory_gb: NonNegativeFloat = 0
    cpu_cores: NonNegativeFloat = 0
    duration_hours: NonNegativeFloat = 1.0
    exclusive_files: list[str] = Field(default_factory=list)
    tool_instances: dict[str, NonNegativeInt] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _seed_units(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for short, full in (("memory", "memory_gb"), ("duration", "duration_hours")):
            if short in data and full in data:
                raise ValueError(f"give {short} or {full}, not both")
        if "memory" in data:
            data["memory_gb"] = parse_memory_gb(data.pop("memory"))
        if "duration" in data:
            duration = data.pop("duration")
            if not isinstance(duration, str):
                raise ValueError("duration must be a string like '4h' (or use duration_hours)")
            data["duration_hours"] = parse_seconds(duration, part="duration") / 3600
        return data


class QualityGate(SpecModel):
    """A score a completed task must reach before dependants start and its phase ends.

    Attributes:
        min_score: Lowest passing score (compared as given: 0..1 or 0..100).
        timeout: How long after completion a passing score may take to arrive when no task
            waits on this one (waiting dependants use their own timeouts).
    """

    min_score: NonNegativeFloat
    timeout: Duration | None = None


class TaskDependency(SpecModel):
    """One dependency of a task: a task id or an external dependency name.

    The integration guide's form is accepted too: ``target`` for the id, ``type`` (informative),
    ``timeout`` in seconds, and ``metadata.threshold`` for a quality gate the dependant
    asks for itself.
    """

    task_id: Identifier = Field(validation_alias=AliasChoices("task_id", "target"))
    timeout: Duration | NonNegativeFloat | None = None
    min_score: NonNegativeFloat | None = None
    dependency_id: str | None = None
    type: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"task_id": data}
        if isinstance(data, dict) and data.get("min_score") is None:
            threshold = (data.get("metadata") or {}).get("threshold")
            if threshold is not None:
                return {**data, "min_score": threshold}
        return data


class TaskSpec(SpecModel):
    """One task of the DAG.

    Attributes:
        task_id: Unique within the workflow.
        phase: Phase the task belongs to (default: the first phase).
        role: Role of the agent it needs (default: the phase name).
        dependencies: Tasks (or external dependencies) that must finish first.
        quality_gate: Score the task's result must reach.
        timeout: Longest wait for each dependency.
        execution_timeout: Longest time from assignment to result (then a failure).
        max_retries: Retries a ``retry`` rule may grant (attempts = retries + 1).
        estimated_duration: For assignments and estimates (default: the phase's share).
        description: What the agent is asked to do.
        inputs: Data handed to the agent with the assignment.
    """

    task_id: Identifier
    phase: Identifier | None = None
    role: str | None = None
    dependencies: list[TaskDependency] = Field(default_factory=list)
    quality_gate: QualityGate | None = None
    timeout: Duration | None = None
    execution_timeout: Duration | None = None
    max_retries: NonNegativeInt = 3
    estimated_duration: Duration | None = None
    description: str = ""
    inputs: dict[str, Any] = Field(default_factory=dict)

    def dependency_ids(self) -> list[str]:
        """Ids of the dependencies, in order."""
        return [dep.task_id for dep in self.dependencies]


class ExternalDependencySpec(SpecModel):
    """A prerequisite outside the workflow.

    Attributes:
        name: Name given in ``DEPENDENCY_SATISFIED`` data (``dependency``).
        event_type: Another event type that satisfies it (informative for the runner).
        event_pattern: Routing pattern of events that satisfy it (informative).
        timeout: Longest wait, counted from the workflow's creation.
    """

    name: Identifier
    event_type: str | None = None
    event_pattern: str | None = None
    timeout: Duration | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data
