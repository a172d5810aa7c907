from __future__ import annotations

from baton.statesync import StateTracker, detect_conflict


def test_classification() -> None:
    assert detect_conflict(current_version=0, incoming_version=7) == "ok"  # newcomer
    assert detect_conflict(current_version=3, incoming_version=4) == "ok"
    assert detect_conflict(current_version=3, incoming_version=3) == "stale"
    assert detect_conflict(current_version=3, incoming_version=2) == "stale"
    assert detect_conflict(current_version=3, incoming_version=6) == "gap"


def test_tracker_ignores_stale_applies_gaps_and_records_both() -> None:
    tracker = StateTracker()
    assert tracker.apply(workflow_id="wf", version=1, state={"v": 1}) == "ok"
    assert tracker.apply(workflow_id="wf", version=2, state={"v": 2}) == "ok"
    assert tracker.apply(workflow_id="wf", version=2, state={"v": "again"}) == "stale"
    assert tracker.states["wf"] == {"v": 2}
    assert tracker.apply(workflow_id="wf", version=5, state={"v": 5}) == "gap"
    assert tracker.states["wf"] == {"v": 5}
    assert [c.kind for c in tracker.conflicts] == ["stale", "gap"]
    assert list(tracker.conflicts[1].missing) == [3, 4]
