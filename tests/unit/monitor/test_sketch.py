"""The quantile sketch kept in the monitor's faust tables."""

from __future__ import annotations

import math
import random

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton_monitor import sketch


@given(
    st.lists(st.floats(min_value=1e-5, max_value=1e5), min_size=1, max_size=300),
    st.floats(min_value=0, max_value=1),
)
def test_every_quantile_is_within_the_relative_accuracy(values: list[float], q: float) -> None:
    s = sketch.add_many(None, values)
    exact = sorted(values)[math.floor(q * (len(values) - 1))]
    estimate = sketch.quantile(s, q)
    assert estimate is not None
    assert abs(estimate - exact) <= sketch.ACCURACY * exact * (1 + 1e-9)


def test_synthetic_latencies_p95_within_5_percent_of_the_distributions_true_value() -> None:
    rng = random.Random(7)
    mu, sigma = math.log(0.2), 0.6
    values = [rng.lognormvariate(mu, sigma) for _ in range(20_000)]
    true_p95 = math.exp(mu + 1.6448536 * sigma)
    got = sketch.summary(sketch.add_many(None, values))["p95"]
    assert abs(got - true_p95) / true_p95 < 0.05


def test_merge_equals_adding_everything_and_survives_json() -> None:
    a = sketch.add_many(None, [0.1, 0.2, 0.0, 3.0])
    b = sketch.add_many(None, [0.15, 9.0])
    merged = sketch.merge([a, b])
    assert merged == sketch.add_many(None, [0.1, 0.2, 0.0, 3.0, 0.15, 9.0])
    assert orjson.loads(orjson.dumps(merged)) == merged
    assert sketch.add(a, 1.0) != a
    assert a["n"] == 4  # the argument is never changed


def test_zeros_empty_and_bad_arguments() -> None:
    assert sketch.quantile(sketch.empty(), 0.5) is None
    assert sketch.summary(sketch.empty()) == {"count": 0, "p50": None, "p95": None, "p99": None}
    s = sketch.add_many(None, [0.0, -1.0, 0.0, 2.0])
    assert sketch.quantile(s, 0.5) == 0.0
    assert sketch.quantile(s, 1.0) == pytest.approx(2.0, rel=0.01)
    with pytest.raises(ValueError, match="q must be in"):
        sketch.quantile(s, 1.5)
    with pytest.raises(ValueError, match="accuracy must be in"):
        sketch.add(None, 1.0, accuracy=0)
