"""Benchmark: what one more consumer group reading the events topic costs, per record.

Publishes ``--rate`` events a second for ``--seconds`` seconds (a workflow system's steady
trickle: each record alone in its fetch) while ``--groups`` bus consumer groups in this
process read the topic with a pattern that matches none of them (as the resource manager
reads every event to find the few it wants), answering their fetches at once or after
gathering ``--gather-ms``. Prints the CPU of this process (publisher + groups) and of the
broker, per record read, with no groups as the baseline: the cost of a reader that wants
few of the records it fetches.

Run: ``python -m bench.fanout [--groups 4] [--rate 100] [--seconds 10] [--gather-ms 0]
[--json]`` (the local stack must be up, or BATON_KAFKA_BOOTSTRAP set).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

from baton.bus import Bus
from baton.config import BatonSettings
from baton.protocol.event import Event
from baton.topics import create_topics, delete_topics
from bench.processes import stack_pids, tree_cpu_seconds
from bench.report import print_result


async def _nothing(events: list[Event]) -> None:  # pragma: no cover - never matched
    raise AssertionError("the pattern matches no event")


async def run(*, groups: int, rate: int, seconds: float, gather_ms: int | None) -> dict[str, float]:
    base = BatonSettings.from_env(os.environ)
    settings = base.model_copy(
        update={"topic_prefix": f"fanout_{uuid.uuid4().hex[:6]}", "partitions": 6}
    )
    await create_topics(settings=settings)
    broker_pid = (await stack_pids(settings)).get("broker")
    publisher = Bus(settings=settings)
    readers = Bus(settings=settings)
    for n in range(groups):
        readers.subscribe_batches(
            "never.*.matched", _nothing, group=f"reader{n}", gather_ms=gather_ms
        )
    await publisher.start()
    await readers.start()
    try:
        await asyncio.sleep(2)  # groups joined, connections warm
        cpu0, broker0 = time.process_time(), tree_cpu_seconds(broker_pid) if broker_pid else 0.0
        total = int(rate * seconds)
        start = time.monotonic()
        for n in range(total):
            await publisher.send(
                Event(
                    event_type="TASK_PROGRESS",
                    workflow_id=f"wf_{n % 64}",
                    phase="p",
                    data={"task_id": "t", "agent_id": "a", "progress_percentage": n % 100},
                )
            )
            await asyncio.sleep(max(0.0, start + (n + 1) / rate - time.monotonic()))
        await asyncio.sleep(1.0)  # the last fetches answered
        cpu = time.process_time() - cpu0
        broker = (tree_cpu_seconds(broker_pid) - broker0) if broker_pid else float("nan")
    finally:
        await readers.stop()
        await publisher.stop()
        await delete_topics(bootstrap=settings.bootstrap, prefix=settings.topic_prefix)
    return {"records": total, "process_cpu_s": round(cpu, 3), "broker_cpu_s": round(broker, 3)}


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    gather = args.gather_ms or None
    alone = await run(groups=0, rate=args.rate, seconds=args.seconds, gather_ms=gather)
    read = await run(groups=args.groups, rate=args.rate, seconds=args.seconds, gather_ms=gather)
    reads = read["records"] * args.groups
    return {
        "groups": args.groups,
        "gather_ms": args.gather_ms,
        "records": read["records"],
        "publisher_only": alone,
        "with_groups": read,
        "client_cpu_us_per_record_read": round(
            1e6 * (read["process_cpu_s"] - alone["process_cpu_s"]) / reads
        ),
        "broker_cpu_us_per_record_read": round(
            1e6 * (read["broker_cpu_s"] - alone["broker_cpu_s"]) / reads
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=4, help="consumer groups reading")
    parser.add_argument("--rate", type=int, default=100, help="events published a second")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to publish")
    parser.add_argument(
        "--gather-ms", type=int, default=0, help="let the broker gather (0: answer at once)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    print_result(asyncio.run(main_async(args)), as_json=args.json)


if __name__ == "__main__":
    main()
