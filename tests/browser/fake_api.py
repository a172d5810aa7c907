"""A fake status service for browser tests: the dashboard page, canned JSON and a live stream.

Every body is built with the real response models (``baton_status.api_models``), so the page
is tested against the contract. :func:`serve` runs any ASGI app with uvicorn inside the
caller's event loop, on a free loopback port.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from baton_status.api_models import (
    AgentView,
    Alert,
    Bottleneck,
    CriticalPath,
    Estimate,
    Overview,
    PhaseView,
    PoolUse,
    QueueEntry,
    TaskView,
    TimelineEntry,
    WorkflowDetail,
    WorkflowList,
    WorkflowSummary,
)

__all__ = ["DASHBOARD", "FakeStatusApi", "Plan", "TaskPlan", "serve"]

DASHBOARD = (
    Path(__file__).resolve().parents[2] / "services" / "baton_status" / "dashboard" / "index.html"
)

_RUNNING = frozenset({"STARTED", "PAUSED"})
_TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _sse(event: str, body: BaseModel) -> str:
    return f"event: {event}\ndata: {body.model_dump_json()}\n\n"


@dataclass(frozen=True)
class TaskPlan:
    """One task of a plan: its role, expected duration and the tasks it waits for."""

    task_id: str
    role: str
    duration_s: float
    waits_for: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """A workflow's phases and tasks; its state at a given progress is derived from it.

    Phases finish in order, each worth an equal share of the progress; ``critical`` is the
    longest chain of tasks, of which the unfinished ones are reported as the critical path.
    """

    phases: tuple[tuple[str, tuple[TaskPlan, ...]], ...]
    critical: tuple[str, ...]

    def phases_done(self, progress: float) -> int:
        """How many phases are complete at ``progress`` percent."""
        return min(len(self.phases), int(progress * len(self.phases) // 100))

    def critical_path(self, progress: float) -> list[str]:
        """The unfinished tasks of the critical chain at ``progress`` percent."""
        done = {t.task_id for _, tasks in self.phases[: self.phases_done(progress)] for t in tasks}
        return [t for t in self.critical if t not in done]

    def remaining_s(self, progress: float) -> float:
        """Expected seconds of work left along the critical chain."""
        left = set(self.critical_path(progress))
        return sum(t.duration_s for _, tasks in self.phases for t in tasks if t.task_id in left)


FEATURE_PLAN = Plan(
    phases=(
        (
            "design",
            (
                TaskPlan("design_api", "architect", 1800),
                TaskPlan("design_ui", "designer", 1200),
            ),
        ),
        (
            "implement",
            (
                TaskPlan("implement_api", "backend_dev", 3600, ("design_api",)),
                TaskPlan("implement_ui", "frontend_dev", 2700, ("design_ui",)),
            ),
        ),
        ("test", (TaskPlan("write_tests", "tester", 1500, ("implement_api", "implement_ui")),)),
        ("review", (TaskPlan("code_review", "reviewer", 900, ("write_tests",)),)),
    ),
    critical=("design_api", "implement_api", "write_tests", "code_review"),
)

REFACTOR_PLAN = Plan(
    phases=(
        ("analysis", (TaskPlan("map_callers", "analyst", 1200),)),
        (
            "implement",
            (
                TaskPlan("split_session_store", "backend_dev", 2400, ("map_callers",)),
                TaskPlan("migrate_tokens", "backend_dev", 1800, ("map_callers",)),
            ),
        ),
        (
            "verify",
            (
                TaskPlan("regression_suite", "tester", 1500, ("split_session_store",)),
                TaskPlan("security_review", "reviewer", 1200, ("migrate_tokens",)),
            ),
        ),
    ),
    critical=("map_callers", "split_session_store", "regression_suite"),
)

SHORT_PLAN = Plan(
    phases=(
        ("investigate", (TaskPlan("reproduce", "debugger", 600),)),
        ("fix", (TaskPlan("patch", "backend_dev", 900, ("reproduce",)),)),
        ("verify", (TaskPlan("verify_fix", "tester", 600, ("patch",)),)),
    ),
    critical=("reproduce", "patch", "verify_fix"),
)


@dataclass
class _Workflow:
    summary: WorkflowSummary
    plan: Plan
    events: list[TimelineEntry] = field(default_factory=list)


class FakeStatusApi:
    """The status service's HTTP surface over an in-memory set of workflows.

    ``GET /`` serves the dashboard page from disk on every request, so edits show on reload.
    Every change made through :meth:`update` is pushed to stream clients as a ``workflow``
    event followed by an ``overview`` event; an ``overview`` event also goes out every
    ``overview_interval`` seconds, as the real service does.
    """

    def __init__(
        self,
        *,
        page: Path = DASHBOARD,
        now: datetime | None = None,
        overview_interval: float = 2.0,
    ) -> None:
        self.page = page
        self.now = now or datetime.now(UTC).replace(microsecond=0)
        self.overview_interval = overview_interval
        self.workflows: dict[str, _Workflow] = {}
        self.detail_queries: list[dict[str, str]] = []
        """Query parameters of every detail request, in order."""
        self.stream_attempts = 0
        """Requests to ``/api/stream``, failed ones included."""
        self.fail_streams = 0
        """How many of the next stream requests answer 503 (the browser then gives up)."""
        self._subscribers: set[asyncio.Queue[str | None]] = set()
        self._seed()
        self.app = self._build_app()

    # ---- state ----

    def _add(self, summary: WorkflowSummary, plan: Plan) -> None:
        done = plan.phases_done(summary.progress)
        current = (
            None if summary.status in _TERMINAL else plan.phases[min(done, len(plan.phases) - 1)][0]
        )
        summary = summary.model_copy(
            update={
                "phases_total": len(plan.phases),
                "phases_done": done,
                "current_phase": None if summary.status in {"QUEUED", "CREATED"} else current,
                "updated_at": summary.updated_at or _iso(self.now),
            }
        )
        self.workflows[summary.workflow_id] = _Workflow(
            summary=summary, plan=plan, events=self._history(summary, plan)
        )

    def _history(self, summary: WorkflowSummary, plan: Plan) -> list[TimelineEntry]:
        """Timeline entries up to now: the start, then each finished phase, evenly spread."""
        if summary.started_at is None:
            return []
        start = datetime.fromisoformat(summary.started_at)
        end = datetime.fromisoformat(summary.finished_at) if summary.finished_at else self.now
        done = summary.phases_done
        step = (end - start) / (done + 1)
        entries = [
            TimelineEntry(
                at=_iso(start),
                event_type="WORKFLOW_STARTED",
                phase=plan.phases[0][0],
                summary="resources allocated, agents assigned",
                event_id="evt_0001",
            )
        ]
        for i in range(done):
            name, tasks = plan.phases[i]
            entries.append(
                TimelineEntry(
                    at=_iso(start + step * (i + 1)),
                    event_type="PHASE_COMPLETED",
                    phase=name,
                    summary=f"{len(tasks)} task{'s' if len(tasks) > 1 else ''} completed",
                    event_id=f"evt_{i + 2:04d}",
                )
            )
        if summary.status == "FAILED":
            entries.append(
                TimelineEntry(
                    at=_iso(end),
                    event_type="WORKFLOW_FAILED",
                    phase=plan.phases[min(done, len(plan.phases) - 1)][0],
                    summary=summary.failure_reason or "",
                    event_id=f"evt_{done + 2:04d}",
                )
            )
        return entries

    def _seed(self) -> None:
        now = self.now

        def ago(minutes: float) -> str:
            return _iso(now - timedelta(minutes=minutes))

        def ahead(minutes: float) -> str:
            return _iso(now + timedelta(minutes=minutes))

        self._add(
            WorkflowSummary(
                workflow_id="feature_dev_001",
                name="Checkout redesign",
                workflow_type="feature_dev",
                status="STARTED",
                priority="high",
                progress=0.0,
                created_at=ago(12),
                started_at=ago(10),
                estimate=Estimate(
                    remaining_s=FEATURE_PLAN.remaining_s(0),
                    completion_at=ahead(FEATURE_PLAN.remaining_s(0) / 60),
                    method="median of 12 past runs of feature_dev per phase",
                    confidence=0.62,
                    error_bound=0.2,
                    samples=12,
                ),
            ),
            FEATURE_PLAN,
        )
        self._add(
            WorkflowSummary(
                workflow_id="refactor_auth_004",
                name="Auth service refactor",
                workflow_type="refactor",
                status="STARTED",
                priority="medium",
                progress=40.0,
                created_at=ago(95),
                started_at=ago(90),
                estimate=Estimate(
                    remaining_s=REFACTOR_PLAN.remaining_s(40),
                    completion_at=ahead(REFACTOR_PLAN.remaining_s(40) / 60),
                    method="median of 5 past runs of refactor per phase",
                    confidence=0.41,
                    error_bound=0.35,
                    samples=5,
                ),
            ),
            REFACTOR_PLAN,
        )
        self._add(
            WorkflowSummary(
                workflow_id="release_007",
                name="Release 2.4 train",
                workflow_type="release",
                status="PAUSED",
                priority="medium",
                progress=55.0,
                created_at=ago(240),
                started_at=ago(230),
                estimate=Estimate(method="paused", confidence=0.2, samples=3),
            ),
            SHORT_PLAN,
        )
        self._add(
            WorkflowSummary(
                workflow_id="bug_fix_002",
                name="Login timeout fix",
                workflow_type="bug_fix",
                status="QUEUED",
                priority="medium",
                queue_position=1,
                estimated_start=ahead(30),
                created_at=ago(6),
            ),
            SHORT_PLAN,
        )
        self._add(
            WorkflowSummary(
                workflow_id="docs_003",
                name="API reference refresh",
                workflow_type="docs",
                status="QUEUED",
                priority="low",
                queue_position=2,
                estimated_start=ahead(75),
                created_at=ago(4),
            ),
            SHORT_PLAN,
        )
        self._add(
            WorkflowSummary(
                workflow_id="research_005",
                name="Vector search spike",
                workflow_type="research",
                status="COMPLETED",
                priority="low",
                progress=100.0,
                created_at=ago(300),
                started_at=ago(290),
                finished_at=ago(20),
                estimate=Estimate(remaining_s=0, confidence=1.0, samples=8),
            ),
            SHORT_PLAN,
        )
        self._add(
            WorkflowSummary(
                workflow_id="migration_006",
                name="Billing DB migration",
                workflow_type="migration",
                status="FAILED",
                priority="high",
                progress=62.0,
                created_at=ago(180),
                started_at=ago(170),
                finished_at=ago(35),
                failure_reason="quality gate: test coverage 0.61 is below 0.80",
            ),
            REFACTOR_PLAN,
        )

    def summary(self, workflow_id: str) -> WorkflowSummary:
        """The current list line of one workflow."""
        return self.workflows[workflow_id].summary

    def detail(self, workflow_id: str) -> WorkflowDetail:
        """The workflow's detail as derived from its plan and progress."""
        wf = self.workflows[workflow_id]
        s, plan = wf.summary, wf.plan
        done = plan.phases_done(s.progress)
        # The current phase's own share of the work done so far.
        phase_share = round((s.progress * len(plan.phases) / 100 - done) * 100, 1)
        running = s.status in _RUNNING
        started = s.status not in {"QUEUED", "CREATED", "SCHEDULED"}
        phases: list[PhaseView] = []
        tasks: list[TaskView] = []
        agents: list[AgentView] = []
        for number, (name, planned) in enumerate(plan.phases, start=1):
            finished = number <= done
            current = started and number == done + 1 and not finished
            if finished:
                phase_status = "completed"
            elif current and s.status == "FAILED":
                phase_status = "failed"
            elif current:
                phase_status = "running"
            else:
                phase_status = "pending"
            phases.append(
                PhaseView(
                    name=name,
                    number=number,
                    status=phase_status,
                    progress=100.0 if finished else phase_share if current else 0.0,
                    duration_s=sum(t.duration_s for t in planned) if finished else None,
                    started_at=s.started_at if finished or current else None,
                    tasks=[t.task_id for t in planned],
                )
            )
            for t in planned:
                agent = f"agent_{t.role}"
                status = {"completed": "completed", "running": "running", "failed": "failed"}.get(
                    phase_status, "pending"
                )
                tasks.append(
                    TaskView(
                        task_id=t.task_id,
                        phase=name,
                        role=t.role,
                        status=status,
                        agent_id=agent if status != "pending" else None,
                        attempts=0 if status == "pending" else 1,
                        dependencies=list(t.waits_for),
                        quality_score=0.9 if finished else None,
                        duration_s=t.duration_s if finished else None,
                        started_at=s.started_at if status == "running" else None,
                    )
                )
                if status != "pending" and agent not in {a.agent_id for a in agents}:
                    agents.append(
                        AgentView(
                            agent_id=agent,
                            status="active" if status == "running" and running else "idle",
                            current_task=t.task_id if status == "running" else None,
                            tasks_done=1 if finished else 0,
                        )
                    )
        critical = plan.critical_path(s.progress) if s.status not in _TERMINAL else []
        return WorkflowDetail(
            **s.model_dump(),
            phases=phases,
            tasks=tasks,
            agents=agents,
            dependencies={
                "external": {"design_system_release": True, "payments_sandbox": done >= 2},
                "tasks": {t.task_id: list(t.waits_for) for _, ts in plan.phases for t in ts},
            },
            timeline=list(wf.events),
            critical_path=CriticalPath(
                tasks=critical,
                remaining_s=plan.remaining_s(s.progress) if critical else 0.0,
            ),
            allocation={"status": "approved", "agents": [a.agent_id for a in agents]}
            if started
            else None,
        )

    def workflow_list(self) -> WorkflowList:
        """Every workflow, most recently created first."""
        items = sorted(
            (w.summary for w in self.workflows.values()),
            key=lambda s: s.created_at or "",
            reverse=True,
        )
        return WorkflowList(workflows=items, total=len(items))

    def overview(self) -> Overview:
        """The system view computed from the current workflows."""
        summaries = [w.summary for w in self.workflows.values()]
        queued = sorted(
            (s for s in summaries if s.status == "QUEUED"),
            key=lambda s: s.queue_position or 0,
        )
        running = [s for s in summaries if s.status == "STARTED"]
        at = datetime.now(UTC).replace(microsecond=0)
        return Overview(
            at=_iso(at),
            counts=dict(Counter(s.status for s in summaries)),
            active=[s for s in summaries if s.status in _RUNNING],
            queue=[
                QueueEntry(
                    workflow_id=s.workflow_id,
                    priority=s.priority,
                    position=s.queue_position,
                    estimated_start=s.estimated_start,
                )
                for s in queued
            ],
            conflicts=[
                {
                    "conflict_id": "conflict_req_0017",
                    "at": _iso(self.now - timedelta(minutes=3)),
                    "event_type": "RESOURCE_CONFLICT",
                    "workflow_id": "bug_fix_002",
                    "severity": "medium",
                    "resource_type": "exclusive_files",
                    "files": ["src/auth/session.py"],
                    "held_by": [
                        {"allocation_id": "alloc_0012", "workflow_id": "refactor_auth_004"}
                    ],
                    "resolution": "queued",
                }
            ],
            resources={
                # Utilisation in percent, as the status service reports it.
                "agents": PoolUse(capacity=6, used=4, utilisation=66.67),
                "cpu_cores": PoolUse(capacity=8, used=7.2, utilisation=90.0),
                "memory_mb": PoolUse(capacity=16384, used=9216, utilisation=56.25),
                "tool_instances": PoolUse(capacity=4, used=1, utilisation=25.0),
                # A pool nobody announced a capacity for.
                "gpu": PoolUse(capacity=0, used=1, utilisation=0.0),
            },
            bottlenecks=[
                Bottleneck(
                    kind="resource",
                    name="cpu_cores",
                    workflows=[s.workflow_id for s in running],
                    detail="90 % of the CPU pool is in use; queued work waits for it",
                ),
                Bottleneck(
                    kind="dependency",
                    name="exclusive_files",
                    workflows=["bug_fix_002"],
                    detail="src/auth/session.py is held by refactor_auth_004",
                ),
            ],
            alerts=[
                Alert(
                    at=_iso(self.now - timedelta(minutes=1)),
                    event_type="SYSTEM_THRESHOLD",
                    workflow_id="system",
                    detail={"metric": "cpu_utilisation", "value": 0.9, "threshold": 0.85},
                ),
                Alert(
                    at=_iso(self.now - timedelta(minutes=35)),
                    event_type="WORKFLOW_FAILED",
                    workflow_id="migration_006",
                    detail={"reason": "quality gate: test coverage 0.61 is below 0.80"},
                ),
                Alert(
                    at=_iso(self.now - timedelta(minutes=8)),
                    event_type="AGENT_PERFORMANCE_ALERT",
                    workflow_id="refactor_auth_004",
                    detail={"agent_id": "agent_backend_dev", "metric": "p95_task_s", "value": 2900},
                ),
            ],
        )

    async def update(self, workflow_id: str, *, publish: bool = True, **changes: Any) -> None:
        """Change one workflow's summary and, unless ``publish`` is false, stream it."""
        wf = self.workflows[workflow_id]
        now = datetime.now(UTC)
        s = wf.summary.model_copy(update={**changes, "updated_at": _iso(now)})
        done = wf.plan.phases_done(s.progress)
        terminal = s.status in _TERMINAL
        s = s.model_copy(
            update={
                "phases_done": done,
                "current_phase": None
                if terminal or s.status == "QUEUED"
                else wf.plan.phases[min(done, len(wf.plan.phases) - 1)][0],
            }
        )
        wf.summary = s
        wf.events.append(
            TimelineEntry(
                at=_iso(now),
                event_type=f"WORKFLOW_{s.status}" if terminal else "PROGRESS_UPDATED",
                phase=s.current_phase or "",
                summary=f"{s.progress:g} % done",
                event_id=f"evt_{len(wf.events) + 1:04d}",
            )
        )
        if publish:
            self._broadcast(_sse("workflow", s))
            self._broadcast(_sse("overview", self.overview()))
        await asyncio.sleep(0)

    async def run_progress(
        self,
        workflow_id: str,
        *,
        steps: Sequence[float] = (25, 50, 75, 100),
        interval: float = 0.75,
    ) -> None:
        """Move a started workflow through ``steps`` of progress; it completes at 100."""
        plan = self.workflows[workflow_id].plan
        for progress in steps:
            await asyncio.sleep(interval)
            remaining = plan.remaining_s(progress)
            done = progress >= 100
            estimate = Estimate(
                remaining_s=0.0 if done else remaining,
                completion_at=_iso(datetime.now(UTC) + timedelta(seconds=remaining)),
                method="median of 12 past runs of feature_dev per phase",
                confidence=1.0 if done else min(0.95, 0.62 + progress / 300),
                error_bound=None if done else 0.15,
                samples=12,
            )
            await self.update(
                workflow_id,
                progress=float(progress),
                status="COMPLETED" if done else "STARTED",
                finished_at=_iso(datetime.now(UTC)) if done else None,
                estimate=estimate,
            )

    def drop_streams(self) -> None:
        """End every open stream, as a restart or a network break would."""
        for queue in list(self._subscribers):
            queue.put_nowait(None)

    @property
    def stream_clients(self) -> int:
        """Open stream connections."""
        return len(self._subscribers)

    def _broadcast(self, message: str) -> None:
        for queue in list(self._subscribers):
            queue.put_nowait(message)

    # ---- HTTP ----

    async def _stream(self, request: Request) -> AsyncIterator[str]:
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            # A short reconnect delay keeps the tests quick after drop_streams().
            yield "retry: 300\n\n"
            yield _sse("overview", self.overview())
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), timeout=self.overview_interval)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    message = _sse("overview", self.overview())
                if message is None:
                    return
                yield message
        finally:
            self._subscribers.discard(queue)

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="fake baton status", openapi_url=None, docs_url=None, redoc_url=None)

        @app.get("/")
        async def page() -> Response:
            return Response(self.page.read_bytes(), media_type="text/html; charset=utf-8")

        @app.get("/api/workflows")
        async def workflows() -> Response:
            return _json(self.workflow_list())

        @app.get("/api/workflows/{workflow_id}")
        async def workflow(workflow_id: str, request: Request) -> Response:
            self.detail_queries.append(dict(request.query_params))
            if workflow_id not in self.workflows:
                raise HTTPException(status_code=404, detail=f"unknown workflow {workflow_id}")
            return _json(self.detail(workflow_id))

        @app.get("/api/overview")
        async def overview() -> Response:
            return _json(self.overview())

        @app.get("/api/stream", response_model=None)
        async def stream(request: Request) -> Response:
            self.stream_attempts += 1
            if self.fail_streams > 0:
                self.fail_streams -= 1
                return Response("stream unavailable", status_code=503)
            return StreamingResponse(
                self._stream(request),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )

        return app


def _json(body: BaseModel) -> Response:
    return Response(body.model_dump_json(), media_type="application/json")


class _Server(uvicorn.Server):
    """A uvicorn server that leaves the process's signal handlers alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve(app: Any, *, startup_timeout: float = 10.0) -> AsyncIterator[str]:
    """Run ``app`` on a free loopback port in this event loop; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level="warning",
        # Open event streams would otherwise hold the shutdown forever.
        timeout_graceful_shutdown=2,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(startup_timeout):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
