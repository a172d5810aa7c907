"""Ranked recovery suggestions: which apply, their chances, and the ranking by expected cost."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton.protocol.messages.error_report import RecoverySuggestion
from baton_recovery.failures.classify import Classification, classify
from baton_recovery.failures.suggestions import SUCCESS, CostModel, Suggestion, suggest


def of(event_type: str, **data: Any) -> Classification:
    return classify(event_type=event_type, data=data)


def names(suggestions: list[Suggestion]) -> list[str]:
    return [s.strategy for s in suggestions]


def test_a_dead_agent_is_best_replaced() -> None:
    ranked = suggest(
        classification=of("AGENT_TIMEOUT", agent_id="a3"), attempts=1, has_checkpoint=True
    )
    assert names(ranked) == ["agent_reallocation", "retry", "checkpoint_rollback", "escalate"]
    assert ranked[0].success_probability == 0.9


def test_corruption_is_best_rolled_back() -> None:
    corrupt = of("TASK_FAILED", task_id="t", failure_reason="state checksum mismatch")
    ranked = suggest(classification=corrupt, attempts=1, has_checkpoint=True)
    assert ranked[0].strategy == "checkpoint_rollback"
    assert ranked[0].success_probability == 0.9
    assert next(s for s in ranked if s.strategy == "retry").success_probability < 0.05


def test_a_resource_conflict_is_best_retried_after_a_backoff() -> None:
    ranked = suggest(classification=of("RESOURCE_CONFLICT", conflict_id="c"), attempts=1)
    assert ranked[0].strategy == "retry"
    # equal jitter: three quarters of the 1 s ceiling on average
    assert ranked[0].description.startswith("Retry the task after a 750ms backoff (attempt 2 of 3")


def test_a_system_outage_is_retried_rather_than_reassigned() -> None:
    ranked = suggest(classification=of("SYSTEM_ERROR", error="connection refused"), attempts=1)
    assert ranked[0].strategy == "retry"
    reassign = next(s for s in ranked if s.strategy == "agent_reallocation")
    assert reassign.success_probability == pytest.approx(0.8 * 0.5)


def test_retries_lose_their_chance_with_attempts() -> None:
    c = of("TASK_FAILED", task_id="t", failure_reason="boom")
    p = [
        next(
            s
            for s in suggest(classification=c, attempts=n, max_attempts=9)
            if s.strategy == "retry"
        ).success_probability
        for n in (1, 2, 3)
    ]
    assert p == pytest.approx([0.5, 0.4, 0.32])


def test_what_applies() -> None:
    c = of("TASK_FAILED", task_id="t", failure_reason="boom")
    assert names(suggest(classification=c, attempts=3)) == ["escalate"]  # attempts used up
    assert "retry" not in names(suggest(classification=c, attempts=1, breaker="open"))
    assert "retry" in names(suggest(classification=c, attempts=1, breaker="half_open"))
    assert "agent_reallocation" not in names(
        suggest(classification=c, attempts=1, spare_agents=False)
    )
    assert "checkpoint_rollback" not in names(suggest(classification=c, attempts=1))
    assert "skip" in names(suggest(classification=c, attempts=3, skippable=True))
    assert names(suggest(classification=c, attempts=3, fallback="fail")) == ["fail"]
    state = of("TASK_FAILED", failure_reason="hash mismatch")
    assert "checkpoint_rollback" in names(
        suggest(classification=state, attempts=5, has_checkpoint=True)
    )


def test_an_open_breaker_makes_reassignment_likely() -> None:
    c = of("TASK_FAILED", task_id="t", failure_reason="boom")
    ranked = suggest(classification=c, attempts=1, breaker="open")
    assert ranked[0].strategy == "agent_reallocation"
    assert ranked[0].success_probability == 0.9


def test_costs_and_times() -> None:
    c = of("TASK_TIMEOUT", task_id="t")
    costs = CostModel()
    ranked = {
        s.strategy: s
        for s in suggest(
            classification=c,
            attempts=1,
            has_checkpoint=True,
            skippable=True,
            task_seconds=600,
            rollback_seconds=900,
        )
    }
    assert ranked["retry"].estimated_seconds == 600.75
    assert ranked["agent_reallocation"].estimated_seconds == 660.75  # the same backoff first
    assert ranked["checkpoint_rollback"].estimated_seconds == 180 + 900
    assert ranked["skip"].estimated_seconds == 0
    assert ranked["escalate"].estimated_seconds == 1800
    reassign = ranked["agent_reallocation"]
    assert reassign.resource_cost == 660
    assert reassign.expected_cost == pytest.approx(
        660.75 + 0.5 * 660 + 0.15 * costs.failure_penalty
    )
    skip = ranked["skip"]
    assert skip.expected_cost == pytest.approx(0.05 * 3600 + 1800)
    failing = suggest(classification=c, attempts=3, fallback="fail")[0]
    assert (failing.success_probability, failing.expected_cost) == (0.0, costs.failure_penalty)


def test_an_unrecoverable_error_leaves_only_slim_chances() -> None:
    c = classify(
        event_type="TASK_FAILED",
        data={"classification": {"category": "execution", "type": "timeout", "recoverable": False}},
    )
    ranked = suggest(classification=c, attempts=1)
    assert ranked[0].strategy == "escalate"
    assert all(s.success_probability <= 0.2 for s in ranked if s.strategy != "escalate")


def test_to_dict_validates_as_a_seed_001_recovery_suggestion() -> None:
    ranked = suggest(classification=of("AGENT_TIMEOUT", agent_id="a"), attempts=1, task_seconds=240)
    item = ranked[0].to_dict()
    assert item == {
        "strategy": "agent_reallocation",
        "description": "Reassign the task to another available agent after a 750ms backoff",
        "estimated_time": "5m1s",  # 240 s of work, 60 s handing over, 0.75 s of backoff
        "success_probability": 0.9,
    }
    RecoverySuggestion.model_validate(item)


def test_the_table_covers_every_type() -> None:
    for table in SUCCESS.values():
        assert set(table) == {"timeout", "conflict", "corruption", "unavailable", "limit_exceeded"}


@given(
    event=st.sampled_from(
        ["TASK_FAILED", "AGENT_TIMEOUT", "RESOURCE_CONFLICT", "SYSTEM_ERROR", "DEPENDENCY_FAILED"]
    ),
    text=st.sampled_from(["", "timeout", "corrupt", "quota", "locked", "network"]),
    attempts=st.integers(min_value=1, max_value=6),
    breaker=st.sampled_from(["closed", "open", "half_open"]),
    checkpoint=st.booleans(),
    skippable=st.booleans(),
    spare=st.booleans(),
    fallback=st.sampled_from(["escalate", "fail"]),
)
def test_suggestions_are_ranked_valid_and_end_in_the_fallback(
    event: str, text: str, attempts: int, breaker: Any, checkpoint: bool, skippable: bool,
    spare: bool, fallback: Any,
) -> None:  # fmt: skip
    ranked = suggest(
        classification=of(event, error=text),
        attempts=attempts,
        breaker=breaker,
        has_checkpoint=checkpoint,
        skippable=skippable,
        spare_agents=spare,
        fallback=fallback,
    )
    assert ranked
    assert fallback in names(ranked)
    assert len(set(names(ranked))) == len(ranked)
    costs = [s.expected_cost for s in ranked]
    assert costs == sorted(costs)
    for s in ranked:
        assert 0 <= s.success_probability <= 1
        RecoverySuggestion.model_validate(s.to_dict())
