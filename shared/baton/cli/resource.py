"""``baton resource-manager`` (alias ``resource``): seed 002's resource-manager helper."""

from __future__ import annotations

from typing import Annotated

import typer

from baton.cli.common import EXIT_CODES_HELP
from baton.cli.remote import call, parse_json_arg, unknown_helper

app = typer.Typer(help=f"Resource manager helper. {EXIT_CODES_HELP}", no_args_is_help=True)

Timeout = Annotated[float, typer.Option(help="Seconds to wait for an answer (exit 124).")]


@app.command()
def allocate(
    request: Annotated[str, typer.Argument(help="Seed 001 allocation_request JSON (or its body).")],
    timeout: Timeout = 30.0,
) -> None:
    """Ask for resources; prints the allocation_response (approved|partial|queued|denied)."""
    body = parse_json_arg(request, what="allocation_request")
    inner = body.get("allocation_request", body) if isinstance(body, dict) else None
    if not isinstance(inner, dict) or "workflow_id" not in inner:
        raise unknown_helper("allocate needs a JSON object with workflow_id")
    call(
        service="resource",
        event_type="ALLOCATE",
        workflow_id=str(inner["workflow_id"]),
        data={"allocation_request": inner},
        timeout=timeout,
    )


@app.command()
def status(timeout: Timeout = 30.0) -> None:
    """Pools, allocations, queue with positions and estimated starts."""
    call(
        service="resource",
        event_type="RESOURCE_STATUS",
        workflow_id="global",
        data={},
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
        event_type="RELEASE",
        workflow_id="global",
        data={"allocation_id": allocation_id, "reason": reason},
        timeout=timeout,
    )
