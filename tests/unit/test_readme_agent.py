"""README's agent example is examples/agent_quickstart.py, which an e2e test runs as written;
its test example is the start of examples/test_agent_quickstart.py, which runs here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def readme_snippets() -> list[str]:
    """The Python code blocks of README's "Writing an agent" section, in order."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Writing an agent") :]
    section = section[: section.index("\n## ", 1)]
    return [block.split("```", 1)[0] for block in section.split("```python\n")[1:]]


def code_of(example: str) -> str:
    """An example file minus its docstring."""
    return (EXAMPLES / example).read_text().split('"""', 2)[2].lstrip()


def test_readme_agent_example_is_the_tested_example() -> None:
    assert readme_snippets()[0] == code_of("agent_quickstart.py")


def test_readme_agent_test_is_the_start_of_the_example_test() -> None:
    snippet = readme_snippets()[1]
    assert "AgentTestEnvironment" in snippet
    assert code_of("test_agent_quickstart.py").startswith(snippet)


@pytest.mark.timeout(120)
def test_the_example_test_passes_as_written() -> None:
    """Run as README says, from the repository's root, in a pytest of its own."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "examples/test_agent_quickstart.py", "-q",
         "-p", "no:cacheprovider"],
        capture_output=True, text=True, timeout=110, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout, done.stdout
