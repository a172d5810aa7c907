"""The suite's broker and database are its own: other ports, files in another home.

Nothing here connects to the user's stack (it may be busy): the checks ask the suite's own
servers where they listen and keep their files, and ask a subprocess where it connects.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
from tests.stack import USE_CONFIGURED, user_settings, uses_configured_stack

from baton.config import LOCAL_KAFKA_PORT, LOCAL_PG_PORT, BatonSettings
from baton.stack import Stack
from baton.stack._pg_cluster import PgCluster

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        uses_configured_stack(os.environ),
        reason=f"{USE_CONFIGURED}=1: the suite uses the configured stack, on purpose",
    ),
]


def _ports(settings: BatonSettings) -> tuple[int, int]:
    kafka = int(settings.bootstrap.rsplit(":", 1)[1])
    return kafka, urlsplit(settings.dsn).port or 5432


def test_the_session_uses_another_home_and_other_ports_than_the_users(
    live_stack: BatonSettings,
) -> None:
    user = user_settings(os.environ)
    assert live_stack.home.resolve() != user.home.resolve()
    assert user.home.resolve() not in live_stack.home.resolve().parents
    kafka, pg = _ports(live_stack)
    assert {kafka, kafka + 1, kafka + 2, kafka + 3}.isdisjoint(
        {*_ports(user), LOCAL_KAFKA_PORT, LOCAL_KAFKA_PORT + 2, LOCAL_PG_PORT}
    )
    assert pg not in (_ports(user)[1], LOCAL_PG_PORT)
    assert (kafka, pg) == (live_stack.stack_kafka_port, live_stack.stack_pg_port)


async def test_the_database_the_tests_use_keeps_its_files_in_the_test_home(
    live_stack: BatonSettings,
) -> None:
    conn = await asyncpg.connect(live_stack.dsn, timeout=10)
    try:
        port = await conn.fetchval("select inet_server_port()")
        data_dir = Path(await conn.fetchval("select current_setting('data_directory')"))
    finally:
        await conn.close()
    assert port == live_stack.stack_pg_port != LOCAL_PG_PORT
    ours = PgCluster(root=live_stack.home / "postgres", port=port)
    users = PgCluster(root=user_settings(os.environ).home / "postgres")  # reads no server
    assert _same(data_dir, ours.data_dir)
    assert not _same(data_dir, users.data_dir)


def _same(one: Path, other: Path) -> bool:
    return one.resolve() == other.resolve()


def _inside(path: Path, home: Path) -> bool:
    return path.resolve().is_relative_to(home.resolve())


def _broker_config(pid: int) -> tuple[Path, dict[str, str]]:
    """The ``server.properties`` a running broker was started with, and its settings."""
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    config = Path(next(a.decode() for a in cmdline if a.endswith(b"server.properties")))
    lines = config.read_text().splitlines()
    return config, dict(line.split("=", 1) for line in lines if "=" in line)


async def test_the_broker_the_tests_use_runs_from_the_test_home(
    live_stack: BatonSettings,
) -> None:
    report = await Stack(settings=live_stack).status_async()
    assert report.kafka.state == "running"
    assert report.kafka.endpoint == f"127.0.0.1:{live_stack.stack_kafka_port}"
    if report.kafka.pid is None:  # started outside any test session: nothing more to see
        return
    # The broker process itself: its configuration file, and what that file says.
    config, props = _broker_config(report.kafka.pid)
    assert _inside(config, live_stack.home)
    assert props["listeners"].startswith(f"PLAINTEXT://127.0.0.1:{live_stack.stack_kafka_port},")
    assert _inside(Path(props["log.dirs"]), live_stack.home)


async def test_subprocesses_connect_to_the_test_stack(live_stack: BatonSettings) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "baton",
        "stack",
        "status",
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    report = json.loads(out)
    assert report["home"] == str(live_stack.home)
    assert report["kafka"]["endpoint"] == live_stack.bootstrap
    assert report["postgres"]["endpoint"] == live_stack.dsn
    assert report["kafka"]["state"] == report["postgres"]["state"] == "running"
    user = user_settings(os.environ)
    assert live_stack.bootstrap != user.bootstrap
    assert live_stack.dsn != user.dsn
