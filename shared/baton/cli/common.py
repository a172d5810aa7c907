"""What every CLI command shares: settings, exit codes, JSON output, async entry."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

import orjson
import typer

from baton.config import BatonSettings
from baton.errors import BatonError

__all__ = ["EXIT", "emit", "fail", "run", "settings"]

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
    """Settings from the environment plus command-line overrides."""
    return BatonSettings.from_env(os.environ, **overrides)


def emit(value: Any, *, as_json: bool = True) -> None:
    """Print a result on stdout: JSON for scripts, else plain text."""
    if as_json:
        sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(f"{value}\n")
    sys.stdout.flush()


def fail(error: BatonError) -> typer.Exit:
    """Report ``error`` on stderr as one JSON object and return the exit to raise."""
    sys.stderr.write(orjson.dumps(error.to_dict(), default=str).decode() + "\n")
    return typer.Exit(code=error.exit_code)


def run(main: Callable[[], Awaitable[T]]) -> T:
    """Run an async command; a BatonError becomes its exit code with a JSON reason."""
    try:
        return asyncio.run(main())  # type: ignore[arg-type]
    except BatonError as exc:
        raise fail(exc) from None
