"""Progress on stderr for long operations (stdout stays one JSON document).

Shown only when stderr is a terminal: scripts and tests that read stderr for the JSON error
get nothing else there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

__all__ = ["Status", "bars", "console", "spinner"]


def console() -> Console:
    """The stderr console progress is drawn on."""
    return Console(stderr=True)


class Status(Protocol):
    """What a spinner lets its user change."""

    def update(self, status: str) -> None: ...


class _Quiet:
    def update(self, status: str) -> None:
        del status


@contextmanager
def spinner(text: str) -> Iterator[Status]:
    """A spinner with ``text`` while the block runs (nothing when stderr is no terminal)."""
    out = console()
    if not out.is_terminal:
        yield _Quiet()
        return
    with out.status(text) as status:
        yield status


@contextmanager
def bars() -> Iterator[Progress]:
    """Progress bars (0-100) on stderr, one task per tracked item."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f} %"),
        TimeElapsedColumn(),
        console=console(),
        disable=not console().is_terminal,
    ) as progress:
        yield progress
