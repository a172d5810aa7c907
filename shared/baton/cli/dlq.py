"""`baton dlq` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="dlq commands", no_args_is_help=True)
