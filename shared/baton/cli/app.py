"""The ``baton`` command line, assembled.

Each concept has its own module with a ``typer.Typer`` named ``app``; this module only
mounts them. An unknown command or operation exits 127 (:class:`HelperGroup`); the helper
commands and what they map to are listed in docs/helpers.md.
"""

from __future__ import annotations

import contextlib

import typer

from baton import __version__
from baton.cli import (
    acl,
    aggregator,
    db,
    demo,
    dlq,
    events,
    http,
    hub,
    keys,
    monitor,
    partition,
    recovery,
    resource,
    schemas,
    serve,
    stack,
    status,
    topics,
)
from baton.cli.common import EXIT_CODES_HELP, HelperGroup, settings
from baton.errors import BatonError
from baton.logs import configure_logging

__all__ = ["app"]

app = typer.Typer(
    cls=HelperGroup,
    name="baton",
    help=f"Baton: multi-agent workflow coordination over Kafka. {EXIT_CODES_HELP}",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"baton {__version__}")
        raise typer.Exit


@app.callback()
def _options(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print Baton's version and exit.",
    ),
) -> None:
    """Options of ``baton`` itself, before any command."""
    # A bad variable is reported by the command that reads the settings, as its error.
    with contextlib.suppress(BatonError):
        configure_logging(settings=settings())


app.add_typer(stack.app, name="stack")
app.add_typer(topics.app, name="topics")
app.add_typer(events.app, name="events")
app.add_typer(dlq.app, name="dlq")
app.add_typer(schemas.app, name="schemas")
app.add_typer(keys.app, name="keys")
app.command("demo")(demo.demo)
app.command("serve")(serve.serve)
app.command("partition", help=partition.HELP)(partition.partition)
app.add_typer(db.app, name="db")
app.add_typer(http.app, name="http")
app.add_typer(acl.app, name="acl")
app.command("coordination-hub", help=hub.HELP)(hub.coordination_hub)
app.command("hub", help=hub.HELP, hidden=True)(hub.coordination_hub)
app.add_typer(resource.app, name="resource-manager")
app.add_typer(resource.app, name="resource", hidden=True)
app.command("workflow-status")(status.workflow_status)
app.add_typer(aggregator.app, name="progress-aggregator")
app.add_typer(monitor.app, name="performance-monitor")
app.add_typer(recovery.app, name="workflow-recovery")
