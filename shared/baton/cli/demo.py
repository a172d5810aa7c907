"""``baton demo``: the whole system doing seed 002's scenarios (see :mod:`baton.demo`)."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Literal

import orjson
import typer
from rich.console import Console

from baton.cli.common import run, settings


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
    """Run the five services and agent workers, then seed 002's scenarios.

    Starts resource, hub, recovery, status and monitor as separate supervised processes
    (logs prefixed by service, full logs under BATON_HOME/demo/logs), a few agent workers,
    then: multi-workflow coordination (one workflow queued until agents free up), complete
    feature development with parallel implementation tracks, and error handling with a
    checkpoint restore. Shows live progress, keeps a malformed line as a dead letter, and
    ends with a summary table and the dashboard's address. Without --once the services keep
    running until Ctrl-C.
    """
    from baton.demo import DemoOptions, run_demo

    config = settings(component="demo")
    # Progress goes to stderr when stdout carries the JSON summary for a script.
    console = Console(stderr=as_json)
    options = DemoOptions(once=once, scenario_timeout=timeout, log_level=log_level, agents=agents)

    async def main() -> list[dict[str, object]]:
        return await run_demo(config=config, env=os.environ, options=options, console=console)

    rows = run(main)
    if as_json:
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
