"""CPU of the local broker and database, apart from the services' own.

A benchmark on the local stack (``baton stack up``) reports how much of the machine's CPU
the broker and PostgreSQL used; with a configured stack elsewhere there is nothing to read.
"""

from __future__ import annotations

import os
from pathlib import Path

from baton.config import BatonSettings
from baton.stack import Stack

__all__ = ["stack_pids", "tree_cpu_seconds"]

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid``, of its children alive now and of those it has reaped
    (PostgreSQL's backends are children of its postmaster)."""
    own = _stat(pid)
    if own is None:
        return 0.0
    ticks = sum(int(v) for v in own[11:15])  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(pid):
            child = _stat(int(entry.name))
            if child is not None and child[1] == str(pid):
                ticks += int(child[11]) + int(child[12])
    return ticks / TICKS


async def stack_pids(settings: BatonSettings) -> dict[str, int]:
    """``{"broker": pid, "postgres": pid}`` of the local stack's running servers."""
    report = await Stack(settings=settings).status_async()
    return {
        name: service.pid
        for name, service in (("broker", report.kafka), ("postgres", report.postgres))
        if service.source == "local" and service.pid is not None
    }
