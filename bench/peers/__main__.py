"""``python -m bench.peers``: Baton and DBOS Transact side by side, in turns, on one machine
and one PostgreSQL server (see :mod:`bench.peers`)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import orjson

from baton.config import BatonSettings
from bench.peers.dbos import DEFAULT_DATABASE, dbos_installed, dbos_url, run_dbos
from bench.peers.results import PeerResult, from_baton
from bench.peers.table import comparisons, render_table
from bench.workflows import run_without_logs as run_baton

__all__ = ["PeerOptions", "heading", "main", "parse_args", "run_peers"]

DESCRIPTION = """\
Baton and DBOS Transact side by side: the same workflows (--phases phases, each one
durable step that completes at once) at each number in flight, Baton first, then DBOS,
on the same PostgreSQL server.

Baton runs as `python -m bench.workflows` does: the five services as processes and
--agents agent workers, in a deployment of its own (topic prefix and schema, deleted at
the end). DBOS runs in this process, in the database --dbos-database on Baton's
PostgreSQL server (created when missing), each run in a schema of its own.

Before the measured runs each system runs --warmup workflows once, at the highest
number in flight, unmeasured: a broker that was just started spends its first minutes
compiling (the JVM's JIT took ~40 s of CPU in a fresh local broker), which would be billed
to whichever run comes first; a deployment that runs for months never pays it.

Prints, per number in flight: workflows/s of each and Baton/DBOS, CPU per workflow of
the whole machine (broker and PostgreSQL included; with its ratio) and of this process,
p50/p95 create -> completed latency, PostgreSQL commits per workflow, and Kafka records
written / read per workflow (Baton). Needs the local stack (`baton stack up`) or
BATON_KAFKA_BOOTSTRAP / BATON_PG_DSN, and the `peers` dependency group
(scripts/bench-peers.sh sets both up).
"""


@dataclass(frozen=True, kw_only=True)
class PeerOptions:
    """What to run.

    Attributes:
        in_flight: The numbers of workflows in flight to measure at, in order.
        workflows: Workflows per run at each number in flight but 1.
        workflows_at_1: Workflows per run at 1 in flight.
        phases: Phases (durable steps) per workflow.
        agents: Baton's agent workers; None: as many as workflows in flight, at least 8
            (each workflow holds one of the pool's agents while it runs, so fewer agents
            than workflows in flight would queue workflows that DBOS runs at once).
        runs: Runs of each system at each number in flight.
        warmup: Workflows each system runs, unmeasured, before the measured runs (at
            the highest number in flight); 0: none.
        dbos_database: The database DBOS uses on Baton's PostgreSQL server.
        json: Print the results as JSON instead of the table.
    """

    in_flight: tuple[int, ...] = (1, 8, 64)
    workflows: int = 200
    workflows_at_1: int = 40
    phases: int = 3
    agents: int | None = None
    runs: int = 1
    warmup: int = 200
    dbos_database: str = DEFAULT_DATABASE
    json: bool = False

    def count(self, in_flight: int) -> int:
        """Workflows per run at ``in_flight``."""
        return self.workflows_at_1 if in_flight == 1 else self.workflows

    def agents_at(self, in_flight: int) -> int:
        """Baton's agent workers at ``in_flight``."""
        return self.agents if self.agents is not None else max(8, in_flight)


def _at_least(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be at least {least}: {value}")
    return value


def _positive(text: str) -> int:
    return _at_least(text, 1)


def _not_negative(text: str) -> int:
    return _at_least(text, 0)


def _levels(text: str) -> tuple[int, ...]:
    levels = tuple(_positive(part.strip()) for part in text.split(",") if part.strip())
    if not levels:
        raise argparse.ArgumentTypeError("expected numbers separated by commas, e.g. 1,8,64")
    return levels


def parse_args(argv: Sequence[str] | None = None) -> PeerOptions:
    """The options of ``argv`` (the command line when ``None``); exits on bad input."""
    defaults = PeerOptions()
    parser = argparse.ArgumentParser(
        prog="python -m bench.peers",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add(
        "--in-flight",
        type=_levels,
        default=defaults.in_flight,
        metavar="N,N,...",
        help="numbers of workflows in flight to measure at (default: 1,8,64)",
    )
    add(
        "--workflows",
        type=_positive,
        default=defaults.workflows,
        metavar="N",
        help="workflows per run at each number in flight but 1 (default: %(default)s)",
    )
    add(
        "--workflows-at-1",
        type=_positive,
        default=defaults.workflows_at_1,
        metavar="N",
        help="workflows per run at 1 in flight (default: %(default)s)",
    )
    add(
        "--phases",
        type=_positive,
        default=defaults.phases,
        metavar="N",
        help="phases per workflow, one durable step each (default: %(default)s)",
    )
    add(
        "--agents",
        type=_positive,
        default=defaults.agents,
        metavar="N",
        help="Baton's agent workers (default: as many as workflows in flight, at least 8: "
        "a running workflow holds one agent of the pool)",
    )
    add(
        "--runs",
        type=_positive,
        default=defaults.runs,
        metavar="N",
        help="runs of each system at each number in flight; the table gives medians "
        "and the spread of workflows/s (default: %(default)s)",
    )
    add(
        "--warmup",
        type=_not_negative,
        default=defaults.warmup,
        metavar="N",
        help="workflows each system runs unmeasured first, at the highest number in "
        "flight, so that neither is measured cold (default: %(default)s; 0: none)",
    )
    add(
        "--dbos-database",
        default=defaults.dbos_database,
        metavar="NAME",
        help="DBOS's database on Baton's PostgreSQL server (default: %(default)s)",
    )
    add("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    return PeerOptions(
        in_flight=args.in_flight,
        workflows=args.workflows,
        workflows_at_1=args.workflows_at_1,
        phases=args.phases,
        agents=args.agents,
        runs=args.runs,
        warmup=args.warmup,
        dbos_database=args.dbos_database,
        json=args.json,
    )


def _progress(text: str) -> None:
    print(f"bench.peers: {text}", file=sys.stderr, flush=True)


async def run_peers(*, options: PeerOptions) -> list[PeerResult]:
    """The warm-up, then every run: at each number in flight, Baton then DBOS,
    ``options.runs`` times over."""
    settings = BatonSettings.from_env(os.environ)
    url = dbos_url(settings.dsn, database=options.dbos_database)
    results: list[PeerResult] = []
    if options.warmup:
        level = max(options.in_flight)
        _progress(f"warm-up, {level} in flight: Baton then DBOS, {options.warmup} workflows each")
        await run_baton(options.warmup, options.phases, options.agents_at(level), level)
        await run_dbos(url=url, workflows=options.warmup, phases=options.phases, in_flight=level)
    for run in range(1, options.runs + 1):
        for level in options.in_flight:
            count = options.count(level)
            _progress(f"run {run}/{options.runs}, {level} in flight: Baton, {count} workflows")
            raw = await run_baton(count, options.phases, options.agents_at(level), level)
            results.append(from_baton(raw, in_flight=level))
            _progress(f"run {run}/{options.runs}, {level} in flight: DBOS, {count} workflows")
            results.append(
                await run_dbos(url=url, workflows=count, phases=options.phases, in_flight=level)
            )
    return results


def heading(options: PeerOptions) -> str:
    """One line saying what the table measured."""
    counts = ", ".join(f"{options.count(level)} at {level}" for level in options.in_flight)
    agents = ", ".join(str(options.agents_at(level)) for level in options.in_flight)
    return (
        f"{options.phases}-phase workflows (one durable step each), workflows per run: "
        f"{counts} in flight; Baton with {agents} agents; {options.runs} run(s) "
        f"each; {os.cpu_count()} cores"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run the comparison and print the table (or JSON)."""
    options = parse_args(argv)
    if not dbos_installed():
        sys.exit(
            "bench.peers: DBOS Transact is not installed; run scripts/bench-peers.sh, "
            "or `uv sync --extra all --group peers` first"
        )
    results = asyncio.run(run_peers(options=options))
    if options.json:
        document = {
            "options": asdict(options),
            "results": [r.model_dump() for r in results],
            "baton_over_dbos": comparisons(results),
        }
        sys.stdout.write(
            orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
            + "\n"
        )
        return
    print(heading(options))
    print()
    print(render_table(results))


if __name__ == "__main__":
    main()
