"""Window digests: exact while small, a sketch beyond, and mergeable either way."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton_monitor.digest import Digest, add_value, merge, quantile, summary
from baton_monitor.samples import percentile


def _digest(values: list[float], *, cap: int = 64) -> Digest:
    out = Digest()
    for value in values:
        add_value(out, value, cap=cap)
    return out


def test_percentiles_are_exact_within_the_cap_and_within_1_percent_beyond() -> None:
    small = _digest([1.0, 2.0, 3.0, 4.0])
    assert small.exact
    assert quantile(small, 50) == 2.5
    rng = random.Random(3)
    values = [rng.expovariate(4.0) for _ in range(5000)]
    large = _digest(values)
    assert not large.exact
    assert large.values == []
    exact = sorted(values)[math.floor(0.95 * (len(values) - 1))]
    assert quantile(large, 95) == pytest.approx(exact, rel=0.011)
    assert summary(large)["count"] == 5000
    assert summary(large)["mean"] == pytest.approx(sum(values) / 5000, abs=1e-6)
    assert (summary(large)["min"], summary(large)["max"]) == (min(values), max(values))
    assert summary(Digest())["p95"] is None
    with pytest.raises(ValueError, match="finite"):
        add_value(Digest(), math.inf)


def test_merging_is_exact_while_the_values_fit_and_the_same_as_one_digest_beyond() -> None:
    left, right = _digest([1.0, 5.0]), _digest([3.0])
    both = merge([left, right])
    assert both.exact
    assert sorted(both.values) == [1.0, 3.0, 5.0]
    assert quantile(both, 50) == 3.0
    assert left.values == [1.0, 5.0]  # parts unchanged
    rng = random.Random(5)
    values = [rng.lognormvariate(0, 1) for _ in range(300)]
    parts = [_digest(values[:100]), _digest(values[100:250]), _digest(values[250:])]
    merged, whole = merge(parts), _digest(values)
    assert not merged.exact
    assert (merged.count, merged.buckets, merged.zeros) == (whole.count, whole.buckets, whole.zeros)
    assert quantile(merged, 99) == quantile(whole, 99)


@given(st.lists(st.floats(min_value=0, max_value=1e4), min_size=1, max_size=200))
def test_a_quantile_never_leaves_the_range_seen(values: list[float]) -> None:
    digest = _digest(values, cap=8)
    for q in (0.0, 50.0, 95.0, 99.0, 100.0):
        found = quantile(digest, q)
        assert found is not None
        assert min(values) <= found <= max(values)
    if len(values) <= 8:
        assert quantile(digest, 95) == percentile(sorted(values), 95)


def test_a_digest_round_trips_through_json() -> None:
    digest = _digest([0.0, 0.5, 2.0] * 40)
    assert Digest.model_validate_json(digest.model_dump_json()) == digest
