"""The ``baton`` command line (assembled in :mod:`baton.cli.app`).

``baton serve SERVICE`` takes a short way in: a service process does not mount (import) the
other commands, which saves about half a second of every (re)start.

The command needs the ``server`` extra (``pip install 'baton[server]'``); with the client
library alone (``pip install baton``) it says so instead of failing on an import.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["SERVER_EXTRA", "app", "main"]

SERVER_EXTRA = "server"
"""The package extra the command, the services and the local stack need."""


def main() -> None:
    """Console entry point."""
    try:
        if sys.argv[1:2] == ["serve"]:
            from baton.cli.serve import main as serve_main

            serve_main(sys.argv[2:])
            return
        from baton.cli.app import app

        app()
    except ModuleNotFoundError as exc:
        # Commands import what they use when they run, so a missing extra may show late.
        # Every module they import beyond the client library's comes with the extra.
        if (exc.name or "baton").partition(".")[0].startswith("baton"):
            raise  # one of Baton's own: a broken install, not a missing extra
        sys.stderr.write(
            f"baton: the baton command needs the {SERVER_EXTRA!r} extra"
            f" (no module named {exc.name!r}); install it with:"
            f" pip install 'baton[{SERVER_EXTRA}]'\n"
        )
        raise SystemExit(1) from None


def __getattr__(name: str) -> Any:
    if name == "app":  # the assembled typer app, imported on first use
        from baton.cli.app import app

        return app
    raise AttributeError(f"module 'baton.cli' has no attribute {name!r}")
