"""``baton workflow-status`` and ``baton progress-aggregator``: seed 002's status helpers."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from baton.bus import Bus
from baton.cli.common import EXIT_CODES_HELP, emit, run, settings
from baton.protocol.event import Event

__all__ = ["progress_app", "workflow_status"]

JsonFlag = Annotated[bool, typer.Option("--json", help="JSON output for scripts.")]
Timeout = Annotated[float, typer.Option(help="Seconds to wait for an answer (exit 124).")]
_TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}


async def _ask(
    bus: Bus, event_type: str, workflow_id: str, data: dict[str, Any], timeout: float
) -> dict[str, Any]:
    reply = await bus.request(
        Event(event_type=event_type, workflow_id=workflow_id, phase="cli", data=data),
        service="status",
        timeout=timeout,
    )
    return reply.data


def workflow_status(
    workflow_id: Annotated[str, typer.Argument(help="The workflow.")],
    detailed: Annotated[
        bool, typer.Option("--detailed", help="Phases, tasks, agents, timeline.")
    ] = False,
    include_dependencies: Annotated[
        bool, typer.Option("--include-dependencies", help="Task and external dependencies.")
    ] = False,
    follow: Annotated[
        bool, typer.Option("--follow", help="Show live progress until it ends.")
    ] = False,
    as_json: JsonFlag = False,
    timeout: Timeout = 30.0,
) -> None:
    """Where a workflow stands: status, progress, phase, estimate (seed 002's workflow-status)."""
    config = settings()
    data = {"detailed": detailed, "include_dependencies": include_dependencies}

    async def main() -> dict[str, Any]:
        async with Bus(settings=config) as bus:
            state = await _ask(bus, "WORKFLOW_STATUS", workflow_id, data, timeout)
            if not follow:
                return state
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>5.1f} %"),
                disable=as_json,
            ) as bar:
                task = bar.add_task(workflow_id, total=100)
                while state["status"] not in _TERMINAL:
                    bar.update(
                        task,
                        completed=state["progress"],
                        description=f"{workflow_id} {state['status']} "
                        f"{state.get('current_phase') or ''}",
                    )
                    await asyncio.sleep(0.5)
                    state = await _ask(bus, "WORKFLOW_STATUS", workflow_id, data, timeout)
                bar.update(
                    task,
                    completed=state["progress"],
                    description=f"{workflow_id} {state['status']}",
                )
            return state

    state = run(main)
    if as_json:
        emit(state)
        return
    console = Console()
    estimate = state.get("estimate") or {}
    console.print(
        f"[bold]{workflow_id}[/] {state['status']}  {state['progress']:.1f} %  "
        f"phase {state.get('current_phase')}  "
        f"ETA {estimate.get('completion_at') or '-'} "
        f"(confidence {estimate.get('confidence', 0):.2f})"
    )
    if detailed:
        table = Table("phase", "status", "progress", "duration")
        for phase in state.get("phases", []):
            table.add_row(
                phase["name"],
                phase["status"],
                f"{phase['progress']:.0f} %",
                f"{phase['duration_s'] or 0:.1f}s",
            )
        console.print(table)
    if include_dependencies:
        console.print_json(data=state.get("dependencies", {}))


progress_app = typer.Typer(
    help=f"System-wide progress (seed 002's progress-aggregator). {EXIT_CODES_HELP}",
    no_args_is_help=True,
)


@progress_app.command("system-overview")
def system_overview(
    include_conflicts: Annotated[
        bool, typer.Option("--include-conflicts", help="List resource conflicts.")
    ] = False,
    resource_analysis: Annotated[
        bool, typer.Option("--resource-analysis", help="Pool use and bottlenecks.")
    ] = False,
    as_json: JsonFlag = False,
    timeout: Timeout = 30.0,
) -> None:
    """Active and queued workflows, conflicts, resource use, bottlenecks, alerts."""
    config = settings()

    async def main() -> dict[str, Any]:
        async with Bus(settings=config) as bus:
            return await _ask(bus, "SYSTEM_OVERVIEW", "global", {}, timeout)

    view = run(main)
    if not include_conflicts:
        view.pop("conflicts", None)
    if not resource_analysis:
        view.pop("resources", None)
        view.pop("bottlenecks", None)
    if as_json:
        emit(view)
        return
    console = Console()
    console.print("Workflows: " + ", ".join(f"{k} {v}" for k, v in view.get("counts", {}).items()))
    table = Table("workflow", "status", "progress", "phase", "ETA")
    for w in view.get("active", []):
        table.add_row(
            w["workflow_id"],
            w["status"],
            f"{w['progress']:.0f} %",
            str(w.get("current_phase") or ""),
            str((w.get("estimate") or {}).get("completion_at") or ""),
        )
    console.print(table)
    if view.get("queue"):
        console.print(
            "Queue: " + ", ".join(f"{q['position']}. {q['workflow_id']}" for q in view["queue"])
        )
    for name, pool in (view.get("resources") or {}).items():
        console.print(
            f"{name:<24} {pool['used']:g}/{pool['capacity']:g} ({pool['utilisation']:.0f} %)"
        )
    for b in view.get("bottlenecks") or []:
        console.print(f"bottleneck {b['kind']} {b['name']}: {b['detail']}")
    for c in view.get("conflicts") or []:
        console.print(f"conflict {c}")


@progress_app.callback()
def _group() -> None:
    """System-wide progress (seed 002's progress-aggregator)."""
