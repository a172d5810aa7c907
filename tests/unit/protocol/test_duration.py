"""Durations: ``"10m"`` ⇄ seconds."""

from __future__ import annotations

import re

import pytest

from baton.errors import ProtocolError
from baton.protocol.duration import DURATION_PATTERN, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400), ("1w", 604800),
        ("250ms", 0.25), ("1.2s", 1.2), ("2h 30m", 9000), ("1h30m15s", 5415), ("0s", 0),
        (45, 45), (2.5, 2.5),
    ],
)  # fmt: skip
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["", "30", "10 m", "10M", "-5s", "1e3s", "h", "2h  30m", "immediate", " 5s", "5s "]
)
def test_bad_durations(text: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_duration(text, part="data.estimated_duration")
    assert info.value.part == "data.estimated_duration"
    assert not re.match(DURATION_PATTERN, text)


@pytest.mark.parametrize("value", [True, None, -1, float("nan"), float("inf"), [1]])
def test_bad_duration_values(value: object) -> None:
    with pytest.raises(ProtocolError):
        parse_duration(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.25, "250ms"), (9000, "2h30m"), (90061.5, "1d1h1m1s500ms"), (60, "1m")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)


def test_format_duration_refuses_negative() -> None:
    with pytest.raises(ProtocolError):
        format_duration(-1)
