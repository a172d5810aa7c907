"""The status service's upkeep of its tables: retention and late summaries.

- **Retention.** Workflows that ended more than ``BATON_STATUS_RETENTION_DAYS`` ago leave
  the read model (list, counts, detail), ``BATON_STATUS_RETENTION_BATCH`` rows per
  transaction, so no lock is held long; a workflow type whose durations learned nothing
  for as long is forgotten too. Every replica prunes; rows another one holds are skipped
  (:meth:`StatusStore.prune`), so they neither wait for nor disturb each other.
- **Summaries.** Rows written before the summary columns existed (migration 0003) get
  their list line and progress, a batch at a time.

:func:`maintain` is a loop the runner supervises; :func:`prune_all` is one pass, which a
shared retention mechanism can call instead.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Final

from baton.db import Database
from baton.runtime import PASSING_ERRORS
from baton_status.handlers import line
from baton_status.store import StatusStore

__all__ = ["maintain", "prune_all", "summarise_all"]

_SUMMARY_BATCH: Final = 50
"""Most rows summarised per transaction."""
_PAUSE: Final = 0.05
"""Seconds between two batches: other transactions get their turn."""

log = logging.getLogger("baton.status.maintenance")


async def prune_all(
    *, db: Database, store: StatusStore, older_than: datetime, batch: int
) -> dict[str, int]:
    """Delete what ended before ``older_than``, ``batch`` rows per transaction, until none
    is left (module doc); rows deleted per table."""
    pruned = {"status_workflows": 0, "status_history": 0}
    while True:
        async with db.transaction() as conn:
            deleted = await store.prune(conn, older_than=older_than, batch=batch)
        pruned["status_workflows"] += deleted
        if deleted < batch:
            break
        await asyncio.sleep(_PAUSE)
    async with db.transaction() as conn:
        pruned["status_history"] = await store.prune_history(conn, older_than=older_than)
    return pruned


async def summarise_all(*, db: Database, store: StatusStore, batch: int) -> int:
    """Give every row without a list line its line (module doc); how many were done."""
    done = 0
    while True:
        async with db.transaction() as conn:
            views = await store.unsummarised(conn, batch=batch)
            if views:
                await store.save_views(conn, [(view, line(view)) for view in views])
        done += len(views)
        if len(views) < batch:
            return done
        await asyncio.sleep(_PAUSE)


async def maintain(
    *, db: Database, store: StatusStore, retention: timedelta, batch: int, interval: float
) -> None:
    """Summarise and prune now, then every ``interval`` seconds, until cancelled."""
    while True:
        try:
            # Small batches: each renders its views, and holds their rows meanwhile.
            summarised = await summarise_all(db=db, store=store, batch=min(batch, _SUMMARY_BATCH))
            pruned = await prune_all(
                db=db, store=store, older_than=datetime.now(UTC) - retention, batch=batch
            )
        except PASSING_ERRORS as exc:
            # A pass cut short by load (a deadlock the server broke, a timeout an operator
            # set) resumes at the next one; it is no reason to restart the service.
            log.warning("table upkeep stops until the next pass: %r", exc)
        else:
            if summarised or any(pruned.values()):
                log.info("summarised %d workflows; pruned %s", summarised, dict(pruned))
        await asyncio.sleep(interval)
