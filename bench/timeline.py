"""Where a workflow's time goes: every record one workflow causes, in order, with the
median gap before it.

Runs :func:`bench.workflows.run` while a plain aiokafka consumer reads every topic of the
run's deployment from the start, groups the records by workflow, orders each workflow's by
their timestamps (set by the producer that wrote them) and prints, for each record of a
workflow (its kind and occurrence), when it came (median, ms after the workflow's first
record) and the median and p90 gap since the record before it: the time between a record
and the one it caused is what the service in between took (consume, decide, commit,
relay, send).

Run: ``python -m bench.timeline [--workflows N] [--phases P] [--concurrency C] [--json]``
(the local stack must be up, or BATON_KAFKA_BOOTSTRAP / BATON_PG_DSN set).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import statistics
import sys
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from baton.config import BatonSettings
from bench import workflows

_TOPICS = r"^bench_[0-9a-f]{6}\..*"


async def _watch(settings: BatonSettings, seen: list[tuple[int, str, str, str]]) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        metadata_max_age_ms=300,
    )
    consumer.subscribe(pattern=_TOPICS)
    await consumer.start()
    read: set[tuple[str, int, int]] = set()
    try:
        async for record in consumer:
            # A topic made meanwhile (the monitor's) changes the subscription, and the client
            # then reads the others again from the start: count each record once.
            where = (record.topic, record.partition, record.offset)
            if where in read:
                continue
            read.add(where)
            topic = record.topic.split(".", 1)[1]
            value = record.value or b""
            parts = value.split(b":", 3)
            if len(parts) < 3:
                continue
            kind, workflow = parts[0].decode(), parts[1].decode()
            seen.append((record.timestamp, topic, kind, workflow))
    finally:
        await consumer.stop()


def hops(seen: list[tuple[int, str, str, str]], *, skip: int = 2) -> dict[str, Any]:
    """Each record of a workflow (its kind and how many of that kind came before it), in the
    median order, with the gap since the workflow's record before it (ms)."""
    by_workflow: dict[str, list[tuple[int, str]]] = collections.defaultdict(list)
    for ts, topic, kind, workflow in seen:
        if workflow.startswith("bench_"):
            by_workflow[workflow].append((ts, f"{topic} {kind}"))
    gaps: dict[str, list[int]] = collections.defaultdict(list)
    offsets: dict[str, list[int]] = collections.defaultdict(list)
    totals: list[int] = []
    for workflow in sorted(by_workflow)[skip:]:  # the first ones warm the services up
        records = sorted(by_workflow[workflow])
        counts: collections.Counter[str] = collections.Counter()
        for i, (ts, label) in enumerate(records):
            counts[label] += 1
            name = f"{label} #{counts[label]}"
            gaps[name].append(ts - records[i - 1][0] if i else 0)
            offsets[name].append(ts - records[0][0])
        totals.append(records[-1][0] - records[0][0])
    if not totals:
        return {"workflows": 0, "hops": []}
    order = sorted(gaps, key=lambda name: statistics.median(offsets[name]))
    rows = []
    for name in order:
        ordered = sorted(gaps[name])
        rows.append(
            {
                "record": name,
                "at_ms_p50": statistics.median(offsets[name]),
                "gap_ms_p50": statistics.median(ordered),
                "gap_ms_p90": ordered[int(0.9 * (len(ordered) - 1))],
            }
        )
    return {
        "workflows": len(totals),
        "first_to_last_ms_p50": statistics.median(totals),
        "hops": rows,
    }


async def main(count: int, phases: int, concurrency: int) -> dict[str, Any]:
    seen: list[tuple[int, str, str, str]] = []
    settings = BatonSettings.from_env(os.environ)
    watcher = asyncio.create_task(_watch(settings, seen))
    try:
        result = await workflows.run(count, phases, 8, concurrency)
        await asyncio.sleep(1.0)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    return {"run": {k: result[k] for k in ("workflows_per_s", "latency_p50_s")}, **hops(seen)}


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=30)
    parser.add_argument("--phases", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out = asyncio.run(main(args.workflows, args.phases, args.concurrency))
    if args.json:
        sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    print(f"{out['run']}  workflows measured: {out['workflows']}")
    print(f"first record to last, p50: {out.get('first_to_last_ms_p50')} ms")
    print(f"{'at p50':>8} {'gap p50':>8} {'gap p90':>8}  record (ms)")
    for row in out["hops"]:
        print(
            f"{row['at_ms_p50']:>8} {row['gap_ms_p50']:>8} {row['gap_ms_p90']:>8}  {row['record']}"
        )


if __name__ == "__main__":
    cli()
