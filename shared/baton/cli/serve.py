"""``baton serve SERVICE``: run one of Baton's services in this process."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import typer

from baton.cli.common import fail, settings
from baton.errors import BatonError
from baton.logs import configure_logging
from baton.parent import stop_with_parent
from baton.services import SERVICE_CLASSES, load_service


def serve(
    service: Annotated[str, typer.Argument(help=f"One of: {', '.join(SERVICE_CLASSES)}.")],
    port: Annotated[
        int | None, typer.Option(help="HTTP port for /health, /ready and the API.")
    ] = None,
) -> None:
    """Run SERVICE: consume its topics, answer its commands, expose /health and /ready.

    Exits 0 after SIGTERM/SIGINT (in-flight work committed), 1 when something it supervises
    dies, 2 on bad configuration (e.g. migrations not applied: run `.venv/bin/baton db migrate`).
    """
    # Imported here: every other `baton` command would pay for the runtime and the
    # OpenTelemetry exporters (~0.35 s) at start otherwise.
    from baton.runtime import run_service
    from baton.runtime.telemetry import configure_metrics, configure_tracing

    config = settings(http_port=port)
    configure_logging(settings=config, service=service)
    if config.supervisor_pid is not None:
        stop_with_parent(config.supervisor_pid)
    try:
        cls = load_service(service)
        provider = configure_tracing(env=os.environ, component=f"baton-{service}")
        meters = configure_metrics(env=os.environ, component=f"baton-{service}")
        try:
            code = asyncio.run(
                run_service(cls, settings=config, env=os.environ, meter_provider=meters)
            )
        finally:
            for flushed in (provider, meters):
                if flushed is not None:
                    flushed.shutdown()  # flush the spans and metrics still batched
    except BatonError as exc:
        raise fail(exc) from None
    raise typer.Exit(code)


def main(args: list[str]) -> None:
    """``baton serve ARGS`` without mounting the other commands (see :mod:`baton.cli`)."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(serve)
    app(args=args, prog_name="baton serve")
