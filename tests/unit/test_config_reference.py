"""docs/configuration.md is current, and every ``BATON_*`` name the project uses is known."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from baton.config import OTHER_VARIABLES, SECTION_PREFIXES, BatonSettings
from baton.config.environment import ENV_PREFIX, setting_variables
from tests.config_reference import DOC, SECTIONS, known_variable, render

ROOT = Path(__file__).resolve().parents[2]
SCANNED = (
    "shared",
    "services",
    "tests",
    "scripts",
    "bench",
    "helm",
    "deploy",
    "docs",
    "examples",
    ".ci",
    "README.md",
    "Dockerfile",
    "docker-compose.yml",
)
REFUSAL_TESTS = {Path("tests/unit/test_config.py"), Path("tests/unit/test_retention.py")}
"""They use unknown names on purpose, to see them refused."""
NOT_VARIABLES = {
    "BATON_SERVICES",  # a Python name of the deployment checks
    "BATON_KAFKA_BOOTSTRAPS",  # the documented example of a typo
}
NAME = re.compile(r"(?<![A-Za-z0-9_])BATON_[A-Z0-9_]*[A-Z0-9](?![A-Za-z0-9_])")


def test_the_configuration_reference_is_current() -> None:
    assert DOC.read_text("utf-8") == render(), "run: python -m tests.config_reference"


def _mentioned() -> dict[str, Path]:
    """Every ``BATON_*`` name in the project's code, scripts, chart and docs → a file."""
    names: dict[str, Path] = {}
    for top in SCANNED:
        path = ROOT / top
        files = [path] if path.is_file() else sorted(path.rglob("*"))
        for file in files:
            if not file.is_file() or "__pycache__" in file.parts:
                continue
            if file.relative_to(ROOT) in REFUSAL_TESTS:
                continue
            try:
                text = file.read_text("utf-8")
            except UnicodeDecodeError:
                continue
            for name in NAME.findall(text):
                names.setdefault(name, file.relative_to(ROOT))
    return names


def test_every_baton_variable_the_project_uses_is_known() -> None:
    mentioned = _mentioned()
    assert len(mentioned) > 100  # the scan found the project's files
    unknown = {n: str(f) for n, f in mentioned.items() if n not in NOT_VARIABLES}
    unknown = {n: f for n, f in unknown.items() if not known_variable(n)}
    assert unknown == {}
    assert not known_variable("BATON_KAFKA_BOOTSTRAPS")


def test_every_variable_the_chart_sets_is_accepted() -> None:
    values = yaml.safe_load((ROOT / "helm" / "baton" / "values.yaml").read_text("utf-8"))
    retention = [f"BATON_RETENTION_{key.upper()}" for key in values["config"]["retention"]]
    extra = [
        *values["config"]["extraEnv"],
        *values["secret"]["extraEnv"],
        values["secret"]["dsnKey"],
    ]
    for name in [*retention, *extra]:
        assert known_variable(name), name


def test_sections_and_shared_settings_do_not_overlap() -> None:
    assert {prefix for _, _, prefix, _ in SECTIONS} == {ENV_PREFIX, *SECTION_PREFIXES}
    shared = setting_variables(BatonSettings, prefix=ENV_PREFIX)
    for name in shared:
        assert not name.startswith(SECTION_PREFIXES), name
        assert not any(name.startswith(other) for other in OTHER_VARIABLES), name
