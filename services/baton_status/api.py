"""The status HTTP API (OpenAPI at /docs and /openapi.json), the live stream and the
dashboard page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse, StreamingResponse

from baton_status.api_models import Overview, WorkflowDetail, WorkflowList
from baton_status.handlers import ReadModel

__all__ = ["build_router"]

DASHBOARD = Path(__file__).parent / "dashboard" / "index.html"

Status = Literal[
    "CREATED", "SCHEDULED", "QUEUED", "STARTED", "PAUSED", "COMPLETED", "FAILED", "CANCELLED"
]
Priority = Literal["critical", "high", "medium", "low"]


def build_router(*, model: ReadModel, list_limit: int) -> APIRouter:
    """Routes over ``model``."""
    router = APIRouter()

    @router.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(DASHBOARD, media_type="text/html")

    @router.get("/api/workflows", tags=["workflows"])
    async def list_workflows(
        status: Annotated[Status | None, Query(description="Only this status.")] = None,
        priority: Annotated[Priority | None, Query(description="Only this priority.")] = None,
        workflow_type: Annotated[str | None, Query(max_length=128)] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
    ) -> WorkflowList:
        """Workflows, newest first, with progress and completion estimates."""
        found = model.summaries(
            status=status,
            priority=priority,
            workflow_type=workflow_type,
            limit=min(limit, list_limit),
        )
        return WorkflowList(workflows=found, total=len(model.views))

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
        if workflow_id not in model.views:
            raise HTTPException(404, detail=f"no workflow {workflow_id!r}")
        return model.detail(
            workflow_id, detailed=detailed, include_dependencies=include_dependencies
        )

    @router.get("/api/overview", tags=["system"])
    async def get_overview(
        include_conflicts: bool = True, resource_analysis: bool = True
    ) -> Overview:
        """Active and queued workflows, conflicts, resource use per pool, bottlenecks, alerts."""
        view = model.overview()
        updates: dict[str, Any] = {}
        if not include_conflicts:
            updates["conflicts"] = []
        if not resource_analysis:
            updates["resources"] = {}
            updates["bottlenecks"] = []
        return view.model_copy(update=updates) if updates else view

    @router.get(
        "/api/stream",
        tags=["system"],
        responses={
            200: {
                "content": {"text/event-stream": {}},
                "description": "Server-sent events: workflow, overview",
            }
        },
    )
    async def stream() -> StreamingResponse:
        """Live changes: ``event: workflow`` (a summary) on every change, ``event: overview``."""
        first = [("overview", model.overview().model_dump(mode="json"))]
        return StreamingResponse(
            model.stream.messages(first=first),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )

    return router
