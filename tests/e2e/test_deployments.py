"""Two deployments (topic prefixes) on one PostgreSQL database share no rows (issue 17.2).

Seen on main: a benchmark run under another prefix on the same database took agents from
the default deployment's pool (filled to 125 %), and its workflows showed up in the other
deployment's views. Here two deployments run their resource manager and status service
as processes against the same database; each has its own schema (named after its prefix).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.bus import Bus
from baton.config import BatonSettings
from tests.behaviour.helpers import eventually_async
from tests.e2e.conftest import deployment
from tests.e2e.harness import Cluster
from tests.e2e.test_overview_resources import allocate, ask, figures
from tests.e2e.test_status import api

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

POOLS = '{"agents": 4, "memory_gb": 16}'
CREATED = "WORKFLOW_CREATED:{name}:setup:{{'name':'{name}','priority':'high','phases':['p1']}}"


async def agents(bus: Bus) -> tuple[float, float]:
    """(used, capacity) of the agents pool, as the deployment's resource manager says."""
    return figures((await ask(bus, "resource", "RESOURCE_STATUS", "global"))["pools"])["agents"]


async def listed(port: int) -> set[str]:
    return {w["workflow_id"] for w in (await api(port, "/api/workflows"))["workflows"]}


async def test_two_deployments_on_one_database_have_their_own_pools_and_views(
    live_stack: BatonSettings, e2e_env: dict[str, str], log_dir: Path
) -> None:
    async with deployment(live_stack, log_dir=log_dir / "other") as other_env:
        env_a = {**e2e_env, "BATON_RESOURCE_POOLS": POOLS}
        env_b = {**other_env, "BATON_RESOURCE_POOLS": POOLS}
        assert env_a["BATON_PG_DSN"] == env_b["BATON_PG_DSN"]  # one database
        assert env_a["BATON_PG_SCHEMA"] != env_b["BATON_PG_SCHEMA"]
        bus_a = Bus(settings=BatonSettings.from_env(env_a, component="e2e-a"))
        bus_b = Bus(settings=BatonSettings.from_env(env_b, component="e2e-b"))
        cluster_a = Cluster(["resource", "status"], env=env_a, log_dir=log_dir)
        cluster_b = Cluster(["resource", "status"], env=env_b, log_dir=log_dir / "other")
        async with cluster_a, cluster_b, bus_a, bus_b:
            # A fills its pool; B's pool is untouched and all of it can be granted.
            assert await allocate(bus_a, "wf_a1", 3) == "approved"
            assert await allocate(bus_a, "wf_a2", 1) == "approved"
            assert await agents(bus_a) == (4.0, 4.0)
            assert await agents(bus_b) == (0.0, 4.0)
            assert await allocate(bus_b, "wf_b1", 4) == "approved"
            assert await agents(bus_a) == (4.0, 4.0)
            assert await agents(bus_b) == (4.0, 4.0)

            # A's workflows are in A's views only, also for a status service that
            # (re)reads its store at start.
            for name in ("wf_a1", "wf_a2"):
                await bus_a.publish(CREATED.format(name=name))
            await bus_b.publish(CREATED.format(name="wf_b1"))
            port_a = cluster_a["status"].port

            async def a_listed() -> bool:
                return await listed(port_a) == {"wf_a1", "wf_a2"}

            await eventually_async(a_listed, timeout=60, what="A's views")
            await cluster_b["status"].stop()
            await cluster_b["status"].start()
            port_b = cluster_b["status"].port

            async def b_listed() -> bool:
                return await listed(port_b) == {"wf_b1"}

            await eventually_async(b_listed, timeout=60, what="B's views, B's only")
            assert await listed(port_a) == {"wf_a1", "wf_a2"}
