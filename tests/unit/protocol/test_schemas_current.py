"""schemas/ must match the models: regenerate with `baton schemas generate` when this fails."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from baton.cli.schemas import app
from baton.config import SERVICES, TopicNames
from baton.protocol.asyncapi import HEADER_DOCS
from baton.protocol.codec import parse_line
from baton.protocol.headers import H
from baton.protocol.messages import MESSAGE_MODELS
from baton.protocol.registry import EventRegistry
from baton.protocol.schemas import render_schemas, stale_schemas, write_schemas

SCHEMAS = Path(__file__).parents[3] / "schemas"


def test_schemas_folder_is_current() -> None:
    stale = stale_schemas(SCHEMAS)
    assert not stale, (
        f"schemas/ is stale ({', '.join(stale)}): run `baton schemas generate` "
        "and commit the result"
    )


def test_rendering_is_deterministic_and_complete() -> None:
    first, second = render_schemas(), render_schemas()
    assert first == second
    assert set(first) == {f"{n}.schema.json" for n in MESSAGE_MODELS} | {"asyncapi.yaml"}
    for name, content in first.items():
        assert content.endswith("\n"), name
        assert not content.endswith("\n\n"), name
        if name.endswith(".json"):
            schema = json.loads(content)
            assert schema["$id"] == name
            assert (
                content == json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
            )


def test_asyncapi_describes_topics_headers_and_messages() -> None:
    document = yaml.safe_load(render_schemas()["asyncapi.yaml"])
    assert document["asyncapi"] == "3.0.0"
    names = TopicNames()
    addresses = {c["address"] for c in document["channels"].values()}
    assert {names.events, names.state, names.replies, "baton.events.retry.{level}",
            "baton.events.dlq"} <= addresses  # fmt: skip
    assert {names.commands(s) for s in SERVICES} <= addresses
    assert document["channels"]["state"]["bindings"]["kafka"]["topicConfiguration"] == {
        "cleanup.policy": ["compact"]
    }
    headers = document["components"]["schemas"]["deadLetterHeaders"]["properties"]
    every_header = {v for k, v in vars(H).items() if k.isupper()}
    assert set(headers) == every_header == set(HEADER_DOCS)
    messages = document["components"]["messages"]
    for name in MESSAGE_MODELS:
        refs = [m["x-data-schema"]["$ref"] for m in messages.values() if "x-data-schema" in m]
        assert f"./{name}.schema.json" in refs
    for channel in document["channels"].values():
        for message in channel["messages"].values():
            assert message["$ref"].removeprefix("#/components/messages/") in messages
    for operation in document["operations"].values():
        assert operation["channel"]["$ref"].removeprefix("#/channels/") in document["channels"]
    line = document["components"]["schemas"]["eventLine"]
    assert line["type"] == "string"
    assert line["pattern"].startswith("^[A-Z]")


def test_write_check_and_stale(tmp_path: Path) -> None:
    assert stale_schemas(tmp_path / "missing") == sorted(render_schemas())
    written = write_schemas(tmp_path)
    assert written == sorted(render_schemas())
    assert stale_schemas(tmp_path) == []
    assert write_schemas(tmp_path) == []
    (tmp_path / "health_status.schema.json").write_text("{}\n")
    (tmp_path / "old.schema.json").write_text("{}\n")
    (tmp_path / "README.md").write_text("kept\n")
    assert stale_schemas(tmp_path) == ["health_status.schema.json", "old.schema.json"]
    assert write_schemas(tmp_path) == ["health_status.schema.json", "old.schema.json"]
    assert not (tmp_path / "old.schema.json").exists()
    assert (tmp_path / "README.md").exists()


def test_cli_generate_and_check(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["check", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "baton schemas generate" in result.output
    result = runner.invoke(app, ["generate", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["changed"] == sorted(render_schemas())
    result = runner.invoke(app, ["check", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output


def test_asyncapi_example_line_is_valid_in_strict_mode() -> None:
    document = yaml.safe_load(render_schemas()["asyncapi.yaml"])
    for example in document["components"]["schemas"]["eventLine"]["examples"]:
        line = parse_line(example)
        assert EventRegistry(strict=True).check(line.event_type, line.data) == ()
