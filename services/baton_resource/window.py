"""What part of the state an allocator sees: the working set of one operation.

The service keeps the state as rows and loads, for each operation, only the rows it needs:
the allocations it releases, the holders of the files in question, the head of the queue.
A :class:`Window` tells the allocator what it does not see; the allocator then either
answers exactly as it would with the whole state, or raises :class:`NeedsMore`, and the
service loads more rows and runs the operation again (the allocator is pure, so a discarded
run leaves no trace). With the default window the allocator sees everything.

Why a part is enough:

- Amounts: the allocations not loaded are summed up as :class:`Unseen` (from the pools'
  totals), so fit and utilisation are exact. They hold none of the files in question.
- The queue is *settled* at rest: nothing in it could be granted now (every operation that
  frees resources or changes who may be admitted serves it). So a new request only competes
  with the queue's first admissible entry, which holds the reservation: when the request is
  granted against it, nothing else would have been granted either. Anything else (waiting,
  positions, estimated starts, a new head releasing its reservation) needs the whole queue.
- Serving the queue after a release reads a prefix of the admissible queue in serving
  order, and every admissible request that needs no agent. Once the reservation is held
  within the prefix and no agent is left after it, no request beyond it can be granted
  (every one needs an agent), so the prefix was enough.
- Estimated starts replay the future: the allocations not loaded all end at or after
  :attr:`Unseen.ends_at`, so a replay is exact as long as the start it is asked for comes
  earlier; otherwise more allocations are loaded, earliest end first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from baton.errors import BatonError
from baton_resource.pools import Amounts

__all__ = ["FULL", "Missing", "NeedsMore", "Unseen", "Window"]


class Missing(StrEnum):
    """What an allocator lacked to answer exactly."""

    PREFIX = "prefix"
    """A longer prefix of the admissible queue."""
    QUEUE = "queue"
    """The whole queue."""
    HOLDINGS = "holdings"
    """More allocations, earliest expected end first."""


class NeedsMore(BatonError):
    """The working set is too small for this operation (the caller loads more and retries).

    Never leaves the resource manager: its store catches it.
    """

    def __init__(self, missing: Missing) -> None:
        super().__init__(f"the working set lacks {missing.value}", missing=missing.value)
        self.missing = missing


@dataclass(frozen=True, slots=True, kw_only=True)
class Unseen:
    """The allocations an allocator does not see, summed up."""

    amounts: Amounts
    """What they hold together."""
    ends_at: datetime
    """None of them is expected to be given back before this."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """What an allocator sees of the state (by default: everything)."""

    unseen: Unseen | None = None
    """The allocations not in the state it was given, or None when it has them all."""
    queue_complete: bool = True
    """Whether the state holds the whole queue."""
    admissible_complete: bool = True
    """Whether it holds every entry of the queue that may be admitted now (the held ones
    while the system is saturated may be missing)."""
    prefix: frozenset[str] = frozenset()
    """When neither is complete: request ids of the first admissible entries in serving
    order that it holds (besides those, it holds every admissible entry that needs no
    agent, and maybe others)."""


FULL = Window()
"""The whole state."""
