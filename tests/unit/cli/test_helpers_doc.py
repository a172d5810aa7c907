"""docs/helpers.md lists every helper command of the design documents (the lines in
seed_helper_lines.txt), and each mapped command exists."""

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
ROWS = [row.split("|") for row in DOC.splitlines() if row.startswith("| ")][1:]


def _command_prefix(words: list[str]) -> str:
    """The words of a helper line up to its first JSON or quoted argument."""
    kept: list[str] = []
    for word in words:
        if word[0] in "'\"[{" or "=[" in word:
            break
        kept.append(word)
    return " ".join(kept)


@pytest.mark.parametrize("line", LINES)
def test_every_helper_line_has_a_row(line: str) -> None:
    ref, *words = line.split()
    first_cells = [cells[1].strip() for cells in ROWS]
    if ref == "000":
        wanted = f"`{words[0]}`"
        assert any(cell.startswith(wanted) for cell in first_cells), line
    else:
        wanted = _command_prefix(words)
        assert any(cell.strip("`").startswith(wanted) for cell in first_cells), line


def test_every_mapped_command_answers_help() -> None:
    commands = set(re.findall(r"`\.venv/bin/baton ([a-z-]+(?: [a-z-]+)?)", DOC))
    for cells in ROWS:
        if cells[2].strip().startswith("same"):
            words = cells[1].strip(" `/").split()
            commands.add(" ".join(words[:2]))  # operation, or a workflow id
    assert len(commands) > 20
    for command in sorted(commands):
        words = command.split()
        result = CliRunner().invoke(app, [*words, "--help"])
        if result.exit_code != 0:  # a workflow id: the helper takes it as an argument
            result = CliRunner().invoke(app, [words[0], "--help"])
            assert words[0] in ("coordination-hub", "workflow-status"), command
        assert result.exit_code == 0, (command, result.output)
