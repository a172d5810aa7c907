"""Two status replicas in one consumer group (issue 17): each writes its share of the
partitions, but both serve every workflow, agree, and stream every change."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from baton.bus import Bus
from baton.config import BatonSettings
from tests.behaviour.helpers import eventually, eventually_async
from tests.e2e.agents import EventLog, SimAgents
from tests.e2e.groups import readers
from tests.e2e.harness import ServiceProcess
from tests.unit.status.helpers import simulate

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

WORKFLOWS = 12


async def api(port: int, path: str) -> Any:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"http://127.0.0.1:{port}{path}")
        response.raise_for_status()
        return response.json()


async def assignments(settings: BatonSettings, group: str) -> list[set[int]]:
    """The events-topic partitions of each replica (member reading it) of ``group``."""
    _, owned = await readers(
        bootstrap=settings.bootstrap, group=group, topic=settings.topics.events
    )
    return owned


class Stream:
    """The ``workflow`` messages of one replica's ``/api/stream``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.lines: list[dict[str, Any]] = []
        self.open = asyncio.Event()
        self.task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        async with (
            httpx.AsyncClient(timeout=None) as http,
            http.stream("GET", f"http://127.0.0.1:{self.port}/api/stream") as response,
        ):
            kind = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    self.open.set()  # the first message (an overview): subscribed
                    if kind == "workflow":
                        self.lines.append(json.loads(line[6:]))

    def completed(self) -> set[str]:
        return {s["workflow_id"] for s in self.lines if s["status"] == "COMPLETED"}


def definition(name: str) -> dict[str, Any]:
    return {
        "workflow_id": name,
        "name": name,
        "workflow_type": "replicated",
        "phases": ["build", "test"],
        "tasks": [{"task_id": "b", "phase": "build"}, {"task_id": "t", "phase": "test"}],
    }


async def test_two_replicas_serve_and_stream_every_workflow(
    e2e_env: dict[str, str], client: tuple[Bus, SimAgents, EventLog], log_dir: Path
) -> None:
    bus, _, _ = client
    settings = BatonSettings.from_env(e2e_env)
    replicas = [
        ServiceProcess("status", env=e2e_env, log_dir=log_dir, instance=f"status-{n}")
        for n in ("a", "b")
    ]
    streams: list[Stream] = []
    try:
        await asyncio.gather(*(r.start() for r in replicas))
        group = f"{settings.topic_prefix}.status"

        async def split() -> bool:
            owned = await assignments(settings, group)
            return len(owned) == 2 and all(owned) and set.union(*owned) == {0, 1}

        await eventually_async(split, timeout=60, what="each replica owns a partition")
        streams = [Stream(r.port) for r in replicas]
        for stream in streams:
            await asyncio.wait_for(stream.open.wait(), 30)

        names = [f"rep_{i:02d}" for i in range(WORKFLOWS)]
        start = datetime.now(UTC) - timedelta(minutes=5)
        partitions: set[int] = set()
        async with bus:
            for i, name in enumerate(names):
                run = simulate(definition(name), {"b": 1.0, "t": 2.0}, start=start)
                start += timedelta(seconds=i)
                for event in run.events:
                    partitions.add((await bus.publish(event)).partition)
        assert partitions == {0, 1}  # both replicas have workflows to write

        async def all_listed() -> bool:
            for replica in replicas:
                rows = (await api(replica.port, "/api/workflows"))["workflows"]
                if {r["workflow_id"] for r in rows if r["status"] == "COMPLETED"} != set(names):
                    return False
            return True

        await eventually_async(all_listed, timeout=60, what="every replica lists every workflow")
        lists = [await api(r.port, "/api/workflows") for r in replicas]
        assert lists[0] == lists[1]
        assert lists[0]["total"] == WORKFLOWS
        assert [w["workflow_id"] for w in lists[0]["workflows"]] == names[::-1]
        for name in names[:3]:
            details = [await api(r.port, f"/api/workflows/{name}") for r in replicas]
            assert details[0] == details[1]
            assert details[0]["progress"] == 100.0
        overviews = [await api(r.port, "/api/overview") for r in replicas]
        assert [o["counts"] for o in overviews] == [{"COMPLETED": WORKFLOWS}] * 2
        # Pages of 5 with cursors, alternating replicas: one walk over all of them.
        walked: list[str] = []
        path = "/api/workflows?limit=5"
        for turn in range(10):
            page = await api(replicas[turn % 2].port, path)
            walked += [w["workflow_id"] for w in page["workflows"]]
            if page["next_cursor"] is None:
                break
            path = f"/api/workflows?limit=5&cursor={page['next_cursor']}"
        assert walked == names[::-1]

        # Each stream showed every completion: its own replica's writes and the other's.
        for stream in streams:
            await eventually(
                lambda s=stream: s.completed() == set(names),  # type: ignore[misc]
                timeout=30,
                what=f"stream of port {stream.port} shows every workflow complete",
            )
            for name in names:
                progress = [s["progress"] for s in stream.lines if s["workflow_id"] == name]
                assert progress == sorted(progress), (name, progress)
    finally:
        for stream in streams:
            stream.task.cancel()
        codes = await asyncio.gather(*(r.stop() for r in replicas))
    assert codes == [0, 0], [r.tail() for r in replicas]
