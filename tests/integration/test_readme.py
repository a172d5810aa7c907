"""README's library example runs as written against the real broker, and prints its own
event only, whatever the topic already holds."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from asyncio.subprocess import PIPE
from pathlib import Path

import pytest

from baton.bus import Bus
from baton.config import BatonSettings
from baton.protocol.event import Event
from baton.topics import create_topics

README = Path(__file__).resolve().parents[2] / "README.md"


def _example() -> str:
    text = README.read_text()
    start = text.index("```python\nimport asyncio, os") + len("```python\n")
    return text[start : text.index("```", start)]


@pytest.mark.integration
async def test_readme_library_example_prints_its_own_event(
    live_stack: BatonSettings, tmp_path: Path
) -> None:
    await create_topics(settings=live_stack)
    # Older allocations of other workflows, on every partition: a group that started at
    # the oldest record, or that matched every workflow, would print one of them first.
    async with Bus(settings=live_stack.model_copy(update={"component": "readme-test"})) as bus:
        for n in range(12):
            await bus.publish(
                Event(
                    event_type="RESOURCE_ALLOCATED",
                    workflow_id=f"wf_other_{n}",
                    phase="setup",
                    data={"agents": 1, "allocation_id": "alloc_old"},
                )
            )
    script = tmp_path / "example.py"
    script.write_text(_example())
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), stdout=PIPE, stderr=PIPE, env={**os.environ}
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0, stderr.decode()
    lines = stdout.decode().splitlines()
    assert len(lines) == 1, lines
    assert re.fullmatch(
        r"resource\.wf_[0-9a-f]{8}\.allocated \{'agents': 3, 'allocation_id': 'alloc_1'\}",
        lines[0],
    ), lines
