"""The status HTTP API (OpenAPI at /docs and /openapi.json), the live stream and the
dashboard page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from baton.errors import BadInputError
from baton.security.http_auth import STREAM_PATH
from baton_status.api_models import Overview, WorkflowDetail, WorkflowList
from baton_status.listing import ListQuery, Order, Sort
from baton_status.reader import Reader
from baton_status.stream import Broadcaster, StreamFullError

__all__ = ["build_router"]

DASHBOARD = Path(__file__).parent / "dashboard" / "index.html"

Status = Literal[
    "CREATED", "SCHEDULED", "QUEUED", "STARTED", "PAUSED", "COMPLETED", "FAILED", "CANCELLED"
]
Priority = Literal["critical", "high", "medium", "low"]


def build_router(*, reader: Reader, stream: Broadcaster, list_limit: int) -> APIRouter:
    """Routes over ``reader``; the live stream from ``stream``."""
    router = APIRouter()

    @router.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(DASHBOARD, media_type="text/html")

    @router.get(
        "/api/workflows",
        tags=["workflows"],
        response_model=WorkflowList,
        responses={400: {"description": "A cursor not of this sort and order"}},
    )
    async def list_workflows(
        status: Annotated[Status | None, Query(description="Only this status.")] = None,
        priority: Annotated[Priority | None, Query(description="Only this priority.")] = None,
        workflow_type: Annotated[
            # PostgreSQL text holds no NUL: such a filter is bad input, not a server error
            str | None, Query(max_length=128, pattern=r"^[^\x00]*$")
        ] = None,
        sort: Annotated[
            Sort, Query(description="created_at (newest first), updated_at, priority.")
        ] = "created_at",
        order: Annotated[
            Order | None, Query(description="asc or desc; default: the sort's own.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
        cursor: Annotated[
            str | None, Query(max_length=1024, description="next_cursor of the page before.")
        ] = None,
    ) -> Response:
        """Workflows, a page at a time (newest first by default), with progress and
        completion estimates; ``next_cursor`` fetches the next page."""
        query = ListQuery(
            status=status,
            priority=priority,
            workflow_type=workflow_type,
            sort=sort,
            order=order,
            limit=min(limit, list_limit),
            cursor=cursor,
        )
        try:
            page = await reader.page_data(query)
        except BadInputError as exc:
            raise HTTPException(400, detail=str(exc)) from None
        # Stored lines go out as they are: validating a page of them again costs more
        # than the query.
        return Response(orjson.dumps(page), media_type="application/json")

    @router.get(
        "/api/workflows/{workflow_id}",
        tags=["workflows"],
        responses={404: {"description": "No such workflow"}},
    )
    async def get_workflow(
        workflow_id: str,
        detailed: bool = True,
        include_dependencies: bool = True,
    ) -> WorkflowDetail:
        """One workflow: phases, tasks, agents, dependencies, timeline, critical path, estimate."""
        found = await reader.detail(
            workflow_id, detailed=detailed, include_dependencies=include_dependencies
        )
        if found is None:
            raise HTTPException(404, detail=f"no workflow {workflow_id!r}")
        return found

    @router.get("/api/overview", tags=["system"])
    async def get_overview(
        include_conflicts: bool = True, resource_analysis: bool = True
    ) -> Overview:
        """Active and queued workflows, conflicts, resource use per pool, bottlenecks, alerts."""
        view = await reader.overview()
        updates: dict[str, Any] = {}
        if not include_conflicts:
            updates["conflicts"] = []
        if not resource_analysis:
            updates["resources"] = {}
            updates["bottlenecks"] = []
        return view.model_copy(update=updates) if updates else view

    @router.get(
        STREAM_PATH,
        tags=["system"],
        responses={
            200: {
                "content": {"text/event-stream": {}},
                "description": "Server-sent events: workflow, overview",
            },
            503: {"description": "Every place on the stream is taken"},
        },
    )
    async def live() -> Response:
        """Live changes: ``event: workflow`` (a summary) on every change, whichever replica
        applied it, and ``event: overview``. At most ``BATON_STATUS_STREAM_CLIENTS``
        clients at once: one more is answered 503."""
        try:
            queue = stream.join()
        except StreamFullError as exc:
            return JSONResponse(
                {**exc.to_dict(), "retriable": True}, status_code=503, headers={"Retry-After": "5"}
            )
        try:
            first = [("overview", (await reader.overview()).model_dump(mode="json"))]
        except BaseException:
            stream.leave(queue)
            raise
        return StreamingResponse(
            stream.messages(first=first, queue=queue),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
            # Gives the place back even when the client left before the stream began.
            background=BackgroundTask(stream.leave, queue),
        )

    return router
