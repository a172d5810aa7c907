"""Values of one metric in one window, mergeable across partitions and replicas.

A :class:`Digest` keeps every value while there are at most ``cap`` of them (percentiles
are then exact, interpolated as :func:`baton_monitor.samples.percentile` does), and always a
quantile sketch of all of them (:mod:`baton_monitor.sketch`: 1 % relative accuracy). Two
digests merge into the digest of all their values: exact while the values together stay
within the cap, within the sketch's accuracy beyond. Count, sum, minimum and maximum are
exact whatever the cap. Windows hold digests rather than reservoir samples because a
window's figures are summed over the partitions of the events topic, which different
replicas count (:mod:`baton_monitor.panes`), and its size stays small enough to be
written with every batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from baton_monitor import sketch
from baton_monitor.samples import PERCENTILES, percentile

__all__ = ["EXACT_CAP", "Digest", "add_value", "merge", "quantile", "summary"]

EXACT_CAP: Final = 64
"""Values a window keeps exactly per metric before only its sketch answers."""


class Digest(BaseModel):
    """Values of one metric in one window (see the module doc)."""

    model_config = ConfigDict(extra="forbid")

    count: int = 0
    """Values seen."""
    total: float = 0.0
    """Their sum."""
    low: float | None = None
    """The smallest."""
    high: float | None = None
    """The largest."""
    values: list[float] = Field(default_factory=list)
    """Every value while ``count`` is within the cap, else empty."""
    zeros: int = 0
    """Values the sketch counts as 0."""
    buckets: dict[str, int] = Field(default_factory=dict)
    """The sketch's buckets (:mod:`baton_monitor.sketch`)."""

    @property
    def exact(self) -> bool:
        """Whether every value is kept (percentiles are then exact)."""
        return len(self.values) == self.count


def add_value(digest: Digest, value: float, *, cap: int = EXACT_CAP) -> Digest:
    """Add ``value`` (in place; returned).

    Raises:
        ValueError: ``value`` is not finite.
    """
    if not math.isfinite(value):
        raise ValueError(f"sample {value!r} is not a finite number")
    exact = digest.exact
    digest.count += 1
    digest.total += value
    if digest.low is None or value < digest.low:
        digest.low = value
    if digest.high is None or value > digest.high:
        digest.high = value
    if exact and digest.count <= cap:
        digest.values.append(value)
    elif digest.values:
        digest.values = []
    key = sketch.bucket(value)
    if key is None:
        digest.zeros += 1
    else:
        digest.buckets[key] = digest.buckets.get(key, 0) + 1
    return digest


def merge(digests: Iterable[Digest], *, cap: int = EXACT_CAP) -> Digest:
    """One digest of all the values of ``digests`` (exact while they fit in ``cap``)."""
    out = Digest()
    exact = True
    for digest in digests:
        exact = exact and digest.exact and out.count + digest.count <= cap
        out.values = out.values + digest.values if exact else []
        out.count += digest.count
        out.total += digest.total
        if digest.low is not None and (out.low is None or digest.low < out.low):
            out.low = digest.low
        if digest.high is not None and (out.high is None or digest.high > out.high):
            out.high = digest.high
        out.zeros += digest.zeros
        for key, count in digest.buckets.items():
            out.buckets[key] = out.buckets.get(key, 0) + count
    return out


def quantile(digest: Digest, q: float) -> float | None:
    """The ``q``-th percentile (0..100); None for an empty digest."""
    if digest.count == 0:
        return None
    if digest.exact:
        return percentile(sorted(digest.values), q)
    found = sketch.quantile({"n": digest.count, "z": digest.zeros, "b": digest.buckets}, q / 100)
    if found is None:
        return None
    # The sketch answers within 1 % of a value of that rank: never outside what was seen.
    low = digest.low if digest.low is not None else found
    high = digest.high if digest.high is not None else found
    return min(max(found, low), high)


def summary(digest: Digest, *, digits: int = 6) -> dict[str, float | int | bool | None]:
    """``count``, ``mean``, ``min``, ``max``, ``p50``, ``p95``, ``p99`` and ``exact`` (as
    :func:`baton_monitor.samples.summary` gives them)."""
    out: dict[str, float | int | bool | None] = {"count": digest.count}
    out["mean"] = round(digest.total / digest.count, digits) if digest.count else None
    out["min"] = digest.low
    out["max"] = digest.high
    for q in PERCENTILES:
        value = quantile(digest, q)
        out[f"p{q:g}"] = None if value is None else round(value, digits)
    out["exact"] = digest.exact
    return out
