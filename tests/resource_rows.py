"""The resource manager's tables, for tests that start it from empty."""

from __future__ import annotations

from typing import Final

TABLES: Final = (
    "resource_pools",
    "resource_meta",
    "resource_allocations",
    "resource_files",
    "resource_queue",
    "resource_answers",
    "resource_agents",
)
"""Every table of the resource manager (migration 0004)."""

RESET: Final = f"truncate {', '.join(TABLES)}"
"""Empties them: the next start creates its pools, counters and agents again."""
