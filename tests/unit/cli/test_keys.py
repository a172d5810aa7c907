"""`baton keys generate`: a key pair per call, versions counting up, the private key 0600."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from baton.cli.app import app
from baton.security.signing_key_files import load_private_keys, load_public_keys


def test_generate_writes_numbered_pairs_that_load(tmp_path: Path) -> None:
    runner = CliRunner()
    made = []
    for _ in range(2):
        result = runner.invoke(
            app, ["keys", "generate", "--publisher", "hub", "--dir", str(tmp_path)]
        )
        assert result.exit_code == 0, result.output
        made.append(json.loads(result.output))
    assert [m["key_id"] for m in made] == ["hub.v1", "hub.v2"]
    assert (tmp_path / "hub.v1.key").stat().st_mode & 0o777 == 0o600
    private = load_private_keys(tmp_path, variable="test")
    public = load_public_keys(tmp_path, variable="test")
    assert set(private) == set(public) == {"hub.v1", "hub.v2"}
    signature = private["hub.v2"].sign(b"content")
    public["hub.v2"].verify(signature, b"content")  # raises if the pair does not match
    (tmp_path / "raw.v1.pub").write_text(made[0]["public_key"] + "\n")
    assert "raw.v1" in load_public_keys(tmp_path, variable="test")


def test_an_existing_version_or_a_bad_publisher_is_refused(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["keys", "generate", "--dir", str(tmp_path), "--version", "3"]
    assert runner.invoke(app, [*args, "--publisher", "hub"]).exit_code == 0
    again = runner.invoke(app, [*args, "--publisher", "hub"])
    assert again.exit_code == 1
    assert "exists" in again.output
    assert runner.invoke(app, [*args, "--publisher", "a/b"]).exit_code == 1
