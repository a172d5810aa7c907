"""``baton workflow-status``: the workflow-status helper command (one workflow)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from baton.cli.analyses import lessons_learned, recovery_summary
from baton.cli.common import EXIT_CODES_HELP, fail
from baton.cli.progress import bars
from baton.cli.remote import Session, read_reply, remote
from baton.cli.subscribe import parse_kinds, subscribe
from baton.errors import ProtocolError
from baton.protocol.commands import CommandRequest, RecoveryCommand, StatusCommand, request_data
from baton.protocol.commands.replies import AnalyzeFailureReply, WorkflowStatusReply
from baton.protocol.commands.requests import WorkflowStatusRequest
from baton.protocol.fields import TERMINAL_STATUSES

__all__ = ["workflow_status"]

_TERMINAL = TERMINAL_STATUSES


def workflow_status(
    workflow_id: Annotated[str, typer.Argument(help="The workflow.")],
    extra: Annotated[
        list[str] | None,
        typer.Argument(help="(The shell's pieces of a split --events list.)", hidden=True),
    ] = None,
    detailed: Annotated[
        bool, typer.Option("--detailed", help="Phases, tasks, agents, timeline.")
    ] = False,
    include_dependencies: Annotated[
        bool, typer.Option("--include-dependencies", help="Task and external dependencies.")
    ] = False,
    recovery_report: Annotated[
        bool,
        typer.Option(
            "--recovery-report",
            help="Add workflow-recovery's view: errors, decisions, recovery time, checkpoints.",
        ),
    ] = False,
    lessons_learned_flag: Annotated[
        bool,
        typer.Option(
            "--lessons-learned", help="With --recovery-report: what failed how often, and why."
        ),
    ] = False,
    follow: Annotated[
        bool, typer.Option("--follow", help="Progress bar (stderr) until it ends.")
    ] = False,
    subscribe_flag: Annotated[
        bool,
        typer.Option(
            "--subscribe", help="Print the workflow's events as they come, one JSON per line."
        ),
    ] = False,
    events: Annotated[
        str,
        typer.Option(help='--subscribe: kinds, e.g. \'["state_change","checkpoint","error"]\'.'),
    ] = "all",
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="--subscribe: replay past events first.")
    ] = False,
    max_events: Annotated[
        int | None, typer.Option("--max", help="--subscribe: stop after N events.")
    ] = None,
    pretty: Annotated[bool, typer.Option("--pretty", help="Tables instead of JSON.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", hidden=True, help="JSON (the default).")
    ] = True,
    timeout: Annotated[
        float | None,
        typer.Option(
            help="Seconds to wait for an answer (default 30; exit 124). With --subscribe: "
            "how long to follow (default: until the workflow ends)."
        ),
    ] = None,
) -> None:
    """Where a workflow stands: status, progress, phase, estimate (JSON on stdout)."""
    if subscribe_flag:
        try:
            kinds = parse_kinds([events, *(extra or [])])
        except ProtocolError as exc:
            raise fail(exc) from None
        subscribe(
            workflow_id,
            kinds=kinds,
            from_beginning=from_beginning,
            max_events=max_events,
            timeout=timeout,
        )
        return
    if extra:
        raise fail(ProtocolError(f"unexpected arguments {extra}", part="args"))
    data = request_data(
        WorkflowStatusRequest(
            detailed=detailed or recovery_report, include_dependencies=include_dependencies
        )
    )

    async def ask(s: Session) -> tuple[dict[str, Any], WorkflowStatusReply]:
        """The reply as it came (printed as it is) and read through its model."""
        got = await s.ask(
            service="status", event_type=StatusCommand.WORKFLOW, workflow_id=workflow_id, data=data
        )
        return got, read_reply(WorkflowStatusReply, got, service="status")

    async def work(s: Session) -> dict[str, Any]:
        state, view = await ask(s)
        if follow:
            with bars() as progress:
                task = progress.add_task(workflow_id, total=100)
                while view.status not in _TERMINAL:
                    progress.update(
                        task,
                        completed=view.progress,
                        description=f"{workflow_id} {view.status} {view.current_phase or ''}",
                    )
                    await asyncio.sleep(0.5)
                    state, view = await ask(s)
                progress.update(task, completed=view.progress)
        if recovery_report:
            got = await s.ask(
                service="recovery",
                event_type=RecoveryCommand.ANALYZE_FAILURE,
                workflow_id=workflow_id,
                data=request_data(CommandRequest()),
            )
            analysis = read_reply(AnalyzeFailureReply, got, service="recovery")
            report = recovery_summary(status=state, analysis=analysis.model_dump(mode="json"))
            if lessons_learned_flag:
                report["lessons_learned"] = lessons_learned(analysis.reports)
            state["recovery_report"] = report
            if not detailed:
                for key in ("phases", "tasks", "agents", "timeline", "critical_path"):
                    state.pop(key, None)
        return state

    state = remote(work, timeout=timeout or 30.0, label=f"{workflow_id}: status", output=not pretty)
    if pretty:
        _print(state, detailed=detailed, include_dependencies=include_dependencies)


workflow_status.__doc__ = f"{workflow_status.__doc__} {EXIT_CODES_HELP}"


def _print(state: dict[str, Any], *, detailed: bool, include_dependencies: bool) -> None:
    console = Console()
    estimate = state.get("estimate") or {}
    console.print(
        f"[bold]{state['workflow_id']}[/] {state['status']}  {state['progress']:.1f} %  "
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
    if "recovery_report" in state:
        console.print_json(data=state["recovery_report"])
