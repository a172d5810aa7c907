"""The ``baton`` command line (assembled in :mod:`baton.cli.app`).

``baton serve SERVICE`` takes a short way in: a service process does not mount (import) the
other commands, which saves about half a second of every (re)start.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["app", "main"]


def main() -> None:
    """Console entry point."""
    if sys.argv[1:2] == ["serve"]:
        from baton.cli.serve import main as serve_main

        serve_main(sys.argv[2:])
        return
    from baton.cli.app import app

    app()


def __getattr__(name: str) -> Any:
    if name == "app":  # the assembled typer app, imported on first use
        from baton.cli.app import app

        return app
    raise AttributeError(f"module 'baton.cli' has no attribute {name!r}")
