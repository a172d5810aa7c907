"""Test support for recovery: a fixed clock and JSON-ready data for property tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

__all__ = ["T0", "at", "json_objects", "json_values"]

T0 = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
"""The seeds' example time."""


def at(seconds: float) -> datetime:
    """``T0`` plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


_keys = st.text(alphabet=st.characters(codec="utf-8"), max_size=6)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
)

json_values: st.SearchStrategy[Any] = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=5),
    max_leaves=25,
)
"""Any JSON-ready value."""

json_objects: st.SearchStrategy[dict[str, Any]] = st.dictionaries(_keys, json_values, max_size=6)
"""JSON-ready objects (the shape of a state)."""
