"""What a recovery replica owns: the partitions it holds, judged once settled."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from baton_recovery.failures.ownership import Ownership

GRACE = 1.5


def test_a_partition_is_judged_after_one_timeout_held() -> None:
    own = Ownership()
    assert own.update({0, 1}, now=100.0) == {0, 1}
    assert own.settled(now=101.4, grace=GRACE) == frozenset()
    assert own.settled(now=101.5, grace=GRACE) == {0, 1}
    assert own.held == {0, 1}


def test_a_partition_taken_over_waits_while_those_held_do_not() -> None:
    own = Ownership()
    own.update({0}, now=0.0)
    assert own.update({0, 1}, now=10.0) == {1}  # the other replica died: 1 is ours now
    assert own.settled(now=10.5, grace=GRACE) == {0}
    assert own.settled(now=11.5, grace=GRACE) == {0, 1}


def test_a_partition_lost_is_not_judged_and_held_again_starts_over() -> None:
    own = Ownership()
    own.update({0, 1}, now=0.0)
    assert own.update({1}, now=5.0) == frozenset()  # a rebalance gave 0 away
    assert own.settled(now=6.0, grace=GRACE) == {1}
    assert own.update({0, 1}, now=7.0) == {0}
    assert own.settled(now=8.0, grace=GRACE) == {1}
    assert own.settled(now=8.5, grace=GRACE) == {0, 1}


def test_nothing_held_during_a_rebalance_is_nothing_judged() -> None:
    own = Ownership()
    own.update({0, 1}, now=0.0)
    own.update(set(), now=5.0)
    assert own.held == frozenset()
    assert own.settled(now=50.0, grace=GRACE) == frozenset()


@given(
    st.lists(st.tuples(st.frozensets(st.integers(0, 5)), st.floats(0, 3)), min_size=1, max_size=20)
)
def test_two_replicas_never_judge_one_partition_at_once(
    steps: list[tuple[frozenset[int], float]],
) -> None:
    """Whatever the rebalances, partitions split between two members are judged by at most
    one of them, and each settled partition is one held."""
    a, b = Ownership(), Ownership()
    clock = 0.0
    for mine, gap in steps:
        clock += gap
        a.update(mine, now=clock)
        b.update(frozenset(range(6)) - mine, now=clock)
        settled_a = a.settled(now=clock, grace=GRACE)
        settled_b = b.settled(now=clock, grace=GRACE)
        assert not settled_a & settled_b
        assert settled_a <= mine
