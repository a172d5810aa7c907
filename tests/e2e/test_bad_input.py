"""Bad command input against running services: exit 2, the field named, never retried.

Each case goes through the CLI (a subprocess) and, where the CLI checks it first, also
straight to the service over the bus, so both sides are held to it. No case may leave a
traceback in the services' logs: bad input is the caller's mistake, not a server error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from baton.bus import Bus
from baton.config import BatonSettings
from baton.errors import RemoteError
from baton.protocol.event import Event
from tests.e2e.harness import Cluster
from tests.e2e.test_helpers_cli import baton

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

GOOD: dict[str, Any] = {
    "workflow_id": "bad_input_001",
    "name": "Bad input",
    "priority": "high",
    "phases": ["analysis", "migration"],
    "resource_requirements": {"agents": 1, "duration": "1h"},
}
MISSPELLED = {
    **{k: v for k, v in GOOD.items() if k != "resource_requirements"},
    "resource_requirments": {"agents": 1},
}
CYCLE = {
    **GOOD,
    "phases": ["analysis"],
    "tasks": [
        {"task_id": "a", "dependencies": ["b"]},
        {"task_id": "b", "dependencies": ["a"]},
    ],
}


def reason(stderr: str) -> dict[str, Any]:
    """The error object the CLI printed on stderr (its last JSON line)."""
    lines = [line for line in stderr.splitlines() if line.startswith("{")]
    assert lines, stderr
    found: dict[str, Any] = json.loads(lines[-1])
    return found


def assert_bad_input(code: int, stderr: str, *, field: str, says: str) -> None:
    """Exit 2, not retriable, ``field`` named with ``says`` in its message, no pydantic link."""
    assert code == 2, stderr
    error = reason(stderr)
    assert error["retriable"] is False, error
    if "remote" in error:  # the service's answer
        body = error["remote"]
        assert body["error"] == "BadInputError", error
        assert (body["retriable"], body["bad_input"]) == (False, True), error
    else:  # the CLI's own check, before asking
        body = error
    if "problems" in body:  # BadInputError: every wrong field
        named = {p["field"]: p["message"] for p in body["problems"]}
        assert body["field"] == field, error
    else:  # ProtocolError: the wrong part of the argument
        named = {body["part"]: body["message"]}
    assert field in named, error
    assert says in named[field], error
    assert "pydantic.dev" not in stderr
    assert "Traceback" not in stderr


async def ask(bus: Bus, service: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """The error payload a service answers ``data`` with (it must refuse it)."""
    request = Event(event_type=event_type, workflow_id="bad_input_001", phase="cli", data=data)
    with pytest.raises(RemoteError) as caught:
        await bus.request(request, service=service, timeout=30)
    assert caught.value.exit_code == 2
    assert caught.value.retriable is False
    return caught.value.error


async def test_bad_command_input_exits_2_naming_the_field_and_is_not_a_server_error(
    e2e_env: dict[str, str], log_dir: Path
) -> None:
    env = {**e2e_env, "BATON_RESOURCE_POOLS": '{"agents": 4}'}
    async with Cluster(["resource", "hub"], env=env, log_dir=log_dir):
        hub = ("coordination-hub", "create-workflow")
        urgent = json.dumps({**GOOD, "priority": "urgent"})
        code, _, err = await baton(env, *hub, urgent)
        assert_bad_input(code, err, field="definition.priority", says="'critical'")
        code, _, err = await baton(env, *hub, "bad_input_002", "--priority=urgent")
        assert_bad_input(code, err, field="definition.priority", says="'critical'")
        code, _, err = await baton(env, *hub, json.dumps(MISSPELLED))
        assert_bad_input(
            code, err, field="definition.resource_requirments", says="resource_requirements"
        )
        code, _, err = await baton(env, *hub, json.dumps(CYCLE))
        assert_bad_input(code, err, field="definition.tasks", says="a -> b -> a")

        allocate = ("resource-manager", "allocate")
        code, _, err = await baton(env, *allocate, "[1,2,3]")
        assert_bad_input(code, err, field="allocation_request", says="JSON object")
        code, _, err = await baton(env, *allocate, '{"priority": "high"}')
        assert_bad_input(code, err, field="allocation_request.workflow_id", says="required")
        code, _, err = await baton(env, *allocate, '{"workflow_id": "w1", "priority": "urgent"}')
        assert_bad_input(code, err, field="allocation_request.priority", says="'critical'")

        # The services check what the CLI checked first, too.
        settings = BatonSettings.from_env(env, component="e2e-client", request_timeout=30)
        async with Bus(settings=settings) as bus:
            definition = {**GOOD, "priority": 7}
            error = await ask(bus, "hub", "CREATE_WORKFLOW", {"definition": definition})
            assert error["field"] == "definition.priority"
            request = {"workflow_id": "w1", "priority": "urgent", "resources": {"agents": 1}}
            error = await ask(bus, "resource", "ALLOCATE", {"allocation_request": request})
            assert error["field"] == "allocation_request.priority"

            # Nothing was created; a good definition still is, and then takes no bad agents.
            code, listed, err = await baton(env, "coordination-hub", "list")
            assert (code, listed["workflows"]) == (0, []), err
            code, _, err = await baton(env, *hub, json.dumps(GOOD))
            assert code == 0, err
            error = await ask(bus, "hub", "ASSIGN_AGENTS", {"assignments": [{"role": "x"}]})
            assert error["field"] == "data.assignments[0].agent_id"
            error = await ask(bus, "hub", "REPORT_QUALITY_SCORE", {"task_id": "a", "score": "x"})
            assert error["field"] == "data.score"
    for service in ("hub", "resource"):
        log = (log_dir / f"{service}.log").read_text(errors="replace")
        assert "Traceback" not in log, log
        assert "responder failed" not in log, log
