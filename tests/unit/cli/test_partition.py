"""``baton partition KEY --partitions N`` prints Baton's partition for the key."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

from baton.cli.app import app
from baton.protocol.partitioner import partition_of


def test_prints_the_partition_of_a_key() -> None:
    result = CliRunner().invoke(app, ["partition", "21", "--partitions", "1000"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "340"  # the Java producer's choice


def test_json_names_the_key_count_and_partitioner() -> None:
    result = CliRunner().invoke(app, ["partition", "wf_001", "--partitions", "6", "--json"])
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.output) == {
        "key": "wf_001",
        "topic": None,
        "partitions": 6,
        "partition": partition_of(b"wf_001", partitions=6),
        "partitioner": "murmur2",
    }


def test_a_partition_count_below_one_is_bad_input() -> None:
    result = CliRunner().invoke(app, ["partition", "wf_001", "--partitions", "0"])
    assert result.exit_code == 2
