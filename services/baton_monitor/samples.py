"""Bounded value samples and their percentiles.

A :class:`Samples` keeps every value it is given up to ``cap`` (default
:data:`SAMPLE_CAP`), so percentiles are exact up to that many values. Past the cap it keeps a
uniform random sample of all values seen (reservoir sampling, Vitter's Algorithm R): the
n-th value replaces slot ``j`` when ``j < cap``, with ``j`` uniform in ``[0, n)``. ``j`` comes
from a fixed hash of ``n`` (splitmix64), not a random generator, so the samples are a pure
function of the values and their order, and a copy restored from JSON goes on identically.
Count, sum, minimum and maximum stay exact whatever the cap.

Percentiles interpolate linearly between order statistics (Hyndman and Fan's type 7, the
default of NumPy and R): for ``n`` ascending values ``x[0..n-1]`` and ``q`` in 0..100, the
rank is ``h = (n - 1) * q / 100`` and the percentile ``x[⌊h⌋] + (h - ⌊h⌋) * (x[⌊h⌋+1] - x[⌊h⌋])``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PERCENTILES", "SAMPLE_CAP", "Samples", "add_sample", "percentile", "summary"]

SAMPLE_CAP: Final = 10_000
"""Values kept exactly per window and key before reservoir sampling starts."""
PERCENTILES: Final = (50.0, 95.0, 99.0)
"""Percentiles every summary reports (``p50``, ``p95``, ``p99``)."""

_MASK: Final = (1 << 64) - 1


class Samples(BaseModel):
    """Values of one metric in one window (see the module doc)."""

    model_config = ConfigDict(extra="forbid")

    count: int = 0
    """Values seen (not only kept)."""
    total: float = 0.0
    """Sum of the values seen."""
    low: float | None = None
    """Smallest value seen."""
    high: float | None = None
    """Largest value seen."""
    values: list[float] = Field(default_factory=list)
    """Every value while ``count <= cap``, then a uniform sample of ``cap`` of them."""


def _slot(n: int) -> int:
    """A well-mixed 64-bit hash of ``n`` (splitmix64's finaliser)."""
    z = (n * 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def add_sample(samples: Samples, value: float, *, cap: int = SAMPLE_CAP) -> Samples:
    """Add ``value`` (changes ``samples`` in place and returns it).

    Raises:
        ValueError: ``value`` is not finite, or ``cap`` is below 1.
    """
    if not math.isfinite(value):
        raise ValueError(f"sample {value!r} is not a finite number")
    if cap < 1:
        raise ValueError(f"cap must be at least 1, got {cap}")
    samples.count += 1
    samples.total += value
    # Assigning a model field costs far more than comparing: assign only when it changes.
    if samples.low is None or value < samples.low:
        samples.low = value
    if samples.high is None or value > samples.high:
        samples.high = value
    if len(samples.values) < cap:
        samples.values.append(value)
    else:
        slot = _slot(samples.count) % samples.count
        if slot < len(samples.values):
            samples.values[slot] = value
    return samples


def percentile(ordered: Sequence[float], q: float) -> float:
    """The ``q``-th percentile of ascending ``ordered``, linearly interpolated (module doc).

    Raises:
        ValueError: ``ordered`` is empty, or ``q`` is outside 0..100.
    """
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be within 0..100, got {q!r}")
    rank = (len(ordered) - 1) * q / 100.0
    below = math.floor(rank)
    if below + 1 >= len(ordered):
        return float(ordered[-1])
    fraction = rank - below
    return float(ordered[below] + fraction * (ordered[below + 1] - ordered[below]))


def summary(samples: Samples, *, digits: int = 6) -> dict[str, float | int | bool | None]:
    """``count``, ``mean``, ``min``, ``max``, ``p50``, ``p95``, ``p99`` and ``exact``.

    ``exact`` is false once reservoir sampling has started (percentiles then estimate those
    of all values; count, mean, min and max stay exact). Empty samples give ``None`` values.
    """
    out: dict[str, float | int | bool | None] = {"count": samples.count}
    ordered = sorted(samples.values)
    out["mean"] = round(samples.total / samples.count, digits) if samples.count else None
    out["min"] = samples.low
    out["max"] = samples.high
    for q in PERCENTILES:
        out[f"p{q:g}"] = round(percentile(ordered, q), digits) if ordered else None
    out["exact"] = samples.count == len(samples.values)
    return out
