"""Every example event line of the seeds parses in default mode; strict mode names the gaps."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.errors import ProtocolError
from baton.protocol.codec import format_line, parse_line
from baton.protocol.registry import EventRegistry

FIXTURE = Path(__file__).parents[2] / "fixtures" / "seed_event_lines.txt"
LINES = [line for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line]

MISSING = {
    "PHASE_COMPLETED": ("phase_id", "actual_duration", "success_metrics"),
    "RESOURCE_ALLOCATED": ("resource_details", "requester"),
    "SYSTEM_THRESHOLD": ("metric_name", "current_value"),
    "WORKFLOW_CREATED": ("workflow_definition", "estimated_duration"),
    "WORKFLOW_COMPLETED": ("completion_time", "final_metrics"),
}
"""Registered types among the seed lines → the registered fields their data lacks."""


def test_fixture_has_all_twenty_lines() -> None:
    assert len(LINES) == 20


@pytest.mark.parametrize("raw", LINES)
def test_seed_line_parses_and_normalises(raw: str) -> None:
    line = parse_line(raw)
    assert line.data
    text = format_line(line.event_type, line.workflow_id, line.phase, line.data)
    assert "'" not in text
    assert parse_line(text) == line
    assert parse_line(raw.encode()) == line


@pytest.mark.parametrize("raw", LINES)
def test_default_mode_records_findings(raw: str) -> None:
    line = parse_line(raw)
    findings = EventRegistry().check(line.event_type, line.data)
    expected = MISSING.get(line.event_type, ())
    assert findings == tuple(f"missing:{name}" for name in expected)


@pytest.mark.parametrize("raw", [r for r in LINES if parse_line(r).event_type in MISSING])
def test_strict_mode_rejects_registered_types_naming_missing_fields(raw: str) -> None:
    line = parse_line(raw)
    with pytest.raises(ProtocolError) as info:
        EventRegistry(strict=True).check(line.event_type, line.data)
    assert info.value.part == "data"
    assert info.value.fields["missing"] == list(MISSING[line.event_type])
    for name in MISSING[line.event_type]:
        assert name in info.value.message


@pytest.mark.parametrize("raw", [r for r in LINES if parse_line(r).event_type not in MISSING])
def test_custom_types_pass_strict_unless_unregistered_are_refused(raw: str) -> None:
    line = parse_line(raw)
    assert EventRegistry(strict=True).check(line.event_type, line.data) == ()
    with pytest.raises(ProtocolError) as info:
        EventRegistry(strict=True, refuse_unregistered=True).check(line.event_type, line.data)
    assert info.value.part == "event_type"
