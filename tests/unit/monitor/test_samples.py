"""Percentiles: linear interpolation, bounded samples, accuracy under synthetic load."""

from __future__ import annotations

import math
import random
from datetime import timedelta

import pytest

from baton_monitor.metrics import Metrics, observe, report, values
from baton_monitor.samples import Samples, add_sample, percentile, summary
from baton_monitor.state import MetricsConfig
from tests.unit.monitor.support import at, event


def test_percentiles_interpolate_linearly_between_order_statistics() -> None:
    values_ = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values_, 0) == 1.0
    assert percentile(values_, 50) == 2.5
    assert percentile(values_, 95) == pytest.approx(3.85)
    assert percentile(values_, 100) == 4.0
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile(values_, 101)


def test_samples_are_exact_up_to_the_cap_then_bounded() -> None:
    samples = Samples()
    for value in range(10):
        add_sample(samples, float(value), cap=10)
    assert summary(samples)["exact"] is True
    assert summary(samples)["p50"] == 4.5
    for value in range(10, 1000):
        add_sample(samples, float(value), cap=10)
    assert len(samples.values) == 10
    assert (samples.count, samples.low, samples.high) == (1000, 0.0, 999.0)
    assert summary(samples)["mean"] == 499.5
    assert summary(samples)["exact"] is False
    with pytest.raises(ValueError, match="finite"):
        add_sample(samples, math.nan)


def test_the_reservoir_is_uniform_even_for_sorted_input() -> None:
    samples = Samples()
    for value in range(50_000):
        add_sample(samples, float(value), cap=1000)
    kept = sorted(samples.values)
    # A biased reservoir (keep first, keep last) would put the median near 500 or 49 500.
    assert percentile(kept, 50) == pytest.approx(25_000, rel=0.05)
    assert percentile(kept, 95) == pytest.approx(47_500, rel=0.05)


def test_the_reservoir_is_deterministic_and_survives_json() -> None:
    first, second = Samples(), Samples()
    for value in range(5000):
        add_sample(first, value * 0.5, cap=100)
    restored = Samples.model_validate_json(first.model_dump_json())
    for value in range(5000, 8000):
        add_sample(first, value * 0.5, cap=100)
        add_sample(restored, value * 0.5, cap=100)
    for value in range(8000):
        add_sample(second, value * 0.5, cap=100)
    assert first == restored == second


def _exact_p(values_: list[float], q: float) -> float:
    return percentile(sorted(values_), q)


def _load(latencies: list[float], *, cap: int) -> tuple[Metrics, float]:
    """One event per latency, processed over 50 s of one window; returns metrics and `now`.

    ``cap``: values a window keeps exactly (beyond, its sketch answers)."""
    metrics = Metrics(config=MetricsConfig(exact_cap=cap))
    step = 50.0 / len(latencies)
    now = at(0)
    for index, latency in enumerate(latencies):
        now = at(index * step)
        sent = now - timedelta(seconds=latency)
        observe(
            metrics, event("TASK_PROGRESS", "wf_1", sent=(sent - at(0)).total_seconds()), now=now
        )
    return metrics, (now - at(0)).total_seconds()


@pytest.mark.parametrize("cap", [64, 10_000, 50_000])
def test_p95_of_20000_exponential_latencies_is_within_5_percent(cap: int) -> None:
    rng = random.Random(20250115)
    mean = 0.25
    latencies = [round(rng.expovariate(1 / mean), 6) for _ in range(20_000)]
    metrics, end = _load(latencies, cap=cap)
    latency = report(metrics, now=at(end))["tumbling"]["windows"][-1]["latency"]
    assert latency["count"] == 20_000
    assert latency["exact"] is (cap >= 20_000)
    exact = _exact_p(latencies, 95)
    true_quantile = -math.log(0.05) * mean  # the exponential distribution's 95th percentile
    assert latency["p95"] == pytest.approx(exact, rel=0.05)
    assert latency["p95"] == pytest.approx(true_quantile, rel=0.05)
    assert latency["p50"] == pytest.approx(_exact_p(latencies, 50), rel=0.05)
    assert latency["p99"] == pytest.approx(_exact_p(latencies, 99), rel=0.05)
    if cap >= 20_000:
        assert latency["p95"] == pytest.approx(exact, abs=1e-6)
    assert values(metrics, now=at(end))["latency_p95"] == pytest.approx(exact, rel=0.05)


def test_p95_of_lognormal_latencies_matches_the_distribution() -> None:
    rng = random.Random(7)
    mu, sigma = math.log(0.1), 0.8
    latencies = [round(rng.lognormvariate(mu, sigma), 6) for _ in range(20_000)]
    metrics, end = _load(latencies, cap=10_000)
    latency = report(metrics, now=at(end))["tumbling"]["windows"][-1]["latency"]
    true_quantile = math.exp(mu + sigma * 1.6448536269514722)  # z of 0.95
    assert latency["p95"] == pytest.approx(true_quantile, rel=0.05)
    assert latency["p95"] == pytest.approx(_exact_p(latencies, 95), rel=0.05)
