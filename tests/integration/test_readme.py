"""README's library example runs as written against the real broker."""

from __future__ import annotations

import asyncio
import os
import sys
from asyncio.subprocess import PIPE
from pathlib import Path

import pytest

from baton.config import BatonSettings
from baton.topics import create_topics

README = Path(__file__).resolve().parents[2] / "README.md"


def _example() -> str:
    text = README.read_text()
    start = text.index("```python\nimport asyncio, os") + len("```python\n")
    return text[start : text.index("```", start)]


@pytest.mark.integration
async def test_readme_library_example_runs(live_stack: BatonSettings, tmp_path: Path) -> None:
    await create_topics(settings=live_stack)
    script = tmp_path / "example.py"
    script.write_text(_example())
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), stdout=PIPE, stderr=PIPE, env={**os.environ}
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0, stderr.decode()
    assert "resource.wf_001.allocated" in stdout.decode()
