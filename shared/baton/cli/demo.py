"""``baton demo``: the whole system running the demo scenarios (see :mod:`baton.demo`)."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Literal

import orjson
import typer
from rich.console import Console

from baton.cli.common import run, settings

PLAIN_WIDTH = 240
"""Columns of the demo's output when it is not a terminal: wide enough for every table
row (ids, statuses, notes) on one line."""


def demo(
    once: Annotated[
        bool, typer.Option("--once", help="Exit when the scenarios end (0 when all complete).")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary rows as JSON on stdout.")
    ] = False,
    log_level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR"],
        typer.Option(help="Log level of the five services (their lines are shown prefixed)."),
    ] = "WARNING",
    agents: Annotated[int, typer.Option(help="Agent workers to run.", min=2, max=16)] = 4,
    timeout: Annotated[
        float, typer.Option(help="Seconds each scenario may take (exit 1 past it).")
    ] = 180.0,
) -> None:
    """Run the five services and agent workers, then the demo scenarios.

    Starts resource, hub, recovery, status and monitor as separate supervised processes
    (logs prefixed by service, full logs under BATON_HOME/demo/logs), a few agent workers,
    then: multi-workflow coordination (one workflow queued until agents free up), complete
    feature development with parallel implementation tracks, and error handling with a
    checkpoint restore (docs/scenarios.md). Shows live progress, keeps a malformed line as a
    dead letter, and ends with a summary table. With --once everything stops then; without
    it the services and the dashboard (its address is printed) keep running until Ctrl-C.

    Ctrl-C or SIGTERM stops agents and services cleanly at any time; before the scenarios
    end the exit code is 128 + the signal's number (130, 143). Output that is not a
    terminal (a pipe, a log file) is printed wide, nothing cut or folded.
    """
    from baton.demo import DemoOptions, DemoStoppedError, run_demo

    config = settings(component="demo")
    # Progress goes to stderr when stdout carries the JSON summary for a script.
    console = Console(stderr=as_json)
    if not console.is_terminal:  # a log or a pipe: nothing cut to a terminal's width
        console = Console(stderr=as_json, width=PLAIN_WIDTH)
    options = DemoOptions(
        once=once,
        scenario_timeout=timeout,
        log_level=log_level,
        agents=agents,
        table_width=48 if console.is_terminal else None,
    )

    async def main() -> list[dict[str, object]] | DemoStoppedError:
        try:
            return await run_demo(config=config, env=os.environ, options=options, console=console)
        except DemoStoppedError as stopped:  # not an error to report as JSON: said below
            return stopped

    rows = run(main)
    if isinstance(rows, DemoStoppedError):
        console.print(f"{rows.message}; agents and services stopped.")
        raise typer.Exit(128 + rows.signal_number)
    if as_json:
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
