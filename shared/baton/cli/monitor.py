"""``baton performance-monitor``: seed 002's performance-monitor helper."""

from __future__ import annotations

import subprocess
import sys
from typing import Annotated

import typer

from baton.cli.common import EXIT_CODES_HELP
from baton.cli.remote import call

app = typer.Typer(
    help=f"Metrics, component health and benchmarks. {EXIT_CODES_HELP}", no_args_is_help=True
)

Timeout = Annotated[float, typer.Option(help="Seconds to wait for an answer (exit 124).")]
JsonFlag = Annotated[bool, typer.Option("--json", help="JSON output (the default; for scripts).")]


@app.command()
def report(
    workflow: Annotated[str | None, typer.Option(help="Only this workflow's metrics.")] = None,
    as_json: JsonFlag = True,
    timeout: Timeout = 30.0,
) -> None:
    """Windowed throughput, latency and duration percentiles (p50/p95/p99), error rates, lag."""
    call(
        service="monitor",
        event_type="MONITOR_REPORT",
        workflow_id=workflow or "global",
        data={"workflow_id": workflow} if workflow else {},
        timeout=timeout,
    )


@app.command()
def health(as_json: JsonFlag = True, timeout: Timeout = 30.0) -> None:
    """Health of every component (healthy|degraded|unhealthy|unknown) with dependencies."""
    call(
        service="monitor",
        event_type="MONITOR_HEALTH",
        workflow_id="global",
        data={},
        timeout=timeout,
    )


@app.command()
def benchmark(
    events: Annotated[int, typer.Option(help="Events for the bus benchmark.")] = 30_000,
    workflows: Annotated[int, typer.Option(help="Workflows for the workflow benchmark.")] = 200,
) -> None:
    """Run the bench suite (bus vs raw aiokafka; workflows/s) and print its tables."""
    code = 0
    for module, args in (
        ("bench.bus_pipe", ["--events", str(events)]),
        ("bench.workflows", ["--workflows", str(workflows)]),
    ):
        typer.echo(f"== {module}")
        code |= subprocess.call([sys.executable, "-m", module, *args])
    raise typer.Exit(code)
