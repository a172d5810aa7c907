"""The faust windows' figures per partition, and their sum as one snapshot (no faust here).

Each replica's faust app owns some partitions of the events topic; :meth:`MonitorStreams.
figures <baton_monitor.streams.MonitorStreams.figures>` exports what its tables hold for
each of them, the service publishes that in PostgreSQL (``monitor_stream_figures``), and
:func:`merge` sums the figures of every partition — whoever owns them — into the snapshot
``/api/windows`` serves. The figures of one partition (:data:`Figures`, JSON-ready)::

    {"tumbling": {"<window start, epoch ms>": {"<event type>": count}},
     "steps":    {"<step start>": {"<event type>": count}},
     "errors":   {"<window start>": {"<agent>": TASK_FAILED count}},
     "sketches": {"<window start>": {"<metric>/<label>": sketch}}}

Window starts follow faust's windows: the tumbling window holding a moment starts at the
latest multiple of its size; the hopping window reported is the oldest one holding it (the
one covering the whole hopping size up to the next step, faust's ``.earliest()``), summed
from the counts of the steps it spans.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from baton_monitor import sketch

__all__ = ["KINDS", "MALFORMED", "Figures", "empty", "merge", "window_key"]

Figures = dict[str, dict[str, dict[str, Any]]]
"""What faust's tables hold for one partition (module doc)."""

KINDS: Final = ("tumbling", "steps", "errors", "sketches")
"""The tables a partition's figures come from."""
MALFORMED: Final = "malformed"
"""Count key of lines that are not events; lower case, so no event type can clash with it."""


def empty() -> Figures:
    """The figures of a partition with nothing counted."""
    return {kind: {} for kind in KINDS}


def window_key(start: float) -> str:
    """The key of the window starting at ``start`` (epoch seconds): whole milliseconds."""
    return str(round(start * 1000))


def _sum(figures: Mapping[int, Figures], kind: str, key: str) -> dict[str, int]:
    totals: dict[str, int] = {}
    for partition in figures.values():
        for name, count in partition.get(kind, {}).get(key, {}).items():
            totals[name] = totals.get(name, 0) + int(count)
    return dict(sorted(totals.items()))


def _percentiles(figures: Mapping[int, Figures], key: str) -> dict[str, Any]:
    """p50/p95/p99 of every sketch of the window ``key``, merged over the partitions."""
    merged: dict[tuple[str, str], list[Any]] = {}
    for partition in figures.values():
        for name, value in partition.get("sketches", {}).get(key, {}).items():
            metric, _, label = name.partition("/")
            merged.setdefault((metric, label), []).append(value)
    out: dict[str, Any] = {"latency": sketch.summary(sketch.empty())}
    for (metric, label), parts in sorted(merged.items()):
        summary = sketch.summary(sketch.merge(parts))
        if metric == "latency":
            out["latency"] = summary
        else:
            out.setdefault(metric, {})[label] = summary
    return out


def merge(
    figures: Mapping[int, Figures],
    *,
    at: float,
    tumbling_s: float,
    hopping_size_s: float,
    hopping_step_s: float,
) -> dict[str, Any]:
    """The windows holding ``at`` (epoch seconds), summed over the partitions of
    ``figures``: counts, malformed lines, errors per agent, and percentiles."""
    tumbling = math.floor(at / tumbling_s) * tumbling_s
    hopping = math.floor(at / hopping_step_s) * hopping_step_s - hopping_size_s + hopping_step_s
    t_key = window_key(tumbling)
    t_counts = _sum(figures, "tumbling", t_key)
    h_counts: dict[str, int] = {}
    for n in range(round(hopping_size_s / hopping_step_s)):
        for name, count in _sum(figures, "steps", window_key(hopping + n * hopping_step_s)).items():
            h_counts[name] = h_counts.get(name, 0) + count
    h_counts = dict(sorted(h_counts.items()))
    return {
        "tumbling": {
            **_span(tumbling, tumbling_s),
            "counts": t_counts,
            "malformed": t_counts.pop(MALFORMED, 0),
            "errors_by_agent": _sum(figures, "errors", t_key),
        },
        "hopping": {
            **_span(hopping, hopping_size_s),
            "step_s": hopping_step_s,
            "counts": h_counts,
            "malformed": h_counts.pop(MALFORMED, 0),
        },
        "percentiles": _percentiles(figures, t_key),
    }


def _span(start: float, size: float) -> dict[str, Any]:
    return {"start": _iso(start), "end": _iso(start + size), "size_s": size}


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()
