"""`baton http`: bearer tokens for the services' HTTP side."""

from __future__ import annotations

from typing import Annotated

import typer

from baton.cli.common import HelperGroup, emit
from baton.security.http_auth import HttpRole, new_token, token_line

__all__ = ["app"]

app = typer.Typer(
    cls=HelperGroup,
    help=(
        "The services' HTTP side: bearer tokens for the API, the dashboard and /metrics "
        "(BATON_HTTP_TOKENS_FILE; docs/security.md)."
    ),
    no_args_is_help=True,
)
token_app = typer.Typer(cls=HelperGroup, help="Bearer tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")

CREATE_HELP = (
    "Make a new random token and print it with the line that admits it.\n\n"
    "Add the line to the file BATON_HTTP_TOKENS_FILE names (it holds the token's SHA-256, "
    "never the token); running services read the changed file within a second. Give the "
    "token to its user (the dashboard asks for it; Prometheus sends it as a bearer token). "
    "Roles: `read` (the API, its stream, /docs) and `metrics` (/metrics)."
)


@token_app.command("create", help=CREATE_HELP)
def create(
    role: Annotated[HttpRole, typer.Option(help="What the token may do: read or metrics.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    token = new_token()
    line = token_line(token=token, role=role)
    if as_json:
        emit({"role": role, "token": token, "line": line})
        return
    emit(f"token: {token}\nline for BATON_HTTP_TOKENS_FILE: {line}", as_json=False)
