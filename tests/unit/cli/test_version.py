"""``baton --version`` prints the version and exits, before any command runs."""

from __future__ import annotations

from importlib.metadata import version

from typer.testing import CliRunner

from baton import __version__
from baton.cli.app import app


def test_version_prints_the_installed_version_and_exits_zero() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"baton {__version__}\n"
    assert __version__ == version("baton")  # the package's own metadata agrees
