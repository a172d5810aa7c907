"""``baton progress-aggregator``: the system-wide progress helper command."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from baton.cli.analyses import (
    SECTIONS,
    lessons_learned,
    recovery_summary,
    system_report,
    track_workflows,
)
from baton.cli.common import emit, fail, helper_app
from baton.cli.jsonin import json_arg, json_object
from baton.cli.progress import bars
from baton.cli.remote import Session, read_reply, remote
from baton.errors import ProtocolError, RemoteError
from baton.protocol.commands import (
    CommandRequest,
    RecoveryCommand,
    StatusCommand,
    reply_data,
    request_data,
)
from baton.protocol.commands.replies import (
    AnalyzeFailureReply,
    ListStatusReply,
    SystemOverviewReply,
    WorkflowStatusReply,
)
from baton.protocol.commands.requests import WorkflowStatusRequest
from baton.protocol.fields import TERMINAL_STATUSES

__all__ = ["app"]

app = helper_app(help="System-wide progress (the progress-aggregator helper command).")

Timeout = Annotated[float, typer.Option(help="Seconds to wait for an answer (exit 124).")]
Pretty = Annotated[bool, typer.Option("--pretty", help="Tables instead of JSON.")]
_TERMINAL = TERMINAL_STATUSES


async def _overview(s: Session) -> dict[str, Any]:
    got = await s.ask(
        service="status",
        event_type=StatusCommand.OVERVIEW,
        workflow_id="global",
        data=request_data(CommandRequest()),
    )
    read_reply(SystemOverviewReply, got, service="status")  # refused when it does not fit
    return got


@app.command("system-overview")
def system_overview(
    include_conflicts: Annotated[
        bool, typer.Option("--include-conflicts", help="List resource conflicts.")
    ] = False,
    resource_analysis: Annotated[
        bool, typer.Option("--resource-analysis", help="Pool use and bottlenecks.")
    ] = False,
    pretty: Pretty = False,
    as_json: Annotated[bool, typer.Option("--json", hidden=True)] = True,
    timeout: Timeout = 30.0,
) -> None:
    """Active and queued workflows, conflicts, resource use, bottlenecks, alerts."""
    view: dict[str, Any] = remote(_overview, timeout=timeout, label="system overview", output=False)
    if not include_conflicts:
        view.pop("conflicts", None)
    if not resource_analysis:
        view.pop("resources", None)
        view.pop("bottlenecks", None)
    if not pretty:
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
    for name, pool in (view.get("resources") or {}).items():
        console.print(
            f"{name:<24} {pool['used']:g}/{pool['capacity']:g} ({pool['utilisation']:.0f} %)"
        )
    for b in view.get("bottlenecks") or []:
        console.print(f"bottleneck {b['kind']} {b['name']}: {b['detail']}")
    for c in view.get("conflicts") or []:
        console.print(f"conflict {c}")


@app.command("track-workflows")
def track(
    workflows: Annotated[
        str,
        typer.Argument(help='[{"workflow_id": "...", "weight": "high", "critical_path": true}]'),
    ],
    follow: Annotated[
        bool, typer.Option("--follow", help="Progress bars (stderr) until all have ended.")
    ] = False,
    timeout: Timeout = 30.0,
) -> None:
    """Weighted progress of several workflows, the critical path's slowest, and estimates."""
    tracked = json_arg(workflows, what="workflows").value
    if not isinstance(tracked, list) or not all(
        isinstance(t, dict) and isinstance(t.get("workflow_id"), str) for t in tracked
    ):
        raise fail(ProtocolError("must be a JSON list of {workflow_id, ...}", part="workflows"))

    wanted = list(dict.fromkeys(t["workflow_id"] for t in tracked))

    async def snapshot(s: Session) -> dict[str, Any]:
        by_id: dict[str, Any] = {}
        # The listing's query is the status service's own model, which checks these fields.
        query = CommandRequest(workflow_ids=wanted, limit=max(1, len(wanted)))
        while True:  # the service returns at most its list limit a page
            got = await s.ask(
                service="status",
                event_type=StatusCommand.LIST,
                workflow_id="global",
                data=request_data(query),
            )
            listed = read_reply(ListStatusReply, got, service="status")
            by_id.update((w["workflow_id"], w) for w in listed.workflows)
            if not listed.next_cursor:
                break
            query = query.model_copy(update={"cursor": listed.next_cursor})
        return track_workflows(
            tracked, {t["workflow_id"]: by_id.get(t["workflow_id"]) for t in tracked}
        )

    async def work(s: Session) -> dict[str, Any]:
        result = await snapshot(s)
        if not follow:
            return result
        with bars() as progress:
            tasks = {
                r["workflow_id"]: progress.add_task(r["workflow_id"], total=100)
                for r in result["workflows"]
            }
            while any(r["status"] not in _TERMINAL for r in result["workflows"]):
                for r in result["workflows"]:
                    progress.update(tasks[r["workflow_id"]], completed=r["progress"])
                await asyncio.sleep(0.5)
                result = await snapshot(s)
        return result

    remote(work, timeout=timeout, label="tracking workflows")


