"""The pure parts of the peer benchmark: options, result models, ratios and the table (no
broker, no database, and DBOS need not be installed)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from bench.peers.__main__ import PeerOptions, heading, parse_args
from bench.peers.dbos import DEFAULT_DATABASE, dbos_url
from bench.peers.results import PeerResult, from_baton, latency_ms, median_result, ratio
from bench.peers.table import COLUMNS, comparisons, render_table
from pydantic import ValidationError


def result(system: str = "Baton", in_flight: int = 8, **figures: Any) -> PeerResult:
    values: dict[str, Any] = {
        "system": system,
        "in_flight": in_flight,
        "workflows": 200,
        "seconds": 50.0,
        "workflows_per_s": 4.0,
        "p50_ms": 387.0,
        "p95_ms": 520.0,
        "machine_cpu_ms": 450.0,
        "client_cpu_ms": 60.0,
        "pg_commits": 64.0,
    }
    if system == "Baton":
        values |= {"kafka_written": 256.0, "kafka_read": 420.0}
    return PeerResult.model_validate(values | figures)


def baton_output(**overrides: Any) -> dict[str, Any]:
    """The fields of ``bench.workflows.run``'s result that the comparison reads."""
    return {
        "workflows": 200,
        "seconds": 50.0,
        "workflows_per_s": 4.0,
        "latency_p50_s": 0.387,
        "latency_p95_s": 0.52,
        "cpu_seconds": {
            "hub": 20.0,
            "bench (client + agents)": 12.0,
            "machine (all, incl. broker, PostgreSQL)": 90.0,
        },
        "kafka_records_per_workflow": 256.0,
        "kafka_records_read_per_workflow": 420.5,
        "postgres_commits_per_workflow": 64.2,
    } | overrides


def test_defaults_are_the_issues_levels() -> None:
    options = parse_args([])
    assert options == PeerOptions()
    assert options.in_flight == (1, 8, 64)
    assert (options.workflows, options.workflows_at_1, options.phases) == (200, 40, 3)
    assert (options.agents, options.runs, options.json) == (None, 1, False)
    assert options.warmup == 200
    assert [options.agents_at(n) for n in options.in_flight] == [8, 8, 64]
    assert options.dbos_database == DEFAULT_DATABASE


def test_options_from_the_command_line() -> None:
    options = parse_args(
        [
            *("--in-flight", "1, 8", "--workflows", "20", "--workflows-at-1", "5"),
            *("--phases", "24", "--agents", "2", "--runs", "3", "--dbos-database", "peer"),
            *("--warmup", "0"),
            "--json",
        ]
    )
    assert options.in_flight == (1, 8)
    assert (options.count(1), options.count(8)) == (5, 20)
    assert (options.phases, options.agents, options.runs) == (24, 2, 3)
    assert (options.dbos_database, options.json, options.warmup) == ("peer", True, 0)


@pytest.mark.parametrize(
    "argv",
    [
        ["--in-flight", "0,8"],
        ["--in-flight", "eight"],
        ["--in-flight", ","],
        ["--workflows", "0"],
        ["--runs", "-1"],
        ["--warmup", "-5"],
        ["--phases", "1.5"],
    ],
)
def test_bad_options_exit(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)
    assert exited.value.code == 2
    assert "error" in capsys.readouterr().err


def test_help_explains_what_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    text = capsys.readouterr().out
    for words in (
        "DBOS",
        "same PostgreSQL",
        "--in-flight",
        "--workflows-at-1",
        "peers",
        "--warmup",
    ):
        assert words in text


def test_heading_names_the_counts() -> None:
    line = heading(PeerOptions(in_flight=(1, 64), workflows=100, workflows_at_1=10))
    assert "10 at 1, 100 at 64 in flight" in line
    assert "3-phase" in line


def test_ratio() -> None:
    assert ratio(4.0, 64.0) == 0.06
    assert ratio(90.0, 60.0) == 1.5
    assert ratio(1.0, 0.0) is None
    assert ratio(None, 2.0) is None
    assert ratio(2.0, None) is None


def test_latency_percentiles_in_ms() -> None:
    assert latency_ms([0.01, 0.03, 0.02]) == (20.0, 20.0)
    many = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    assert latency_ms(many) == (50.5, 95.0)
    with pytest.raises(ValueError, match="no latencies"):
        latency_ms([])


