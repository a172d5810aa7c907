"""README's agent example is examples/agent_quickstart.py, which an e2e test runs as written."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_agent_example_is_the_tested_example() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Writing an agent") :]
    start = section.index("```python\n") + len("```python\n")
    snippet = section[start : section.index("```", start)]
    example = (ROOT / "examples" / "agent_quickstart.py").read_text()
    code = example.split('"""', 2)[2].lstrip()  # the example minus its docstring
    assert snippet == code
