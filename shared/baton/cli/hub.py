"""``baton coordination-hub`` (alias ``hub``): the coordination-hub helper command."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from baton.cli import hub_ops
from baton.cli.common import EXIT_CODES_HELP, command_data, fail, unknown_helper
from baton.cli.jsonin import is_json_arg, json_arg, json_object
from baton.cli.remote import call
from baton.errors import ProtocolError
from baton.protocol.commands import (
    REQUESTS,
    CommandRequest,
    HubCommand,
    RecoveryCommand,
    request_data,
)
from baton.protocol.commands.requests import (
    AssignAgentsRequest,
    CheckpointWorkflowRequest,
    CreateWorkflowRequest,
    ListWorkflowsRequest,
    QualityScoreRequest,
    ReasonRequest,
    RestoreRequest,
    SatisfyDependencyRequest,
    StartPhaseRequest,
)

USAGE = """Forms (JSON arguments may be '-' for stdin, or the helper request envelope):

  create-workflow JSON          create from the helper's JSON (or the task-DAG form)

  create-workflow WF            the same from options: --priority, --phases, --agents

  publish-event JSON            {"event_type", "workflow_id", "phase", "data"} (helper protocol)

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

  WF recovery-mode JSON         pause for recovery; lists the checkpoints to restore from

  WF restore JSON               {"checkpoint_id": "..."}: roll back, keeping completed work

  list                          every workflow (JSON)