def test_from_baton_converts_to_per_workflow_ms() -> None:
    converted = from_baton(baton_output(), in_flight=8)
    assert converted == result(
        workflows_per_s=4.0,
        machine_cpu_ms=450.0,
        client_cpu_ms=60.0,
        pg_commits=64.2,
        kafka_read=420.5,
    )


def test_results_are_checked_and_frozen() -> None:
    with pytest.raises(ValidationError):
        PeerResult.model_validate(result().model_dump() | {"system": "Temporal"})
    with pytest.raises(ValidationError):
        PeerResult.model_validate(result().model_dump() | {"extra": 1})
    with pytest.raises(ValidationError):
        result().workflows = 1  # type: ignore[misc]


def test_median_over_runs() -> None:
    runs = [
        result(workflows_per_s=w, kafka_read=r) for w, r in ((3.0, 400), (5.0, 440), (4.0, 410))
    ]
    median = median_result(runs)
    assert (median.workflows_per_s, median.kafka_read) == (4.0, 410.0)
    assert median_result(runs[:1]) is runs[0]
    dbos = median_result([result("DBOS"), result("DBOS")])
    assert dbos.kafka_written is None
    with pytest.raises(ValueError, match="different"):
        median_result([result(), result("DBOS")])
    with pytest.raises(ValueError, match="no results"):
        median_result([])


def test_comparisons_per_level() -> None:
    results = [
        result(in_flight=64, workflows_per_s=4.0, machine_cpu_ms=450.0),
        result("DBOS", in_flight=64, workflows_per_s=64.0, machine_cpu_ms=15.0),
        result(in_flight=1),
    ]
    assert comparisons(results) == {
        1: {"workflows_per_s": None, "machine_cpu_per_workflow": None},
        64: {"workflows_per_s": 0.06, "machine_cpu_per_workflow": 30.0},
    }


def test_table_side_by_side() -> None:
    results = [
        result(in_flight=64, workflows_per_s=4.0, machine_cpu_ms=450.0),
        result("DBOS", in_flight=64, workflows_per_s=64.0, machine_cpu_ms=15.0, p50_ms=17.2),
        result(in_flight=8),
        result("DBOS", in_flight=8, workflows_per_s=80.0, machine_cpu_ms=1500.0),
    ]
    lines = render_table(results).splitlines()
    assert lines[0] == "| " + " | ".join(COLUMNS) + " |"
    assert lines[1].count("---") == len(COLUMNS)
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    assert [(c[0], c[1]) for c in cells] == [
        ("8", "Baton"),
        ("8", "DBOS"),
        ("64", "Baton"),
        ("64", "DBOS"),
    ]
    baton64, dbos64 = cells[2], cells[3]
    assert baton64[2:7] == ["4", "0.06x", "450", "30.00x", "60"]
    assert baton64[7:] == ["387", "520", "64", "256 / 420"]
    assert dbos64[2:7] == ["64", "", "15", "", "60"]
    assert dbos64[7] == "17.2"
    assert dbos64[-1] == "-"
    assert cells[0][4:6] == ["450", "0.30x"]
    assert cells[1][4] == "1,500"


def test_table_gives_the_spread_of_several_runs() -> None:
    results = [result(workflows_per_s=w) for w in (3.8, 4.4, 4.0)] + [
        result("DBOS", workflows_per_s=w) for w in (61.0, 69.0)
    ]
    cells = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in render_table(results).splitlines()[2:]
    ]
    assert cells[0][2:4] == ["4 (3.8-4.4)", "0.06x"]
    assert cells[1][2] == "65 (61-69)"


def test_dbos_url_replaces_the_database() -> None:
    dsn = "postgresql://baton:secret@db.local:55432/baton?sslmode=require"
    assert dbos_url(dsn, database="dbos_peers") == (
        "postgresql://baton:secret@db.local:55432/dbos_peers?sslmode=require"
    )
    assert dbos_url("postgres://u@h/", database="d") == "postgres://u@h/d"
    with pytest.raises(ValueError, match="DSN"):
        dbos_url("mysql://u@h/x", database="d")
    with pytest.raises(ValueError, match="database name"):
        dbos_url("postgresql://u@h/x", database="")


def test_dbos_is_imported_only_when_a_run_starts() -> None:
    code = "import sys, bench.peers.__main__; assert 'dbos' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
