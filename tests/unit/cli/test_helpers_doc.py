"""docs/helpers.md lists every seed helper line, and each mapped command exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from baton.cli.app import app

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "helpers.md").read_text()
LINES = (Path(__file__).with_name("seed_helper_lines.txt")).read_text().splitlines()


@pytest.mark.parametrize("line", LINES)
def test_every_seed_helper_line_has_a_row(line: str) -> None:
    where = line.split()[0] if line.startswith("002:") else f"000 `{line.split()[1]}`"
    rows = [row for row in DOC.splitlines() if row.startswith("|")]
    assert any(where in row.split("|")[1] for row in rows), f"{line!r} not in docs/helpers.md"


def test_every_mapped_command_answers_help() -> None:
    commands = set(re.findall(r"`baton ([a-z-]+(?: [a-z-]+)?)", DOC))
    for row in DOC.splitlines():
        cells = row.split("|")
        if row.startswith("| 002") and cells[3].strip().startswith("same"):
            words = cells[2].strip(" `/").split()
            commands.add(" ".join(words[:2]))  # operation, or a workflow id
    assert len(commands) > 20
    for command in sorted(commands):
        words = command.split()
        result = CliRunner().invoke(app, [*words, "--help"])
        if result.exit_code != 0:  # a workflow id: the helper takes it as an argument
            result = CliRunner().invoke(app, [words[0], "--help"])
            assert words[0] in ("coordination-hub", "workflow-status"), command
        assert result.exit_code == 0, (command, result.output)
