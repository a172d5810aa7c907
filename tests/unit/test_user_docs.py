"""What users read works as written and speaks of the product.

- Every ``baton`` or ``python`` invocation in the README, docs/, the services' and the
  chart's READMEs, the examples and the CLI's ``--help`` is written ``.venv/bin/baton`` /
  ``.venv/bin/python``: the set-up puts neither on a fresh shell's PATH.
- No user-facing text (code, docstrings, help, docs) names the design documents Baton was
  built from: no "seed", no "SPEC".
- docs/protocol.md lists every registered event type.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer._click import Command, Context  # typer's own copy of click
from typer.core import TyperGroup
from typer.testing import CliRunner

from baton.cli.app import app
from baton.protocol.event_types import DEFAULT_EVENTS

ROOT = Path(__file__).resolve().parents[2]
MARKDOWN = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "services" / "README.md",
    ROOT / "helm" / "README.md",
]
USER_FACING = ["shared", "services", "docs", "examples", "helm", "README.md"]
TEXT_SUFFIXES = {
    ".py",
    ".md",
    ".yaml",
    ".yml",
    ".tpl",
    ".txt",
    ".json",
    ".sql",
    ".html",
    ".js",
    ".css",
    ".toml",
    ".j2",
    "",
}

# A command word at a command position: a line's start, or after $( && ; | in a shell line.
BARE_COMMAND = re.compile(r"(?:^|\$\(|&& |; |\| )(?:baton|python) (?=[a-z-])")
# In --help, any ``baton sub...`` not written with its path ("Usage: baton ..." aside).
BARE_IN_HELP = re.compile(r"(?<![\w./-])(?:baton|python) (?=[a-z-])")
DESIGN_DOCS = re.compile(r"(?i:\bseeds?\b)|\bSPEC\b|(?i:\bthe spec\b)")


def shell_snippets(markdown: str) -> Iterator[str]:
    """Lines of shell code blocks, and inline code spans."""
    fenced, lang = False, ""
    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            fenced, lang = (not fenced), stripped[3:].strip()
            continue
        if fenced:
            if lang in ("bash", "sh", "shell", "console", ""):
                yield stripped
            continue
        yield from re.findall(r"`([^`\n]+)`", line)


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_markdown_commands_run_from_a_fresh_shell(path: Path) -> None:
    snippets = list(shell_snippets(path.read_text()))
    bare = [s for s in snippets if BARE_COMMAND.search(s)]
    assert not bare, bare
    if path.name == "README.md" and path.parent == ROOT:
        assert sum(".venv/bin/baton " in s for s in snippets) > 40


def test_the_examples_say_how_to_run_them() -> None:
    for example in sorted((ROOT / "examples").glob("*.py")):
        doc = example.read_text().split('"""')[1]
        lines = [line.strip() for line in doc.splitlines()]
        spans = [s for line in lines for s in re.findall(r"``([^`]+)``", line)]
        assert not [s for s in lines + spans if BARE_COMMAND.search(s)], example
        runner = "pytest" if example.name.startswith("test_") else "python"  # a test, or an agent
        assert f".venv/bin/{runner} examples/{example.name}" in doc, example


def command_paths() -> Iterator[list[str]]:
    """Every command and group of the CLI, as the words that name it."""

    def walk(command: Command, path: list[str]) -> Iterator[list[str]]:
        yield path
        if isinstance(command, TyperGroup):
            with Context(command) as ctx:
                for name in command.list_commands(ctx):
                    sub = command.get_command(ctx, name)
                    if sub is not None and not sub.hidden:
                        yield from walk(sub, [*path, name])

    yield from walk(typer.main.get_command(app), [])


def test_cli_help_writes_commands_as_they_run() -> None:
    paths = list(command_paths())
    assert len(paths) > 30
    for path in paths:
        result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "400"})
        assert result.exit_code == 0, (path, result.output)
        lines = [line.strip(" │") for line in result.output.splitlines()]
        text = "\n".join(lines)
        spans = re.findall(r"`([^`\n]+)`", text) + re.findall(r'"\$\(([^)]*)\)"', text)
        usage = [line for line in lines if line.startswith("Usage:")]
        bad = [s for s in lines + spans if BARE_IN_HELP.search(s) and s not in usage]
        assert not bad, (path, bad)
        assert not DESIGN_DOCS.search(text), (path, DESIGN_DOCS.findall(text))


def user_facing_files() -> Iterator[Path]:
    for top in USER_FACING:
        path = ROOT / top
        files = [path] if path.is_file() else sorted(path.rglob("*"))
        for file in files:
            if file.is_file() and "__pycache__" not in file.parts and file.suffix in TEXT_SUFFIXES:
                yield file


def test_user_facing_text_never_names_the_design_documents() -> None:
    found = [
        f"{file.relative_to(ROOT)}:{number}: {line.strip()}"
        for file in user_facing_files()
        for number, line in enumerate(file.read_text(errors="replace").splitlines(), 1)
        if DESIGN_DOCS.search(line)
    ]
    assert not found, "\n".join(found[:40])


def test_the_protocol_doc_lists_every_registered_type() -> None:
    doc = (ROOT / "docs" / "protocol.md").read_text()
    missing = [name for name in DEFAULT_EVENTS if f"| `{name}` |" not in doc]
    assert not missing, missing
