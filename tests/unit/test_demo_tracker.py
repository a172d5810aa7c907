"""The demo's live rows: what a workflow's note says as its events come."""

from __future__ import annotations

from typing import Any

from baton.demo.tracker import Tracker
from baton.protocol.event import Event


def _event(kind: str, **data: Any) -> Event:
    return Event(event_type=kind, workflow_id="wf_migration_001", phase="p", data=data)


async def test_an_error_report_after_the_restore_leaves_the_restore_as_the_note() -> None:
    tracker = Tracker()
    tracker.track(workflow_id="wf_migration_001", scenario="recovery", phases=["p"])
    await tracker.on_event(_event("ERROR_REPORTED", classification={"category": "network"}))
    assert tracker.rows["wf_migration_001"].note == "error report: network"
    await tracker.on_event(_event("WORKFLOW_RESTORED", checkpoint_id="ckpt_1"))
    await tracker.on_event(_event("ERROR_REPORTED", classification={"category": "network"}))
    row = tracker.rows["wf_migration_001"]
    assert (row.note, row.restored, row.status) == ("restored ckpt_1", True, "RESTORED")
