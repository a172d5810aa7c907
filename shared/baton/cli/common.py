"""What every CLI command shares: settings, exit codes, JSON output, async entry, groups."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

import orjson
import typer
from pydantic import ValidationError
from typer._click import Command, Context  # typer carries its own copy of click
from typer.core import TyperGroup

from baton.config import BatonSettings
from baton.errors import BatonError
from baton.protocol.commands import CommandRequest, request_data
from baton.protocol.invalid import bad_input

__all__ = [
    "EXIT",
    "EXIT_CODES_HELP",
    "HelperGroup",
    "command_data",
    "emit",
    "fail",
    "helper_app",
    "run",
    "settings",
    "unknown_helper",
]

T = TypeVar("T")


class EXIT:
    """Process exit codes of every ``baton`` command (also listed in ``baton --help``)."""

    OK: Final = 0
    ERROR_RESPONSE: Final = 1
    BAD_INPUT: Final = 2
    TIMEOUT: Final = 124
    UNKNOWN_HELPER: Final = 127


EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 error response, 2 bad input, 124 timeout, 127 unknown helper."
)


def settings(**overrides: Any) -> BatonSettings:
    """Settings from the environment plus command-line overrides; a bad or unknown
    variable exits 2 with the reason as JSON, before the command does anything."""
    try:
        return BatonSettings.from_env(os.environ, **overrides)
    except BatonError as exc:
        raise fail(exc) from None


def emit(value: Any, *, as_json: bool = True) -> None:
    """Print a result on stdout: JSON for scripts, else plain text."""
    if as_json:
        sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(f"{value}\n")
    sys.stdout.flush()


def fail(error: BatonError) -> typer.Exit:
    """Report ``error`` on stderr as one JSON object and return the exit to raise.

    The object says whether trying again may help (``retriable``); a service's error
    answer is under ``remote``, and exits 2 when that service found the input bad.
    """
    body = {**error.to_dict(), "retriable": error.retriable}
    sys.stderr.write(orjson.dumps(body, default=str).decode() + "\n")
    return typer.Exit(code=error.exit_code)


def unknown_helper(message: str, **fields: Any) -> typer.Exit:
    """Exit 127: the helper or operation does not exist (the helper protocol's "not found")."""
    body = {"error": "UnknownHelper", "message": message, **fields}
    sys.stderr.write(orjson.dumps(body).decode() + "\n")
    return typer.Exit(EXIT.UNKNOWN_HELPER)


def run(main: Callable[[], Awaitable[T]]) -> T:
    """Run an async command; a BatonError becomes its exit code with a JSON reason."""
    try:
        return asyncio.run(main())  # type: ignore[arg-type]
    except BatonError as exc:
        raise fail(exc) from None


class HelperGroup(TyperGroup):
    """A command group whose unknown subcommand exits 127 (click says 2, "usage error").

    The helper protocol's caller tells "helper not available" (127) from "bad parameters" (2); an
    unknown operation name is the former.
    """

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        name = args[0] if args else ""
        if (
            name
            and not name.startswith("-")
            and not ctx.resilient_parsing
            and self.get_command(ctx, name) is None
        ):
            known = ", ".join(self.list_commands(ctx))
            raise unknown_helper(
                f"unknown operation {name!r} of {ctx.command_path!r}; known: {known}",
                operation=name,
                helper=ctx.command_path,
            )
        return super().resolve_command(ctx, args)


def helper_app(*, help: str) -> typer.Typer:
    """A command group with the shared conventions (127 for unknown operations, exit codes
    in the help, no pretty tracebacks)."""
    return typer.Typer(
        cls=HelperGroup,
        help=f"{help} {EXIT_CODES_HELP}",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )


def command_data(model: type[CommandRequest], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` read through a command's request model, as the request's data.

    Raises:
        typer.Exit: a field is wrong (exit 2, named, before anything is sent).
    """
    try:
        return request_data(model.model_validate(data))
    except ValidationError as exc:
        raise fail(bad_input(exc, root="data")) from None
