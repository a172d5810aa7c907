"""Benchmark: what the five services cost with nothing to do.

Starts every service (each its own process, as in :mod:`bench.workflows`) on a fresh
deployment, waits until each is ready and has settled, then measures for ``--seconds`` the
CPU each service process uses, and the whole machine's (the broker and PostgreSQL
included, reported apart as the rest). Nothing is published meanwhile: what is measured is
polling, heartbeats, health checks, timers and the consumers' idle fetches.

Run: ``python -m bench.idle [--seconds S] [--settle S] [--json]`` (the local stack must be
up, or BATON_KAFKA_BOOTSTRAP / BATON_PG_DSN set).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any

from baton.demo import ServiceSupervisor
from bench.report import print_result
from bench.workflows import SERVICES, cpu_seconds, deployment, machine_busy_seconds, remove


async def run(seconds: float, settle: float) -> dict[str, Any]:
    settings, env = await deployment()
    logs = Path(tempfile.mkdtemp(prefix="baton-bench-idle-"))
    supervisor = ServiceSupervisor(
        services=SERVICES, env=env, log_dir=logs, on_line=lambda service, line: None
    )
    try:
        async with supervisor:
            await asyncio.sleep(settle)
            pids = {name: supervisor.pid(name) for name in SERVICES}
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            busy_before = machine_busy_seconds()
            await asyncio.sleep(seconds)
            used = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
            machine = machine_busy_seconds() - busy_before
    finally:
        await remove(settings)
    services = sum(used.values())
    return {
        "seconds": seconds,
        "cores_by_service": {name: round(cpu / seconds, 4) for name, cpu in used.items()},
        "cores_services": round(services / seconds, 4),
        "cores_rest_of_machine (broker, PostgreSQL, others)": round(
            (machine - services) / seconds, 4
        ),
        "cores": os.cpu_count(),
        "logs": str(logs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to measure")
    parser.add_argument(
        "--settle", type=float, default=20.0, help="seconds after ready before measuring"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    print_result(asyncio.run(run(args.seconds, args.settle)), as_json=args.json)


if __name__ == "__main__":
    main()