@app.command("system-report")
def report(
    spec: Annotated[str, typer.Argument(help='{"include": ["progress", "resources", ...]}')] = "{}",
    timeout: Timeout = 30.0,
) -> None:
    """The sections asked for: progress, resources, predictions, bottlenecks, conflicts,
    alerts (all when none are named)."""
    data, _ = json_object(spec, what="report")
    include = data.get("include") or list(SECTIONS)
    unknown = [name for name in include if name not in SECTIONS]
    if unknown:
        raise fail(
            ProtocolError(
                f"unknown sections {unknown}; known: {', '.join(SECTIONS)}", part="report.include"
            )
        )

    async def work(s: Session) -> dict[str, Any]:
        overview = await _overview(s)
        return {"at": overview.get("at"), **system_report(overview, include=include)}

    remote(work, timeout=timeout, label="system report")


@app.command("recovery-analysis")
def recovery_analysis(
    workflow_id: Annotated[str, typer.Argument(help="The workflow that failed.")],
    spec: Annotated[
        str,
        typer.Argument(
            help='{"track_recovery_time", "impact_on_other_workflows", "learning_for_prevention"}'
        ),
    ] = "{}",
    timeout: Timeout = 30.0,
) -> None:
    """How a workflow's recovery goes: errors, decisions, recovery time; optionally the
    other workflows' state (impact) and lessons for prevention."""
    data, _ = json_object(spec, what="analysis")

    async def work(s: Session) -> dict[str, Any]:
        got = await s.ask(
            service="recovery",
            event_type=RecoveryCommand.ANALYZE_FAILURE,
            workflow_id=workflow_id,
            data=request_data(CommandRequest()),
        )
        analysis = read_reply(AnalyzeFailureReply, got, service="recovery")
        try:
            found = await s.ask(
                service="status",
                event_type=StatusCommand.WORKFLOW,
                workflow_id=workflow_id,
                data=request_data(WorkflowStatusRequest(detailed=True)),
            )
            status = reply_data(read_reply(WorkflowStatusReply, found, service="status"))
        except RemoteError:
            status = {"workflow_id": workflow_id, "status": "UNKNOWN"}
        result = recovery_summary(status=status, analysis=analysis.model_dump(mode="json"))
        if not data.get("track_recovery_time", True):
            result.pop("recovery_time_s", None)
        if data.get("impact_on_other_workflows", True):
            overview = read_reply(SystemOverviewReply, await _overview(s), service="status")
            others = [w for w in overview.active if w["workflow_id"] != workflow_id]
            result["other_workflows"] = {
                "active": len(others),
                "queued": [q["workflow_id"] for q in overview.queue],
                "alerts": [a for a in overview.alerts if a["workflow_id"] == workflow_id],
            }
        if data.get("learning_for_prevention", False):
            result["lessons_learned"] = lessons_learned(analysis.reports)
        return result

    remote(work, timeout=timeout, label=f"{workflow_id}: recovery analysis")
