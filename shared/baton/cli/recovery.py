"""``baton workflow-recovery``: the workflow-recovery helper command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from baton.cli.common import command_data, helper_app
from baton.cli.jsonin import json_object
from baton.cli.remote import Session, call, remote
from baton.protocol.commands import CommandRequest, RecoveryCommand, request_data
from baton.protocol.commands.requests import RestoreRequest

app = helper_app(help="Checkpoints, failure analysis, restore and the fault suite.")

Timeout = Annotated[float, typer.Option(help="Seconds to wait for an answer (exit 124).")]
Workflow = Annotated[str, typer.Argument(help="Workflow id.")]


@app.command("analyze-failure")
def analyze_failure(
    workflow_id: Workflow,
    context: Annotated[
        str, typer.Argument(help='Optional {"error_context", ...}: echoed as "context".')
    ] = "{}",
    timeout: Timeout = 30.0,
) -> None:
    """Error reports of WORKFLOW (classification, impact, ranked suggestions, decision),
    pending recovery actions, the latest checkpoint and agents with open breakers.

    The analysis is workflow-recovery's own (made when each failure arrived); the context
    given is shown with it, not used."""
    data, _ = json_object(context, what="context")

    async def work(s: Session) -> dict[str, Any]:
        got = await s.ask(
            service="recovery",
            event_type=RecoveryCommand.ANALYZE_FAILURE,
            workflow_id=workflow_id,
            data=request_data(CommandRequest()),
        )
        return {**got, "context": data} if data else got

    remote(work, timeout=timeout, label=f"{workflow_id}: failure analysis")


@app.command()
def checkpoints(workflow_id: Workflow, timeout: Timeout = 30.0) -> None:
    """Checkpoints of WORKFLOW: type, trigger, version, full or delta, sizes, hash."""
    call(
        service="recovery",
        event_type=RecoveryCommand.LIST_CHECKPOINTS,
        workflow_id=workflow_id,
        data=request_data(CommandRequest()),
        timeout=timeout,
    )


@app.command()
def restore(
    workflow_id: Workflow,
    spec: Annotated[str, typer.Argument(help='{"checkpoint_id": "..."}')],
    timeout: Timeout = 30.0,
) -> None:
    """Roll WORKFLOW back to a checkpoint (hash verified), keeping completed work."""
    data, request_id = json_object(spec, what="restore")
    call(
        service="recovery",
        event_type=RecoveryCommand.RESTORE,
        workflow_id=workflow_id,
        data=command_data(RestoreRequest, data),
        timeout=timeout,
        request_id=request_id,
    )


@app.command("test-scenarios")
def run_test_scenarios(
    runs: Annotated[int, typer.Option(help="Runs of each scenario.", min=1)] = 1,
    workflows: Annotated[
        int,
        typer.Option(
            help="Workflows per scenario (320 ≈ 10,000 events per scenario; CI runs 48).",
            min=1,
        ),
    ] = 320,
) -> None:
    """Run the fault suite (tests/faults) against the test suite's own stack and print its
    table: scenario, runs, events, lost, duplicates, resume time.

    Scenarios: kill -9 of each service, Kafka broker restart, PostgreSQL restart, a zombie
    hub (SIGSTOP), poison records, full replay. It restarts the broker and database of the
    tests' own stack (home ~/.cache/baton-test, Kafka 18092, PostgreSQL 18432), started for
    the run; `.venv/bin/baton stack up`'s is left alone.
    """
    root = Path(__file__).resolve().parents[3]
    suite = root / "tests" / "faults"
    if not suite.is_dir():
        typer.echo(f"the fault suite is in a source checkout ({suite} not found)", err=True)
        raise typer.Exit(2)
    code = subprocess.call(
        [sys.executable, "-m", "pytest", "-q", "-s", str(suite)],
        env={**os.environ, "BATON_FAULT_RUNS": str(runs), "BATON_FAULT_WORKFLOWS": str(workflows)},
    )
    raise typer.Exit(code)
