"""``baton performance-monitor``: the performance-monitor helper command."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from baton.cli.analyses import allocation_efficiency, recovery_summary
from baton.cli.common import helper_app
from baton.cli.remote import Session, call, read_reply, remote
from baton.errors import RemoteError
from baton.protocol.commands import (
    CommandRequest,
    MonitorCommand,
    RecoveryCommand,
    StatusCommand,
    reply_data,
    request_data,
)
from baton.protocol.commands.replies import (
    AnalyzeFailureReply,
    MonitorReportReply,
    WorkflowStatusReply,
)
from baton.protocol.commands.requests import MonitorReportRequest, WorkflowStatusRequest

app = helper_app(help="Metrics, component health, efficiency and benchmarks.")

Timeout = Annotated[float, typer.Option(help="Seconds to wait for an answer (exit 124).")]
JsonFlag = Annotated[bool, typer.Option("--json", hidden=True, help="JSON output (the default).")]
Workflow = Annotated[str, typer.Argument(help="Workflow id.")]


@app.command()
def report(
    workflow: Annotated[str | None, typer.Option(help="Only this workflow's metrics.")] = None,
    as_json: JsonFlag = True,
    timeout: Timeout = 30.0,
) -> None:
    """Windowed throughput, latency and duration percentiles (p50/p95/p99), error rates, lag.

    With --workflow: that workflow's whole-life metrics (``allocation-efficiency``,
    ``performance-monitor WF --track-state``)."""
    call(
        service="monitor",
        event_type=MonitorCommand.REPORT,
        workflow_id=workflow or "global",
        data=request_data(
            MonitorReportRequest(workflow_id=workflow) if workflow else MonitorReportRequest()
        ),
        timeout=timeout,
    )


@app.command()
def health(as_json: JsonFlag = True, timeout: Timeout = 30.0) -> None:
    """Health of every component (healthy|degraded|unhealthy|unknown) with dependencies."""
    call(
        service="monitor",
        event_type=MonitorCommand.HEALTH,
        workflow_id="global",
        data=request_data(CommandRequest()),
        timeout=timeout,
    )


_DETAILED = request_data(WorkflowStatusRequest(detailed=True))


async def _workflow_status(s: Session, workflow_id: str) -> dict[str, Any]:
    got = await s.ask(
        service="status", event_type=StatusCommand.WORKFLOW, workflow_id=workflow_id, data=_DETAILED
    )
    return reply_data(read_reply(WorkflowStatusReply, got, service="status"))


async def _workflow_metrics(s: Session, workflow_id: str) -> dict[str, Any] | None:
    try:
        got = await s.ask(
            service="monitor",
            event_type=MonitorCommand.REPORT,
            workflow_id=workflow_id,
            data=request_data(MonitorReportRequest(workflow_id=workflow_id)),
        )
    except RemoteError:
        return None  # the monitor saw no event of it (yet): no measured work
    return reply_data(read_reply(MonitorReportReply, got, service="monitor"))


@app.command("allocation-efficiency")
def efficiency(workflow_id: Workflow, timeout: Timeout = 30.0) -> None:
    """Busy agent time (measured task durations) over held agent time (allocation's agents
    from start to end) for WORKFLOW."""

    async def work(s: Session) -> dict[str, Any]:
        status = await _workflow_status(s, workflow_id)
        metrics = await _workflow_metrics(s, workflow_id)
        return allocation_efficiency(status=status, metrics=metrics, now=datetime.now(UTC))

    remote(work, timeout=timeout, label=f"{workflow_id}: allocation efficiency")


@app.command("recovery-success")
def recovery_success(workflow_id: Workflow, timeout: Timeout = 30.0) -> None:
    """Whether WORKFLOW recovered from its failures (verdict, recovery time, decisions),
    with its measured error rate."""

    async def work(s: Session) -> dict[str, Any]:
        status = await _workflow_status(s, workflow_id)
        got = await s.ask(
            service="recovery",
            event_type=RecoveryCommand.ANALYZE_FAILURE,
            workflow_id=workflow_id,
            data=request_data(CommandRequest()),
        )
        analysis = read_reply(AnalyzeFailureReply, got, service="recovery")
        result = recovery_summary(status=status, analysis=analysis.model_dump(mode="json"))
        metrics = await _workflow_metrics(s, workflow_id)
        result["error_rate"] = (metrics or {}).get("error_rate")
        return result

    remote(work, timeout=timeout, label=f"{workflow_id}: recovery success")


@app.command()
def benchmark(
    events: Annotated[int, typer.Option(help="Events for the bus benchmark.")] = 30_000,
    workflows: Annotated[int, typer.Option(help="Workflows for the workflow benchmark.")] = 200,
) -> None:
    """Run the bench suite (bus vs raw aiokafka; workflows/s) and print its tables.

    Not a request to the services: it runs its own load (the protocol's baseline figures over
    past workflows are `report`)."""
    code = 0
    for module, args in (
        ("bench.bus_pipe", ["--events", str(events)]),
        ("bench.workflows", ["--workflows", str(workflows)]),
    ):
        typer.echo(f"== {module}", err=True)
        code |= subprocess.call([sys.executable, "-m", module, *args])
    raise typer.Exit(code)
