"""``baton coordination-hub`` (alias ``hub``): seed 002's coordination-hub helper."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from baton.bus import Bus
from baton.cli.common import EXIT_CODES_HELP
from baton.cli.remote import call, parse_json_arg, unknown_helper
from baton.protocol.event import Event

USAGE = """Forms:

  create-workflow JSON          create from seed 002's JSON (or the task-DAG form)

  WF create JSON                the same, workflow id first

  WF start-phase N              start phase N (1-based) or by name

  WF assign-agents JSON         [{"agent_id": "...", "role": "..."}]

  WF pause|resume|cancel [WHY]  lifecycle

  WF status                     the workflow's full state (JSON)

  WF signal JSON                {"sender", "recipients", "signal_type", "payload"}

  WF signals                    signal history

  WF context JSON               {"updates": {...}, "targets": [...]}: new context version

  WF quality-score TASK SCORE   report a quality score

  WF satisfy DEPENDENCY         an external dependency is met

  WF checkpoint NAME            ask for a manual checkpoint

  WF restore JSON               {"checkpoint_id": "..."}: roll back, keeping completed work

  list                          every workflow (JSON)
"""

HELP = f"Drive the coordination hub (seed 002's helper). {EXIT_CODES_HELP}\n\n{USAGE}"


def _wait_scheduled(timeout: float) -> Any:
    async def wait(bus: Bus, reply: dict[str, Any]) -> dict[str, Any]:
        """Poll until the workflow leaves CREATED (scheduled, queued or failed)."""
        workflow_id = reply["workflow_id"]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            got = await bus.request(
                Event(event_type="GET_WORKFLOW", workflow_id=workflow_id, phase="cli", data={}),
                service="hub",
                timeout=timeout,
            )
            state = got.data["workflow"]
            if state["status"] != "CREATED":
                return {
                    **reply,
                    "status": state["status"],
                    "state_version": state["state_version"],
                    "queue": state.get("queue"),
                    "allocation": state.get("allocation"),
                }
            await asyncio.sleep(0.2)
        return reply

    return wait


def coordination_hub(
    args: Annotated[
        list[str] | None, typer.Argument(help="See the forms below.", show_default=False)
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the hub (exit 124).")] = 30.0,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="create: don't wait for scheduling.")
    ] = False,
) -> None:
    if not args:
        typer.echo(USAGE)
        raise typer.Exit(2)
    if args[0] == "list":
        call(
            service="hub",
            event_type="LIST_WORKFLOWS",
            workflow_id="global",
            data={},
            timeout=timeout,
        )
        return
    if args[0] == "create-workflow":
        if len(args) != 2:
            raise unknown_helper("usage: create-workflow JSON")
        definition = parse_json_arg(args[1], what="definition")
        workflow_id = str(definition.get("workflow_id", "")) if isinstance(definition, dict) else ""
        _create(workflow_id, definition, timeout=timeout, wait=not no_wait)
        return
    if len(args) < 2:
        raise unknown_helper(f"unknown coordination-hub operation {args[0]!r}\n{USAGE}")
    workflow_id, op, rest = args[0], args[1], args[2:]
    simple = {"pause": "PAUSE_WORKFLOW", "resume": "RESUME_WORKFLOW", "cancel": "CANCEL_WORKFLOW"}
    if op == "create" and len(rest) == 1:
        _create(
            workflow_id,
            parse_json_arg(rest[0], what="definition"),
            timeout=timeout,
            wait=not no_wait,
        )
    elif op == "start-phase" and len(rest) == 1:
        phase: int | str = int(rest[0]) if rest[0].isdigit() else rest[0]
        _send("START_PHASE", workflow_id, {"phase": phase}, timeout)
    elif op == "assign-agents" and len(rest) == 1:
        _send(
            "ASSIGN_AGENTS",
            workflow_id,
            {"assignments": parse_json_arg(rest[0], what="assignments")},
            timeout,
        )
    elif op in simple and len(rest) <= 1:
        _send(simple[op], workflow_id, {"reason": rest[0]} if rest else {}, timeout)
    elif op == "status" and not rest:
        _send("GET_WORKFLOW", workflow_id, {}, timeout)
    elif op == "signal" and len(rest) == 1:
        _send("SEND_SIGNAL", workflow_id, parse_json_arg(rest[0], what="signal"), timeout)
    elif op == "signals" and not rest:
        _send("GET_SIGNALS", workflow_id, {}, timeout)
    elif op == "context" and len(rest) == 1:
        _send("UPDATE_CONTEXT", workflow_id, parse_json_arg(rest[0], what="context"), timeout)
    elif op == "quality-score" and len(rest) == 2:
        _send(
            "REPORT_QUALITY_SCORE",
            workflow_id,
            {"task_id": rest[0], "score": float(rest[1])},
            timeout,
        )
    elif op == "satisfy" and len(rest) == 1:
        _send("SATISFY_DEPENDENCY", workflow_id, {"dependency": rest[0]}, timeout)
    elif op == "checkpoint" and len(rest) == 1:
        _send("CHECKPOINT_WORKFLOW", workflow_id, {"label": rest[0]}, timeout)
    elif op == "restore" and len(rest) == 1:
        # workflow-recovery verifies and rebuilds the checkpoint, then has the hub apply it.
        call(
            service="recovery",
            event_type="RESTORE",
            workflow_id=workflow_id,
            data=parse_json_arg(rest[0], what="restore"),
            timeout=timeout,
        )
    else:
        raise unknown_helper(f"unknown coordination-hub operation {' '.join(args[1:])!r}\n{USAGE}")


def _send(event_type: str, workflow_id: str, data: dict[str, Any], timeout: float) -> None:
    call(service="hub", event_type=event_type, workflow_id=workflow_id, data=data, timeout=timeout)


def _create(workflow_id: str, definition: Any, *, timeout: float, wait: bool) -> None:
    if not isinstance(definition, dict) or not workflow_id:
        from baton.cli.common import fail
        from baton.errors import ProtocolError

        raise fail(
            ProtocolError(
                "the definition must be a JSON object with workflow_id",
                part="definition.workflow_id",
            )
        )
    call(
        service="hub",
        event_type="CREATE_WORKFLOW",
        workflow_id=workflow_id,
        data={"definition": definition},
        timeout=timeout,
        wait=_wait_scheduled(timeout) if wait else None,
    )
