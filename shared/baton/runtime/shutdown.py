"""Stopping within the grace period (``BATON_STOP_GRACE``) the orchestrator allows.

An orchestrator kills a process that outlives its grace period (30 s in the chart and in
compose), mid-commit. So a service's stop is budgeted: each step gets what is left and is
abandoned when it overruns (work in hand is then uncommitted, and comes again), and a
:class:`Watchdog` armed by the signal ends the process when the grace period is over,
whatever still holds it — a task that does not yield to cancellation, a thread, a flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Awaitable

__all__ = ["Watchdog", "within"]

log = logging.getLogger("baton.runtime")


async def within(step: Awaitable[None], *, what: str, by: float) -> bool:
    """Await ``step`` until the event-loop time ``by``; False (logged) if it overran or failed.

    A stop step that fails must not keep the next ones from running.
    """
    try:
        async with asyncio.timeout_at(by):
            await step
        return True
    except TimeoutError:
        log.warning("stopping: %s did not finish in time; abandoned", what)
    except Exception as exc:
        log.warning("stopping: %s failed: %r", what, exc)
    return False


class Watchdog:
    """Ends the process ``grace`` seconds after :meth:`arm`, exit code 1, if it still runs.

    A daemon thread, so it fires even when the event loop is stuck, and never holds up a
    process that exits in time.
    """

    def __init__(self, *, grace: float, component: str) -> None:
        self.grace = grace
        self.component = component
        self._timer: threading.Timer | None = None

    @property
    def armed(self) -> bool:
        return self._timer is not None

    def arm(self) -> None:
        """Start counting (the first call only)."""
        if self._timer is None:
            self._timer = threading.Timer(self.grace, self.fire)
            self._timer.daemon = True
            self._timer.start()

    def fire(self) -> None:
        """Exit now, saying so."""
        log.critical(
            "%s did not stop within its grace period of %gs; exiting", self.component, self.grace
        )
        for stream in (sys.stderr, sys.stdout):
            # A closed stream must not keep the process alive.
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(1)
