"""Packaging: ``pip install baton`` is the client library; the services, the command and the
local stack come with the ``server`` extra.

The client API and its test kit (``baton.testing``) are imported and used (a worker started
on an in-memory broker, then tested against the stand-in hub) in a process
where every package of the extra fails to import, as in an environment without it; the
command, in such a process, names the extra to install.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

from baton.cli import SERVER_EXTRA

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))

# Import names of what the server extra brings (and of what those bring: click, starlette,
# mode), none of which the client library may need.
SERVER_MODULES = (
    "faust",
    "mode",
    "fastapi",
    "starlette",
    "uvicorn",
    "asyncpg",
    "typer",
    "click",
    "rich",
    "yaml",
    "httpx",
    "prometheus_client",
    "opentelemetry.sdk",
    "opentelemetry.exporter",
)
CLIENT_DEPENDENCIES = {
    "aiokafka",
    "pydantic",
    "pydantic-settings",
    "orjson",
    "opentelemetry-api",
    "cryptography",
}

BLOCKER = textwrap.dedent(
    f"""
    import importlib.abc, sys

    BLOCKED = {SERVER_MODULES!r}

    class WithoutServerExtra(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, WithoutServerExtra())
    """
)

CLIENT_USE = textwrap.dedent(
    """
    import asyncio

    import baton
    from baton import AgentWorker, BatonClient, BatonSettings, MemoryTransport, Task
    import baton.bus, baton.client, baton.config, baton.errors, baton.protocol, baton.security
    import baton.testing
    from baton.testing import AgentTestEnvironment

    for name in baton.__all__:
        getattr(baton, name)

    async def handle(task: Task) -> dict[str, str]:
        return {}

    async def main() -> None:
        settings = BatonSettings(topic_prefix="slim")
        client = BatonClient(component="slim", settings=settings, transport=MemoryTransport())
        async with AgentWorker(client=client, agent_id="slim_1", handler=handle):
            await client.publish(event_type="SLIM_CHECK", workflow_id="wf-1")
        async with AgentTestEnvironment() as env:  # an agent's own tests need no extra either
            async with AgentWorker(client=env.client(), agent_id="slim_2", handler=handle):
                await env.hub.assign("t1", agent="slim_2")
                await env.hub.wait_for("TASK_COMPLETED", task_id="t1")

    asyncio.run(main())
    loaded = sorted(
        m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in BLOCKED)
    )
    print("loaded:", loaded)
    """
)


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


def test_the_client_api_works_without_the_server_extra() -> None:
    done = _run(CLIENT_USE)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "loaded: []"


def test_the_blocker_does_block_what_the_services_need() -> None:
    """The check above is only as good as its blocker: a service module fails behind it."""
    done = _run("import baton.runtime")
    assert done.returncode != 0
    assert "ModuleNotFoundError" in done.stderr


def test_the_command_names_the_extra_it_needs() -> None:
    for args in (["--help"], ["serve", "hub"]):
        done = _run("import sys\nsys.argv[0] = 'baton'\nfrom baton.cli import main\nmain()", *args)
        assert done.returncode == 1, (args, done.stderr)
        assert f"pip install 'baton[{SERVER_EXTRA}]'" in done.stderr, args
        assert "Traceback" not in done.stderr, args


def test_the_package_is_the_client_and_its_extras_the_rest() -> None:
    project = PYPROJECT["project"]
    assert project["requires-python"] == ">=3.11"
    names = {
        requirement.split("[")[0].split(">")[0].split("<")[0].split("=")[0]
        for requirement in project["dependencies"]
    }
    assert names == CLIENT_DEPENDENCIES
    extras = project["optional-dependencies"]
    assert extras["all"] == [f"baton[{SERVER_EXTRA}]"]
    server = " ".join(extras[SERVER_EXTRA])
    for needed in ("faust-streaming", "fastapi", "uvicorn", "asyncpg", "typer", "rich"):
        assert needed in server
    assert PYPROJECT["project"]["scripts"]["baton"] == "baton.cli:main"


def test_the_projects_own_installs_take_every_extra() -> None:
    """The development environment and CI take `all`, the image the services' `server`."""
    for script in ("scripts/bootstrap.sh", "scripts/bench-peers.sh"):
        syncs = [
            line
            for line in (ROOT / script).read_text("utf-8").splitlines()
            if line.startswith("uv sync")
        ]
        assert syncs, script
        assert all("--extra all" in line for line in syncs), (script, syncs)
    dockerfile = (ROOT / "Dockerfile").read_text("utf-8")
    syncs = [line for line in dockerfile.splitlines() if "uv sync" in line]
    assert len(syncs) == 2
    assert all(f"--extra {SERVER_EXTRA}" in line for line in syncs), syncs
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text("utf-8")
    assert "scripts/bootstrap.sh" in (ROOT / "scripts" / "test.sh").read_text("utf-8")
