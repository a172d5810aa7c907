"""A new :class:`~baton_status.views.WorkflowView` from the data of ``WORKFLOW_CREATED``.

The hub sends the whole normalised definition (``workflow_definition``); this module reads it
the way the hub wrote it, but leniently, since the status service only observes: a field of
the wrong type is ignored, never an error. A ``WORKFLOW_CREATED`` without a definition (the
protocol's example lines carry only ``priority`` and ``resources``) still makes a view; its phases
and tasks are then learned from the phase and task events that follow.

Defaults follow the hub's (:mod:`baton_hub.definition`): the workflow type is the id without
its trailing number; phases come from the tasks when not listed; a phase without tasks has
one task named after it; a task's expected duration is its ``estimated_duration``, else an
equal share of the workflow's planned duration per phase (``resource_requirements``
``duration_hours``, else the event's ``estimated_duration``, else 1 h).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from baton.protocol.event import Event
from baton.protocol.fields import number, seconds, text, workflow_type_of
from baton_status.views import ExternalRecord, PhaseRecord, TaskRecord, WorkflowView, utc

__all__ = [
    "add_phase",
    "add_task",
    "new_view",
    "strings",
]

_DEFAULT_PLANNED_S: Final = 3600.0
_DEFAULT_PHASE: Final = "main"


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def strings(value: Any) -> list[str]:
    """The non-empty strings of a list (anything else: none), first occurrences only."""
    return list(dict.fromkeys(v for v in _list(value) if isinstance(v, str) and v))


def _planned(definition: dict[str, Any], data: dict[str, Any]) -> float:
    req = _dict(definition.get("resource_requirements"))
    hours = number(req.get("duration_hours"))
    if hours is not None and hours > 0:
        return hours * 3600
    for value in (req.get("duration"), data.get("estimated_duration")):
        found = seconds(value)
        if found:
            return found
    return _DEFAULT_PLANNED_S


def _dependency(raw: Any) -> tuple[str, float | None] | None:
    """Target and the score it must reach, from ``"id"`` or ``{task_id|target, min_score}``."""
    if isinstance(raw, str):
        return raw, None
    item = _dict(raw)
    target = item.get("task_id") or item.get("target")
    if not isinstance(target, str):
        return None
    score = number(item.get("min_score"))
    if score is None:
        score = number(_dict(item.get("metadata")).get("threshold"))
    return target, score


def _task(raw: dict[str, Any], *, phase: str, share: float) -> TaskRecord:
    deps: list[str] = []
    asks: dict[str, float] = {}
    for item in _list(raw.get("dependencies")):
        found = _dependency(item)
        if found is None or found[0] in deps:
            continue
        deps.append(found[0])
        if found[1] is not None:
            asks[found[0]] = found[1]
    explicit = seconds(raw.get("estimated_duration"))
    role = raw.get("role")
    return TaskRecord(
        task_id=raw["task_id"],
        phase=phase,
        role=role if isinstance(role, str) else phase,
        dependencies=deps,
        min_scores=asks,
        gate=number(_dict(raw.get("quality_gate")).get("min_score")),
        estimated_s=explicit if explicit is not None else share,
        explicit_estimate=explicit is not None,
    )


def _external(definition: dict[str, Any]) -> dict[str, ExternalRecord]:
    names: list[str] = []
    for item in [
        *_list(definition.get("external_dependencies")),
        *_list(definition.get("dependencies")),
    ]:
        name = item if isinstance(item, str) else _dict(item).get("name")
        if isinstance(name, str) and name not in names:
            names.append(name)
    return {name: ExternalRecord() for name in names}


def new_view(event: Event) -> WorkflowView:
    """The view of a workflow just created (see the module doc)."""
    data = event.data
    definition = _dict(data.get("workflow_definition")) or data
    moment = utc(event.timestamp)
    wtype = definition.get("workflow_type")
    name = definition.get("name")
    priority = data.get("priority") or definition.get("priority")
    view = WorkflowView(
        workflow_id=event.workflow_id,
        name=name if isinstance(name, str) else "",
        workflow_type=wtype
        if isinstance(wtype, str) and wtype
        else workflow_type_of(event.workflow_id),
        priority=priority if isinstance(priority, str) else "medium",
        planned_s=_planned(definition, data),
        resources=_dict(data.get("resources")) or _dict(definition.get("resource_requirements")),
        external=_external(definition),
        created_at=moment,
        updated_at=moment,
    )
    raw_tasks = [t for t in map(_dict, _list(definition.get("tasks"))) if text(t.get("task_id"))]
    phases = strings(definition.get("phases"))  # first occurrences: a repeat is no new phase
    if not phases:
        named = [t["phase"] for t in raw_tasks if isinstance(t.get("phase"), str)]
        phases = list(dict.fromkeys(named)) or ([_DEFAULT_PHASE] if raw_tasks else [])
    if not phases:
        return view
    share = view.planned_s / len(phases)
    for phase_name in phases:
        add_phase(view, phase_name).planned_s = share
    for raw in raw_tasks:
        phase = raw.get("phase")
        phase = phase if isinstance(phase, str) and phase in phases else phases[0]
        if raw["task_id"] not in view.tasks:
            view.tasks[raw["task_id"]] = _task(raw, phase=phase, share=share)
    for record in view.phases:
        has_tasks = any(t.phase == record.name for t in view.tasks.values())
        if not has_tasks and record.name not in view.tasks:
            view.tasks[record.name] = _task(
                {"task_id": record.name}, phase=record.name, share=share
            )
    # Phase order first, definition order within a phase (as the hub orders them).
    order = {phase_name: i for i, phase_name in enumerate(phases)}
    view.tasks = dict(sorted(view.tasks.items(), key=lambda item: order[item[1].phase]))
    for task in view.tasks.values():
        view.phases[order[task.phase]].tasks.append(task.task_id)
        for dep in task.dependencies:
            target = view.tasks.get(dep)
            if target is not None and target.gate is not None:
                task.min_scores.setdefault(dep, target.gate)
    return view


def add_phase(view: WorkflowView, name: str) -> PhaseRecord:
    """The phase called ``name``, appended when the definition did not name it."""
    index = view.phase_index(name)
    if index is not None:
        return view.phases[index]
    record = PhaseRecord(name=name, number=len(view.phases) + 1)
    view.phases.append(record)
    return record


def add_task(view: WorkflowView, task_id: str, *, phase: str, role: Any = None) -> TaskRecord:
    """The task ``task_id``, added when the definition did not list it.

    It joins ``phase``, or the current phase when the event names no phase (``global``).
    """
    task = view.tasks.get(task_id)
    if task is not None:
        return task
    if phase == "global":
        phase = view.phase.name if view.phase is not None else _DEFAULT_PHASE
    record = add_phase(view, phase)
    task = TaskRecord(
        task_id=task_id,
        phase=record.name,
        role=role if isinstance(role, str) else None,
        estimated_s=record.planned_s or view.planned_s / max(1, len(view.phases)),
    )
    view.tasks[task_id] = task
    record.tasks.append(task_id)
    return task