"""

HELP = f"Drive the coordination hub (its helper command). {EXIT_CODES_HELP}\n\n{USAGE}"

_LIFECYCLE = {"pause": HubCommand.PAUSE, "resume": HubCommand.RESUME, "cancel": HubCommand.CANCEL}
_NO_ARGS = {"status": HubCommand.GET, "signals": HubCommand.SIGNALS}


def coordination_hub(
    args: Annotated[
        list[str] | None, typer.Argument(help="See the forms below.", show_default=False)
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the hub (exit 124).")] = 30.0,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="create: don't wait for scheduling.")
    ] = False,
    priority: Annotated[
        str, typer.Option(help="create-workflow WF: low|medium|high|critical.")
    ] = "medium",
    phases: Annotated[
        str, typer.Option(help="create-workflow WF: comma-separated phase names.")
    ] = "main",
    agents: Annotated[int, typer.Option(help="create-workflow WF: agents to ask for.")] = 1,
) -> None:
    if not args:
        typer.echo(USAGE, err=True)
        raise typer.Exit(2)
    head, rest = args[0], args[1:]
    if head == "list" and not rest:
        _send(HubCommand.LIST, "global", ListWorkflowsRequest(), timeout)
    elif head == "create-workflow" and len(rest) == 1:
        text = rest[0]
        if is_json_arg(text):
            definition, request_id = json_object(text, what="definition")
        else:  # the helper command form: create-workflow research_auth_001 --priority=high
            definition = hub_ops.definition_from_options(
                text, priority=priority, phases=phases, agents=agents
            )
            request_id = None
        _create(definition, timeout=timeout, wait=not no_wait, request_id=request_id)
    elif head == "publish-event" and len(rest) == 1:
        got = json_arg(rest[0], what="event")
        hub_ops.publish_event(got.value, timeout=timeout, request_id=got.request_id)
    elif rest:
        _workflow_operation(head, rest[0], rest[1:], timeout=timeout, no_wait=no_wait)
    else:
        _unknown_or_misused(head, args)


def _workflow_operation(
    workflow_id: str, op: str, rest: list[str], *, timeout: float, no_wait: bool
) -> None:
    one = len(rest) == 1
    if op == "create" and one:
        definition, request_id = json_object(rest[0], what="definition")
        definition.setdefault("workflow_id", workflow_id)
        _create(definition, timeout=timeout, wait=not no_wait, request_id=request_id)
    elif op == "start-phase" and one:
        phase: int | str = int(rest[0]) if rest[0].isdigit() else rest[0]
        _send(HubCommand.START_PHASE, workflow_id, StartPhaseRequest(phase=phase), timeout)
    elif op == "assign-agents" and one:
        got = json_arg(rest[0], what="assignments")
        if not isinstance(got.value, list):
            raise fail(ProtocolError("must be a JSON list", part="assignments"))
        _send(
            HubCommand.ASSIGN_AGENTS,
            workflow_id,
            AssignAgentsRequest(assignments=got.value),
            timeout,
            got.request_id,
        )
    elif op in _LIFECYCLE and len(rest) <= 1:
        reason = ReasonRequest(reason=rest[0]) if rest else ReasonRequest()
        _send(_LIFECYCLE[op], workflow_id, reason, timeout)
    elif op in _NO_ARGS and not rest:
        _send(_NO_ARGS[op], workflow_id, REQUESTS[_NO_ARGS[op]](), timeout)
    elif op in ("signal", "context") and one:
        data, request_id = json_object(rest[0], what=op)
        kind = HubCommand.SIGNAL if op == "signal" else HubCommand.UPDATE_CONTEXT
        _send_data(kind, workflow_id, command_data(REQUESTS[kind], data), timeout, request_id)
    elif op == "quality-score" and len(rest) == 2:
        try:
            score = float(rest[1])
        except ValueError:
            raise fail(ProtocolError("SCORE must be a number", part="score")) from None
        score_request = QualityScoreRequest(task_id=rest[0], score=score)
        _send(HubCommand.QUALITY_SCORE, workflow_id, score_request, timeout)
    elif op == "satisfy" and one:
        satisfied = SatisfyDependencyRequest(dependency=rest[0])
        _send(HubCommand.SATISFY_DEPENDENCY, workflow_id, satisfied, timeout)
    elif op == "checkpoint" and one:
        _send(HubCommand.CHECKPOINT, workflow_id, CheckpointWorkflowRequest(label=rest[0]), timeout)
    elif op == "recovery-mode" and len(rest) <= 1:
        spec, request_id = json_object(rest[0] if rest else "{}", what="recovery_mode")
        hub_ops.recovery_mode(workflow_id, spec, timeout=timeout, request_id=request_id)
    elif op == "restore" and one:
        # workflow-recovery verifies and rebuilds the checkpoint, then has the hub apply it.
        data, request_id = json_object(rest[0], what="restore")
        call(
            service="recovery",
            event_type=RecoveryCommand.RESTORE,
            workflow_id=workflow_id,
            data=command_data(RestoreRequest, data),
            timeout=timeout,
            request_id=request_id,
        )
    else:
        _unknown_or_misused(op, [workflow_id, op, *rest])


_KNOWN = frozenset(
    {"list", "create-workflow", "publish-event", "create", "start-phase", "assign-agents"}
    | set(_LIFECYCLE)
    | set(_NO_ARGS)
    | {"signal", "context", "quality-score", "satisfy", "checkpoint", "recovery-mode", "restore"}
)


def _unknown_or_misused(op: str, args: list[str]) -> None:
    """A known operation with the wrong arguments is bad input (2); else unknown (127)."""
    if op in _KNOWN:
        raise fail(ProtocolError(f"wrong arguments for {op}: {' '.join(args)!r}", part="args"))
    raise unknown_helper(f"unknown coordination-hub operation {' '.join(args)!r}", usage=USAGE)


def _send(
    event_type: str,
    workflow_id: str,
    request: CommandRequest,
    timeout: float,
    request_id: str | None = None,
) -> None:
    _send_data(event_type, workflow_id, request_data(request), timeout, request_id)


def _send_data(
    event_type: str,
    workflow_id: str,
    data: dict[str, Any],
    timeout: float,
    request_id: str | None = None,
) -> None:
    call(
        service="hub",
        event_type=event_type,
        workflow_id=workflow_id,
        data=data,
        timeout=timeout,
        request_id=request_id,
    )


def _create(
    definition: dict[str, Any], *, timeout: float, wait: bool, request_id: str | None
) -> None:
    workflow_id = definition.get("workflow_id")
    if not isinstance(workflow_id, str) or not workflow_id:
        raise fail(
            ProtocolError(
                "the definition must be a JSON object with workflow_id",
                part="definition.workflow_id",
            )
        )
    hub_ops.check_definition(definition)
    call(
        service="hub",
        event_type=HubCommand.CREATE_WORKFLOW,
        workflow_id=workflow_id,
        data=request_data(CreateWorkflowRequest(definition=definition)),
        timeout=timeout,
        request_id=request_id,
        wait=hub_ops.wait_scheduled if wait else None,
    )
