"""`baton schemas` commands: generate the JSON Schemas and AsyncAPI document, or check them.

``check`` is what CI runs: exit 0 when ``schemas/`` matches the models, else exit 1 with the
stale files listed on stderr as JSON.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer

from baton.cli.common import EXIT, HelperGroup, emit
from baton.protocol.schemas import render_schemas, stale_schemas, write_schemas

__all__ = ["app"]

app = typer.Typer(
    cls=HelperGroup,
    help="JSON Schemas of the protocol messages and the AsyncAPI document (schemas/).",
    no_args_is_help=True,
)

DirOption = Annotated[
    Path, typer.Option("--dir", help="Folder of the schema files.", file_okay=False)
]


@app.command()
def generate(directory: DirOption = Path("schemas")) -> None:
    """Write the schema files; only changed files are rewritten."""
    changed = write_schemas(directory)
    emit({"directory": str(directory), "files": sorted(render_schemas()), "changed": changed})


@app.command()
def check(directory: DirOption = Path("schemas")) -> None:
    """Exit 1 listing the stale files when the schema files are not current."""
    stale = stale_schemas(directory)
    if stale:
        reason = {
            "error": "StaleSchemas",
            "message": f"{len(stale)} file(s) in {directory} are stale; "
            "run `.venv/bin/baton schemas generate`",
            "stale": stale,
        }
        sys.stderr.write(orjson.dumps(reason).decode() + "\n")
        raise typer.Exit(code=EXIT.ERROR_RESPONSE)
    emit({"directory": str(directory), "stale": []})
