"""Commands are named by their enums only, and each service's dispatch answers exactly its own."""

from __future__ import annotations

import ast
from enum import StrEnum
from pathlib import Path

import pytest

from baton.config import SERVICES
from baton.errors import HandlerError
from baton.protocol.commands import (
    COMMANDS,
    HubCommand,
    MonitorCommand,
    RecoveryCommand,
    ResourceCommand,
    StatusCommand,
    dispatch,
    reply_type,
)

ROOT = Path(__file__).parents[3]
SCANNED = ("shared", "services", "bench", "examples")
DEFINITION = ROOT / "shared" / "baton" / "protocol" / "commands"

DISPATCH: dict[type[StrEnum], list[tuple[str, str]]] = {
    HubCommand: [("services/baton_hub/command_handlers.py", "commands")],
    ResourceCommand: [("services/baton_resource/handlers.py", "commands")],
    StatusCommand: [("services/baton_status/runner.py", "commands")],
    MonitorCommand: [("services/baton_monitor/runner.py", "commands")],
    RecoveryCommand: [("services/baton_recovery/runner.py", "commands")],
}
"""Where each service maps its commands to their handlers."""


def _names() -> set[str]:
    return {c.value for kind in COMMANDS.values() for c in kind}


def test_every_service_has_its_commands_and_names_are_unique() -> None:
    assert set(COMMANDS) == set(SERVICES)
    assert sum(len(kind) for kind in COMMANDS.values()) == len(_names())
    assert set(DISPATCH) == set(COMMANDS.values())


def test_no_command_name_is_written_as_a_string_outside_its_enum() -> None:
    names = _names()
    found = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            if path.is_relative_to(DEFINITION):
                continue
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Constant) and node.value in names:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert not found, "use the command enums of baton.protocol.commands:\n" + "\n".join(found)


def _members_used(kind: type[StrEnum], path: str, function: str) -> set[StrEnum]:
    tree = ast.parse((ROOT / path).read_text())
    bodies = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == function
    ]
    assert len(bodies) == 1, f"{path} must define one {function}()"
    return {
        kind[n.attr]
        for n in ast.walk(bodies[0])
        if isinstance(n, ast.Attribute)
        and isinstance(n.value, ast.Name)
        and n.value.id == kind.__name__
    }


@pytest.mark.parametrize("kind", list(DISPATCH), ids=lambda k: k.__name__)
def test_each_service_dispatches_exactly_its_commands(kind: type[StrEnum]) -> None:
    used = set().union(*(_members_used(kind, path, fn) for path, fn in DISPATCH[kind]))
    assert used == set(kind)


async def _answer(request: str) -> str:
    return request


def test_dispatch_finds_the_handler_and_refuses_unknown_commands_by_name() -> None:
    handlers = {c: _answer for c in MonitorCommand}
    found = dispatch(handlers, kind=MonitorCommand, service="monitor", event_type="MONITOR_HEALTH")
    assert found is _answer
    with pytest.raises(HandlerError) as refused:
        dispatch(handlers, kind=MonitorCommand, service="monitor", event_type="NOPE")
    error = refused.value
    assert not error.retriable
    assert "unknown monitor command NOPE" in str(error)
    for command in MonitorCommand:
        assert command.value in str(error)


def test_reply_type_appends_the_suffix() -> None:
    assert reply_type(ResourceCommand.ALLOCATE) == "ALLOCATE_REPLY"
