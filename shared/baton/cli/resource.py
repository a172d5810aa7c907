"""``baton resource-manager`` (alias ``resource``): the resource-manager helper command."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from pydantic import ValidationError

from baton.cli.common import command_data, fail, helper_app
from baton.cli.hub_ops import workflow_state
from baton.cli.jsonin import is_json_arg, json_arg, json_object
from baton.cli.remote import Session, call, read_reply, remote
from baton.cli.resource_input import normalise_allocation
from baton.errors import ProtocolError, RemoteError
from baton.protocol.commands import HubCommand, ResourceCommand, request_data
from baton.protocol.commands.replies import WorkflowChangeReply
from baton.protocol.commands.requests import (
    AllocateRequest,
    ReleaseRequest,
    ResourceStatusRequest,
    TransitionRequest,
    UpdateContextRequest,
)
from baton.protocol.invalid import bad_input
from baton.protocol.messages import AllocationRequest

app = helper_app(help="Resource manager helper (JSON arguments may be '-' for stdin).")

Timeout = Annotated[float, typer.Option(help="Seconds to wait for an answer (exit 124).")]


@app.command()
def allocate(
    request: Annotated[
        str,
        typer.Argument(
            help="Protocol allocation_request JSON (or its body, or the helper protocol's "
            "{workflow_id, requirements, priority, estimated_duration}), or a workflow id."
        ),
    ],
    agents: Annotated[int | None, typer.Option(help="With a workflow id: agents.")] = None,
    priority: Annotated[str | None, typer.Option(help="With a workflow id: priority.")] = None,
    specialization: Annotated[
        str | None, typer.Option(help="With a workflow id: recorded, not used (see 'ignored').")
    ] = None,
    timeout: Timeout = 30.0,
) -> None:
    """Ask for resources; prints the allocation_response (approved|partial|queued|denied).

    Fields the allocator has no use for are listed under "ignored" with the reason.
    """
    request_id: str | None = None
    if is_json_arg(request):
        got = json_arg(request, what="allocation_request")
        body, request_id = got.value, got.request_id
    else:  # the helper form: allocate research_auth_001 --agents=2 --specialization=research
        body = {"workflow_id": request, "resources": {"agents": agents or 1}}
        if priority is not None:
            body["priority"] = priority
    try:
        inner, ignored = normalise_allocation(body)
    except ProtocolError as exc:
        raise fail(exc) from None
    try:  # what the resource manager will check again: exit 2 here, before asking
        AllocationRequest.model_validate(inner)
    except ValidationError as exc:
        raise fail(bad_input(exc, root="allocation_request", model=AllocationRequest)) from None
    if specialization is not None:
        ignored["specialization"] = "the pool's agents are interchangeable (no specialisations)"

    async def work(s: Session) -> dict[str, Any]:
        reply = await s.ask(
            service="resource",
            event_type=ResourceCommand.ALLOCATE,
            workflow_id=str(inner["workflow_id"]),
            data=request_data(AllocateRequest(allocation_request=inner)),
            request_id=request_id,
        )
        return {**reply, "ignored": ignored} if ignored else reply

    remote(work, timeout=timeout, label=f"allocating for {inner['workflow_id']}")


@app.command()
def status(
    limit: Annotated[
        int, typer.Option(min=1, max=1000, help="Allocations, and queued requests, shown.")
    ] = 100,
    after: Annotated[
        str | None, typer.Option(help="Allocations after this cursor (a status's 'next').")
    ] = None,
    timeout: Timeout = 30.0,
) -> None:
    """Pools, a page of allocations, the queue's head with positions and estimated starts."""
    page: dict[str, Any] = {"limit": limit}
    if after is not None:
        page["after"] = after
    call(
        service="resource",
        event_type=ResourceCommand.STATUS,
        workflow_id="global",
        data=command_data(ResourceStatusRequest, page),
        timeout=timeout,
    )


@app.command()
def release(
    allocation_id: Annotated[str, typer.Argument(help="Allocation id (alloc_...).")],
    reason: Annotated[str, typer.Option(help="Why (recorded on the event).")] = "released by user",
    timeout: Timeout = 30.0,
) -> None:
    """Release an allocation; queued requests that now fit are granted."""
    call(
        service="resource",
        event_type=ResourceCommand.RELEASE,
        workflow_id="global",
        data=request_data(ReleaseRequest(allocation_id=allocation_id, reason=reason)),
        timeout=timeout,
    )


@app.command()
def transition(
    from_workflow: Annotated[str, typer.Argument(help="Workflow that holds the resources.")],
    to_workflow: Annotated[str, typer.Argument(help="Workflow that takes them over.")],
    preserve_context: Annotated[
        bool,
        typer.Option(
            "--preserve-context",
            help="Also copy the hub's shared context of FROM to TO (both hub workflows).",
        ),
    ] = False,
    timeout: Timeout = 30.0,
) -> None:
    """Hand FROM's allocation to TO in one transaction (the helper's phase transition).

    Requests already queued are served first from what is freed, as after any release.
    """
    data = command_data(TransitionRequest, {"to_workflow_id": to_workflow})

    async def work(s: Session) -> dict[str, Any]:
        reply = await s.ask(
            service="resource",
            event_type=ResourceCommand.TRANSITION,
            workflow_id=from_workflow,
            data=data,
        )
        if preserve_context:
            reply["context"] = await _copy_context(s, from_workflow, to_workflow)
        return reply

    remote(work, timeout=timeout, label=f"transition {from_workflow} → {to_workflow}")


async def _copy_context(s: Session, source: str, target: str) -> dict[str, Any]:
    try:
        state = await workflow_state(s, source)
    except RemoteError as exc:  # not a hub workflow (a manual allocation): nothing to copy
        return {"copied": [], "state_version": None, "reason": exc.message}
    values = dict((state.get("context") or {}).get("data") or {})
    if not values:
        return {"copied": [], "state_version": None}
    reply = await s.ask(
        service="hub",
        event_type=HubCommand.UPDATE_CONTEXT,
        workflow_id=target,
        data=request_data(UpdateContextRequest(updates=values)),
    )
    changed = read_reply(WorkflowChangeReply, reply, service="hub")
    return {"copied": sorted(values), "state_version": changed.state_version}


@app.command("handle-failure")
def handle_failure(
    workflow_id: Annotated[str, typer.Argument(help="The failed workflow.")],
    spec: Annotated[
        str,
        typer.Argument(help='{"failed_component", "impact_assessment", "reallocation_strategy"}'),
    ] = "{}",
    timeout: Timeout = 30.0,
) -> None:
    """Isolate a failed workflow: release everything it holds and drop its queued requests,
    so the capacity goes to the queue; it asks again when it is restored."""
    data, request_id = json_object(spec, what="failure")
    component = str(data.get("failed_component") or "unknown component")
    strategy = str(data.get("reallocation_strategy") or "isolate_and_recover")
    if strategy not in ("isolate_and_recover", "release"):
        raise fail(
            ProtocolError(
                f"unknown reallocation_strategy {strategy!r}; known: isolate_and_recover, release",
                part="failure.reallocation_strategy",
            )
        )
    call(
        service="resource",
        event_type=ResourceCommand.RELEASE,
        workflow_id=workflow_id,
        data=request_data(
            ReleaseRequest(workflow_id=workflow_id, reason=f"failure of {component} ({strategy})")
        ),
        timeout=timeout,
        request_id=request_id,
    )
