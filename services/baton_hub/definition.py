"""Workflow definitions: ``create-workflow`` JSON and a DAG of tasks.

The helper's form (``workflow_id``, ``name``, ``priority``, ``phases``,
``resource_requirements``, ``dependencies``) is accepted as written. On top of it:

- ``tasks``: a DAG of tasks, each in a phase, with a role, task dependencies, an optional
  quality gate, timeouts and a retry budget. A phase without explicit tasks gets one task
  named after the phase whose role is the phase name. Without ``phases``, the phases are
  the tasks' phases in order of first appearance (``main`` when no task names one); a task
  without a phase belongs to the first phase.
- ``rules``: conditional routing rules (:mod:`baton_hub.rules`).
- ``dependencies`` (e.g. ``database_migration``) and ``external_dependencies``:
  prerequisites outside the workflow, satisfied by a ``DEPENDENCY_SATISFIED`` event. They
  do not hold the start back unless ``block_on_dependencies`` is true; a task may also
  list one among its ``dependencies`` and then waits for it.

Timeouts: a task waits for each dependency at most the dependency's own ``timeout``, else the
task's ``timeout``, else (external) the external dependency's ``timeout``, else the
definition's ``dependency_timeout``, else the workflow's planned duration (``duration`` of
``resource_requirements``, 1h by default). The clock starts when the task starts waiting:
when its phase starts, or again when a rule retries the wait. An external dependency's own
``timeout`` (from creation) ends the waits under way when it passes. A timed-out wait is a
``dependency_timeout`` failure for the rules; with no rule the task and the workflow fail.

Checks, each naming the field: unique task ids, known phases, known dependencies, no
dependency on a task of a later phase, no cycle (named as ``a -> b -> a``, read "depends on").
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, PositiveInt, field_validator, model_validator

from baton.protocol.fields import workflow_type_of
from baton.protocol.invalid import field_error
from baton.protocol.messages.base import Duration, Identifier, Priority
from baton_hub.dag import find_cycle
from baton_hub.rules import ConditionalRule
from baton_hub.specs import (
    ExternalDependencySpec,
    QualityGate,
    ResourceRequirements,
    SpecModel,
    TaskDependency,
    TaskSpec,
)
from baton_hub.units import parse_seconds

__all__ = [
    "ExternalDependencySpec",
    "QualityGate",
    "ResourceRequirements",
    "TaskDependency",
    "TaskSpec",
    "WorkflowDefinition",
]

_DEFAULT_PHASE = "main"


class WorkflowDefinition(SpecModel):
    """A workflow as submitted to the hub (normalised on validation; see the module doc)."""

    workflow_id: Identifier
    name: str = ""
    workflow_type: Identifier | None = None
    """Kind of workflow (``feature_development``); completion estimates learn per type.
    Unset: the workflow id without its trailing number (``feature_dev_001`` →
    ``feature_dev``)."""
    priority: Priority = "medium"
    phases: list[Identifier] = Field(default_factory=list)
    tasks: list[TaskSpec] = Field(default_factory=list)
    resource_requirements: ResourceRequirements = Field(default_factory=ResourceRequirements)
    dependencies: list[Identifier] = Field(default_factory=list)
    """The helper's external prerequisites (names); merged into ``external_dependencies``."""
    external_dependencies: list[ExternalDependencySpec] = Field(default_factory=list)
    block_on_dependencies: bool = False
    """Hold the start back (SCHEDULED) until every external dependency is satisfied."""
    rules: list[ConditionalRule] = Field(default_factory=list)
    auto_advance: bool = True
    """Start each phase when the previous one completes (else wait for ``start-phase``)."""
    max_tasks_per_agent: PositiveInt = 1
    """Tasks one agent holds at a time (a ``parallelize`` decision may exceed it)."""
    dependency_timeout: Duration | None = None
    """Default longest wait for a dependency (else the planned duration)."""
    signal_history_limit: PositiveInt = 1000
    """Signals kept in the history."""
    state_sync: dict[str, Any] | None = None
    """The helper's state-sync options, kept for the runner."""
    monitoring: dict[str, Any] | None = None
    """The helper's monitoring options, kept for the runner."""
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("phases")
    @classmethod
    def _unique_phases(cls, phases: list[str]) -> list[str]:
        seen: set[str] = set()
        for name in phases:
            if name in seen:
                raise ValueError(f"phase {name!r} is listed twice")
            seen.add(name)
        return phases

    @model_validator(mode="after")
    def _default_type(self) -> WorkflowDefinition:
        if self.workflow_type is None:
            object.__setattr__(self, "workflow_type", workflow_type_of(self.workflow_id))
        return self

    @model_validator(mode="after")
    def _normalise(self) -> WorkflowDefinition:
        if not self.phases:
            named = [t.phase for t in self.tasks if t.phase is not None]
            self.phases = list(dict.fromkeys(named)) or [_DEFAULT_PHASE]
        for index, task in enumerate(self.tasks):
            if task.phase is None:
                task.phase = self.phases[0]
            elif task.phase not in self.phases:
                raise field_error(
                    f"tasks[{index}].phase",
                    f"unknown phase {task.phase!r} (phases: {', '.join(self.phases)})",
                )
            if task.role is None:
                task.role = task.phase
        self._add_phase_tasks()
        self._merge_external()
        self._check_graph()
        return self

    def _add_phase_tasks(self) -> None:
        with_tasks = {t.phase for t in self.tasks}
        ids = {t.task_id for t in self.tasks}
        for phase in self.phases:
            if phase in with_tasks:
                continue
            if phase in ids:
                raise field_error(
                    "tasks",
                    f"task id {phase!r} collides with the task generated for phase "
                    f"{phase!r} (a phase without tasks gets one task named after it)",
                )
            self.tasks.append(TaskSpec(task_id=phase, phase=phase, role=phase))
        order = {name: i for i, name in enumerate(self.phases)}
        # Stable sort: phase order first, definition order within a phase.
        self.tasks.sort(key=lambda t: order[t.phase or self.phases[0]])

    def _merge_external(self) -> None:
        declared = {d.name for d in self.external_dependencies}
        for name in self.dependencies:
            if name not in declared:
                self.external_dependencies.append(ExternalDependencySpec(name=name))
                declared.add(name)
        if len(declared) != len(self.external_dependencies):
            raise field_error("external_dependencies", "a name is declared twice")

    def _check_graph(self) -> None:
        phase_of: dict[str, str] = {}
        for index, task in enumerate(self.tasks):
            if task.task_id in phase_of:
                raise field_error(f"tasks[{index}].task_id", f"duplicate task id {task.task_id!r}")
            phase_of[task.task_id] = task.phase or ""
        external = {d.name for d in self.external_dependencies}
        clash = sorted(external & phase_of.keys())
        if clash:
            raise field_error("external_dependencies", f"{clash[0]!r} is also a task id")
        order = {name: i for i, name in enumerate(self.phases)}
        for index, task in enumerate(self.tasks):
            ids = task.dependency_ids()
            where, of = f"tasks[{index}].dependencies", f"(task {task.task_id!r})"
            for dep in ids:
                if ids.count(dep) > 1:
                    raise field_error(where, f"{dep!r} is listed twice {of}")
                if dep in external:
                    continue
                if dep not in phase_of:
                    raise field_error(
                        where,
                        f"unknown dependency {dep!r}, neither a task id nor an external "
                        f"dependency {of}",
                    )
                if order[phase_of[dep]] > order[phase_of[task.task_id]]:
                    raise field_error(
                        where, f"{dep!r} belongs to the later phase {phase_of[dep]!r} {of}"
                    )
        cycle = find_cycle({t.task_id: t.dependency_ids() for t in self.tasks})
        if cycle is not None:
            raise field_error(
                "tasks",
                f"dependency cycle {' -> '.join(cycle)} (a task cannot wait on itself)",
            )

    # Lookups. Definitions hold tens of tasks, so linear scans keep the model plain data.

    def task(self, task_id: str) -> TaskSpec | None:
        """The :class:`TaskSpec` of ``task_id``, or None."""
        return next((t for t in self.tasks if t.task_id == task_id), None)

    def tasks_in_phase(self, phase: str) -> list[TaskSpec]:
        """Specs of the tasks of ``phase``, in definition order."""
        return [t for t in self.tasks if t.phase == phase]

    def dependants(self, task_id: str) -> list[str]:
        """Ids of the tasks that list ``task_id`` as a dependency."""
        return [t.task_id for t in self.tasks if task_id in t.dependency_ids()]

    def external(self, name: str) -> ExternalDependencySpec | None:
        """The external dependency ``name``, or None."""
        return next((d for d in self.external_dependencies if d.name == name), None)

    def planned_seconds(self) -> float:
        """Planned duration of the whole workflow, in seconds."""
        return self.resource_requirements.duration_hours * 3600

    def phase_seconds(self) -> float:
        """Planned duration of one phase: an equal share of the workflow's."""
        return self.planned_seconds() / len(self.phases)

    def task_seconds(self, task: TaskSpec) -> float:
        """Estimated duration of ``task``."""
        if task.estimated_duration is not None:
            return parse_seconds(task.estimated_duration)
        return self.phase_seconds()

    def wait_seconds(self, task: TaskSpec, dependency: TaskDependency) -> float:
        """Longest time ``task`` waits for ``dependency`` (see the module doc)."""
        external = self.external(dependency.task_id)
        for value in (
            dependency.timeout,
            task.timeout,
            external.timeout if external else None,
            self.dependency_timeout,
        ):
            if value is not None:
                return parse_seconds(value)
        return self.planned_seconds()

    def gate_threshold(self, dependency: TaskDependency) -> float | None:
        """Score ``dependency`` must reach for the dependant: its own ask, else the gate's."""
        if dependency.min_score is not None:
            return dependency.min_score
        target = self.task(dependency.task_id)
        gate = target.quality_gate if target else None
        return gate.min_score if gate else None

    def to_allocation_request_fields(self) -> dict[str, Any]:
        """The ``resources`` and ``priority`` of a protocol allocation request."""
        res = self.resource_requirements
        return {
            "agents": res.agents,
            "memory_gb": res.memory_gb,
            "cpu_cores": res.cpu_cores,
            "duration_hours": res.duration_hours,
            "exclusive_files": list(res.exclusive_files),
            "tool_instances": dict(res.tool_instances),
            "priority": self.priority,
        }
