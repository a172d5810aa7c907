"""The side-by-side table of the peer benchmark: for each number of workflows in flight, a
row for Baton and a row for DBOS, Baton's row carrying the ratios to DBOS (Markdown, so it
can go into the README as printed)."""

from __future__ import annotations

from collections.abc import Sequence

from bench.peers.results import PeerResult, System, median_result, ratio

__all__ = ["COLUMNS", "comparisons", "render_table"]

COLUMNS = (
    "in flight",
    "system",
    "workflows/s",
    "vs DBOS",
    "machine CPU ms/wf",
    "vs DBOS",
    "client CPU ms/wf",
    "p50 ms",
    "p95 ms",
    "PG commits/wf",
    "Kafka written/read per wf",
)
_SYSTEMS: tuple[System, ...] = ("Baton", "DBOS")


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _throughput(runs: Sequence[PeerResult], median: PeerResult) -> str:
    cell = _number(median.workflows_per_s)
    if len(runs) > 1:
        low = min(r.workflows_per_s for r in runs)
        high = max(r.workflows_per_s for r in runs)
        cell += f" ({_number(low)}-{_number(high)})"
    return cell


def _grouped(results: Sequence[PeerResult]) -> dict[int, dict[System, list[PeerResult]]]:
    levels: dict[int, dict[System, list[PeerResult]]] = {}
    for result in results:
        levels.setdefault(result.in_flight, {}).setdefault(result.system, []).append(result)
    return dict(sorted(levels.items()))


def comparisons(results: Sequence[PeerResult]) -> dict[int, dict[str, float | None]]:
    """Baton / DBOS at each number in flight (medians over runs): workflows/s and machine
    CPU per workflow; ``None`` where a side is missing.

    Args:
        results: Every run of both systems, at any numbers in flight.
    """
    out: dict[int, dict[str, float | None]] = {}
    for level, systems in _grouped(results).items():
        medians = {name: median_result(runs) for name, runs in systems.items()}
        baton, dbos = medians.get("Baton"), medians.get("DBOS")
        if baton is None or dbos is None:
            out[level] = {"workflows_per_s": None, "machine_cpu_per_workflow": None}
            continue
        out[level] = {
            "workflows_per_s": ratio(baton.workflows_per_s, dbos.workflows_per_s),
            "machine_cpu_per_workflow": ratio(baton.machine_cpu_ms, dbos.machine_cpu_ms),
        }
    return out


def render_table(results: Sequence[PeerResult]) -> str:
    """The Markdown table of ``results``: medians over runs, and for more than one run the
    spread of workflows/s in brackets.

    Args:
        results: Every run of both systems, at any numbers in flight.
    """
    ratios = comparisons(results)
    rows = [COLUMNS, tuple("---" for _ in COLUMNS)]
    for level, systems in _grouped(results).items():
        for name in _SYSTEMS:
            if name not in systems:
                continue
            runs = systems[name]
            m = median_result(runs)
            baton = name == "Baton"
            kafka = f"{_number(m.kafka_written)} / {_number(m.kafka_read)}"
            rows.append(
                (
                    str(level),
                    name,
                    _throughput(runs, m),
                    _times(ratios[level]["workflows_per_s"]) if baton else "",
                    _number(m.machine_cpu_ms),
                    _times(ratios[level]["machine_cpu_per_workflow"]) if baton else "",
                    _number(m.client_cpu_ms),
                    _number(m.p50_ms),
                    _number(m.p95_ms),
                    _number(m.pg_commits),
                    kafka if m.kafka_written is not None else "-",
                )
            )
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)
