"""What the peer benchmark compares: one system's figures at one number of workflows in
flight, per workflow where a total would depend on the run's length."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["PeerResult", "System", "from_baton", "latency_ms", "median_result", "ratio"]

System = Literal["Baton", "DBOS"]

_MACHINE = "machine (all, incl. broker, PostgreSQL)"
_CLIENT = "bench (client + agents)"


class PeerResult(BaseModel):
    """One run of one system at one number of workflows in flight.

    Attributes:
        system: Which system ran the workflows.
        in_flight: Workflows started and not yet completed, at most, at any time.
        workflows: Workflows completed in the run.
        seconds: Wall time from the first create to the last completion.
        workflows_per_s: Completed workflows per second.
        p50_ms: Median create → completed latency.
        p95_ms: 95th percentile create → completed latency.
        machine_cpu_ms: CPU of the whole machine per workflow (PostgreSQL and, for Baton,
            the broker and the five services included).
        client_cpu_ms: CPU of the benchmark's own process per workflow (for Baton: the
            client and the agent workers; for DBOS: everything DBOS runs).
        pg_commits: PostgreSQL transactions committed per workflow, by every client.
        kafka_written: Kafka records written per workflow (Baton only).
        kafka_read: Kafka records read per workflow, by every consumer group (Baton only).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    system: System
    in_flight: int
    workflows: int
    seconds: float
    workflows_per_s: float
    p50_ms: float
    p95_ms: float
    machine_cpu_ms: float
    client_cpu_ms: float
    pg_commits: float
    kafka_written: float | None = None
    kafka_read: float | None = None


def latency_ms(latencies: Sequence[float]) -> tuple[float, float]:
    """Median and 95th percentile, in milliseconds, of latencies in seconds (the p95 as
    ``bench.workflows`` takes it: the value at rank ``0.95 (n - 1)``)."""
    if not latencies:
        raise ValueError("no latencies")
    ordered = sorted(latencies)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return round(statistics.median(ordered) * 1000, 1), round(p95 * 1000, 1)


def from_baton(result: dict[str, Any], *, in_flight: int) -> PeerResult:
    """Baton's figures from the result of :func:`bench.workflows.run`.

    Args:
        result: What ``bench.workflows.run`` returned.
        in_flight: The concurrency it ran with.
    """
    count = int(result["workflows"])
    cpu = result["cpu_seconds"]
    return PeerResult(
        system="Baton",
        in_flight=in_flight,
        workflows=count,
        seconds=float(result["seconds"]),
        workflows_per_s=float(result["workflows_per_s"]),
        p50_ms=round(float(result["latency_p50_s"]) * 1000, 1),
        p95_ms=round(float(result["latency_p95_s"]) * 1000, 1),
        machine_cpu_ms=round(float(cpu[_MACHINE]) * 1000 / count, 1),
        client_cpu_ms=round(float(cpu[_CLIENT]) * 1000 / count, 1),
        pg_commits=float(result["postgres_commits_per_workflow"]),
        kafka_written=float(result["kafka_records_per_workflow"]),
        kafka_read=float(result["kafka_records_read_per_workflow"]),
    )


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator`` to two decimals; ``None`` when either is missing or the
    denominator is zero."""
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 2)


def median_result(results: Sequence[PeerResult]) -> PeerResult:
    """The median of each figure over runs of one system at one number in flight.

    Raises:
        ValueError: ``results`` is empty or mixes systems or numbers in flight.
    """
    if not results:
        raise ValueError("no results")
    first = results[0]
    if any((r.system, r.in_flight) != (first.system, first.in_flight) for r in results):
        raise ValueError("results of different systems or numbers in flight")
    if len(results) == 1:
        return first
    figures: dict[str, Any] = {"system": first.system, "in_flight": first.in_flight}
    for name in PeerResult.model_fields:
        if name in figures:
            continue
        values = [getattr(r, name) for r in results if getattr(r, name) is not None]
        figures[name] = round(statistics.median(values), 2) if values else None
    figures["workflows"] = int(figures["workflows"])
    return PeerResult.model_validate(figures)
