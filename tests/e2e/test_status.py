"""The status service as a process: API, live stream, CLI, schemathesis, kill -9 (issue 4)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from baton.bus import Bus
from baton.config import BatonSettings
from baton.db import Database
from baton_status.projection import apply
from baton_status.views import WorkflowView
from tests.behaviour.helpers import eventually, eventually_async
from tests.e2e.agents import Decision, EventLog, SimAgents
from tests.e2e.harness import Cluster
from tests.e2e.test_helpers_cli import baton
from tests.e2e.test_hub_resource import hub, until_status

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def definition(name: str, *, agents: int = 1) -> dict[str, object]:
    return {
        "workflow_id": name,
        "name": name,
        "priority": "medium",
        "phases": ["research", "implementation", "testing"],
        "resource_requirements": {"agents": agents, "duration": "1h"},
    }


async def api(port: int, path: str) -> Any:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"http://127.0.0.1:{port}{path}")
        response.raise_for_status()
        return response.json()


async def test_status_api_stream_cli_and_openapi(
    e2e_env: dict[str, str], client: tuple[Bus, SimAgents, EventLog], log_dir: Path
) -> None:
    bus, agents, _ = client
    hold = {"slow_001"}
    agents.policy = lambda e: Decision("ignore") if e.workflow_id in hold else Decision(delay=0.2)
    agents.attach()
    env = {**e2e_env, "BATON_RESOURCE_POOLS": '{"agents": 2}'}
    async with Cluster(["resource", "hub", "status"], env=env, log_dir=log_dir) as cluster, bus:
        port = cluster["status"].port
        await hub(
            bus, "CREATE_WORKFLOW", "slow_001", {"definition": definition("slow_001", agents=2)}
        )
        await until_status(bus, "slow_001", "STARTED")
        await hub(bus, "CREATE_WORKFLOW", "next_002", {"definition": definition("next_002")})
        await until_status(bus, "next_002", "QUEUED")

        async def listed() -> dict[str, Any]:
            return {w["workflow_id"]: w for w in (await api(port, "/api/workflows"))["workflows"]}

        async def both_listed() -> bool:
            return set(await listed()) == {"slow_001", "next_002"}

        await eventually_async(both_listed, what="both workflows listed")
        rows = await listed()
        assert rows["slow_001"]["status"] == "STARTED"
        assert rows["next_002"]["status"] == "QUEUED"
        assert rows["next_002"]["queue_position"] == 1
        detail = await api(port, "/api/workflows/slow_001?detailed=true&include_dependencies=true")
        assert [p["name"] for p in detail["phases"]] == ["research", "implementation", "testing"]
        assert detail["timeline"][0]["event_type"] == "WORKFLOW_CREATED"
        assert detail["critical_path"]["tasks"]
        assert detail["estimate"]["method"]
        overview = await api(port, "/api/overview")
        assert overview["counts"].get("STARTED") == 1
        assert [q["workflow_id"] for q in overview["queue"]] == ["next_002"]

        # The live stream announces changes as they happen.
        seen: list[dict[str, Any]] = []

        async def follow() -> None:
            async with (
                httpx.AsyncClient(timeout=None) as http,
                http.stream("GET", f"http://127.0.0.1:{port}/api/stream") as response,
            ):
                kind = ""
                async for line in response.aiter_lines():
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: ") and kind == "workflow":
                        seen.append(json.loads(line[6:]))

        watcher = asyncio.create_task(follow())
        await asyncio.sleep(0.5)
        hold.clear()
        for assignment in [a for a in agents.assignments if a.workflow_id == "slow_001"]:
            await agents._on_assigned(assignment)
        await until_status(bus, "next_002", "COMPLETED")
        await eventually(
            lambda: any(
                s["workflow_id"] == "next_002" and s["status"] == "COMPLETED" for s in seen
            ),
            what="stream shows completion",
        )
        watcher.cancel()
        progress = [s["progress"] for s in seen if s["workflow_id"] == "slow_001"]
        assert progress == sorted(progress)
        assert progress[-1] == 100.0

        code, state, err = await baton(
            env, "workflow-status", "slow_001", "--detailed", "--include-dependencies", "--json"
        )
        assert code == 0, err
        assert state["status"] == "COMPLETED"
        code, view, err = await baton(
            env,
            "progress-aggregator",
            "system-overview",
            "--include-conflicts",
            "--resource-analysis",
            "--json",
        )
        assert code == 0, err
        assert view["counts"]["COMPLETED"] == 2
        assert (await baton(env, "workflow-status", "nope_404", "--json"))[0] == 1

        # Schemathesis against the live OpenAPI document: no server error anywhere.
        proc = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "st"),
            "run",
            f"http://127.0.0.1:{port}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "40",
            "--exclude-path",
            "/api/stream",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 180)
        (log_dir / "schemathesis.txt").write_bytes(out)
        assert proc.returncode == 0, out.decode()[-3000:]


async def test_kill_9_of_status_mid_stream_leaves_the_same_read_model(
    e2e_env: dict[str, str], client: tuple[Bus, SimAgents, EventLog], log_dir: Path
) -> None:
    bus, agents, events = client
    agents.policy = lambda e: Decision(delay=0.2)
    agents.attach()
    events.attach()
    names = [f"rm_{i:02d}" for i in range(6)]
    env = {**e2e_env, "BATON_RESOURCE_POOLS": '{"agents": 4}'}
    async with Cluster(["resource", "hub", "status"], env=env, log_dir=log_dir) as cluster, bus:
        creating = asyncio.gather(
            *(hub(bus, "CREATE_WORKFLOW", n, {"definition": definition(n)}) for n in names)
        )
        await asyncio.sleep(1.5)
        await cluster["status"].kill9()
        await asyncio.sleep(1.0)
        await cluster["status"].start()
        await creating
        for name in names:
            await until_status(bus, name, "COMPLETED", timeout=90)
        port = cluster["status"].port

        async def caught_up() -> bool:
            rows = (await api(port, "/api/workflows"))["workflows"]
            return len(rows) == len(names) and all(r["status"] == "COMPLETED" for r in rows)

        await eventually_async(caught_up, timeout=60, what="the read model caught up")
        await asyncio.sleep(1.0)  # the last events (deallocations) land

    settings = BatonSettings.from_env(e2e_env)
    async with Database(dsn=settings.dsn, schema=settings.db_schema) as db:
        rows = await db.pool.fetch("select view from status_workflows")
    stored = {v.workflow_id: v for v in (WorkflowView.model_validate(r["view"]) for r in rows)}
    # The uninterrupted run: every event of each workflow, once, in its partition's order.
    reference: dict[str, WorkflowView] = {}
    for event in {e.event_id: e for e in events.events}.values():
        if event.workflow_id == "global":
            continue
        view = apply(reference.get(event.workflow_id), event)
        if view is not None:
            reference[event.workflow_id] = view
    assert set(stored) == set(reference) == set(names)
    for name in names:
        assert stored[name].model_dump(mode="json") == reference[name].model_dump(mode="json"), name
