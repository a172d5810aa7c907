"""AgentWorker: takes this agent's assignments off the bus, runs a handler, reports back.

Usage::

    async def research(task: Task) -> dict[str, Any]:
        await task.progress(50, message="Step 1/2: reading")
        return {"summary": "..."}

    client = BatonClient.from_env(component="research-agent")
    async with AgentWorker(client=client, agent_id="agent_001", handler=research) as worker:
        await worker.run_forever()

Behaviour:

- Presence: ``COMPONENT_REGISTERED`` (``component_type`` ``agent``) at start, then every
  ``heartbeat_interval`` an ``AGENT_HEARTBEAT`` (workflow ``global``, phase = agent id, keyed
  by the agent id; the recovery watchdog times out silent agents from these) and a
  ``COMPONENT_HEARTBEAT`` (the
  monitor's component health); ``SYSTEM_SHUTDOWN`` at stop.
- Assignments: ``TASK_ASSIGNED`` whose ``agent_id`` is this agent, read by the consumer group
  of the client's agents, ``<prefix>.agent.<component>`` (one per process, whatever its
  number of agents — see :mod:`baton.client.feed`), so a restarted worker continues from
  the committed offsets. Give each worker process its own component name.
  Each runs as a supervised task, at most ``concurrency`` at once: ``TASK_STARTED``, the
  handler (progress through :meth:`Task.progress`), then ``TASK_COMPLETED`` with the results
  or ``TASK_FAILED`` with the handler's error. Every report carries the fencing token. The
  handler does not wait for ``TASK_STARTED``'s acknowledgement: the report of its end follows
  in order and both are awaited then (a quick task's two reports share a produce request).
- Taken away (see :mod:`baton.client.takeaway`): when the workflow ends or is cancelled, or
  the task is reassigned, timed out, skipped or assigned anew with a newer token, the
  handler is cancelled and nothing more is reported for that assignment. A late report of a
  superseded assignment (another agent's, with an older token) takes nothing away.
- Trace: each assignment runs in the context it was handled in, so its reports carry the
  assignment's W3C trace context and stay in the workflow's trace — with spans when the
  client has a tracer, as plain headers passed on when the agent has no OpenTelemetry SDK.
- Choices: an assignment is acknowledged (its offset committed) once it is handed to a
  task, not when it finishes, so a slow handler never holds back cancellations; a worker
  killed mid-task leaves it to the system's timeouts (recovery's missed heartbeats, the
  hub's execution timeout). ``stop()`` cancels running handlers without reporting, for the
  same reason. Assignments older than ``max_assignment_age`` seconds are skipped: a new
  group reads the topic from its start and must not redo an old history.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from baton.bus import Ack
from baton.bus.subscription import BATCH_DELIVERIES
from baton.client.client import BatonClient
from baton.client.feed import AgentFeed
from baton.client.presence import AgentPresence
from baton.client.takeaway import WATCHED_PATTERNS, Takeaway, takeaway
from baton.client.task import Task, TaskHandler, as_result
from baton.errors import ConfigError
from baton.lifecycle import Lifecycle
from baton.protocol.duration import format_duration
from baton.protocol.event import Event

__all__ = ["AgentWorker"]

log = logging.getLogger("baton.client.worker")

_AGENT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


@dataclass(eq=False, slots=True)
class _Run:
    task: Task
    job: asyncio.Task[None] | None = None
    taken: str | None = None
    """Why the assignment was taken away; None while it is this worker's."""
    start_ack: asyncio.Future[Ack] | None = None
    """The acknowledgement of this run's ``TASK_STARTED``, once it is sent."""

    async def started(self) -> None:
        """Wait for :attr:`start_ack` (not cancelling it: the worker awaits it too)."""
        if self.start_ack is not None:
            await asyncio.shield(self.start_ack)


class AgentWorker(Lifecycle):
    """Runs ``handler`` for every task the system assigns to ``agent_id``.

    Args:
        client: The client to talk through; started by :meth:`start` when it is not yet
            (and then stopped by :meth:`stop`).
        agent_id: The agent's name in the resource pool (``agent_001``...).
        handler: ``async (Task) -> Mapping | TaskResult``; an exception fails the task.
        heartbeat_interval: Seconds between heartbeats; keep it below recovery's
            ``BATON_RECOVERY_AGENT_INTERVAL`` times ``AGENT_MISSES``.
        capabilities: What the agent can do, announced at registration.
        concurrency: Handlers running at once; later assignments wait for a slot.
        max_assignment_age: Skip assignments older than this many seconds (None: never).

    Raises:
        ConfigError: a bad agent id, interval or concurrency.
    """

    def __init__(
        self,
        *,
        client: BatonClient,
        agent_id: str,
        handler: TaskHandler,
        heartbeat_interval: float = 10.0,
        capabilities: Sequence[str] = (),
        concurrency: int = 1,
        max_assignment_age: float | None = 600.0,
    ) -> None:
        if not _AGENT_ID.match(agent_id):
            raise ConfigError(f"agent id {agent_id!r} is not [A-Za-z0-9_.-]{{1,128}}")
        if not heartbeat_interval > 0 or concurrency < 1:
            raise ConfigError("heartbeat_interval must be > 0 and concurrency >= 1")
        self.client = client
        self.agent_id = agent_id
        self.handler = handler
        self.concurrency = concurrency
        self.max_assignment_age = max_assignment_age
        self.feed = AgentFeed.of(client)
        self.group = self.feed.group
        self.presence = AgentPresence(
            client=client,
            agent_id=agent_id,
            interval=heartbeat_interval,
            capabilities=list(capabilities),
            subscriptions=list(WATCHED_PATTERNS),
            busy=lambda: len(self._runs),
        )
        self._runs: dict[tuple[str, str], _Run] = {}
        self._jobs: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(concurrency)
        self._owns_client = False
        self._running = False
        self._closed = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the client if needed, join the agent's group, register, heartbeat."""
        if self._running:
            return
        if not self.client.started:
            await self.client.start()
            self._owns_client = True
        self._running = True
        self._closed.clear()
        await self.feed.join(self)
        await self.presence.start()

    async def stop(self) -> None:
        """Cancel running handlers (unreported), leave the group, say goodbye. Idempotent."""
        if not self._running:
            return
        self._running = False
        for run in self._runs.values():
            run.taken = run.taken or "worker stopped"
        jobs = list(self._jobs)
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        self._runs.clear()
        await self.feed.leave(self)
        await self.presence.stop()
        if self._owns_client:
            self._owns_client = False
            await self.client.stop()
        self._closed.set()

    async def run_forever(self) -> None:
        """Start, then work until :meth:`stop` is called or the task is cancelled.

        Raises:
            BaseException: the error of a consumer loop that died (the worker stops first).
        """
        await self.start()
        crashed = asyncio.ensure_future(self.client.wait_crashed())
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait({crashed, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            crashed.cancel()
            closed.cancel()
            await self.stop()
        if crashed.done() and not crashed.cancelled():
            raise crashed.result()

    @property
    def running_tasks(self) -> list[Task]:
        """Tasks whose handlers run or wait for a slot."""
        return [run.task for run in self._runs.values() if run.taken is None]

    # -- events ----------------------------------------------------------------------------

    def holds(self, workflow_id: str) -> bool:
        """Whether a task of ``workflow_id`` runs here or waits for a slot."""
        return any(key[0] == workflow_id for key in self._runs)

    def deliver(self, event: Event) -> None:
        """Take an event of this agent's feed: an assignment, or what ends one."""
        if not self._running:
            return
        ended = takeaway(event, agent_id=self.agent_id)
        if ended is not None:
            self._take_away(ended)
        if event.event_type == "TASK_ASSIGNED" and event.data.get("agent_id") == self.agent_id:
            self._accept(event)

    def _take_away(self, ended: Takeaway) -> None:
        for key, run in list(self._runs.items()):
            if not ended.ends(workflow_id=key[0], task_id=key[1], token=run.task.fencing_token):
                continue
            log.info("%s: %s/%s taken away (%s)", self.agent_id, *key, ended.reason)
            run.taken = ended.reason
            del self._runs[key]
            if run.job is not None:
                run.job.cancel()

    def _accept(self, event: Event) -> None:
        key = (event.workflow_id, str(event.data.get("task_id")))
        if key in self._runs:
            return  # the same assignment again (a redelivery): it is already running
        age = (datetime.now(UTC) - event.timestamp).total_seconds()
        if self.max_assignment_age is not None and age > self.max_assignment_age:
            log.warning("%s: skipping %s/%s, assigned %.0fs ago", self.agent_id, *key, age)
            return
        run: _Run

        async def report(percent: float, message: str | None, eta: str | None) -> None:
            await self._progress(run, percent, message, eta)

        run = _Run(task=Task.from_assignment(event, reporter=report, started=lambda: run.started()))
        self._runs[key] = run
        # A context of its own: the consumer's batch must not wait for this task's output.
        # Copied while the assignment is handled, it holds the assignment's trace context.
        context = contextvars.copy_context()
        context.run(BATCH_DELIVERIES.set, None)
        job = asyncio.get_running_loop().create_task(
            self._execute(run), name=f"baton-agent-{self.agent_id}-{key[1]}", context=context
        )
        run.job = job
        self._jobs.add(job)
        job.add_done_callback(self._finished)

    def _finished(self, job: asyncio.Task[None]) -> None:
        self._jobs.discard(job)
        if not job.cancelled() and job.exception() is not None:
            log.error("%s: a task's reporting failed", self.agent_id, exc_info=job.exception())

    # -- one assignment --------------------------------------------------------------------

    def _current(self, run: _Run) -> bool:
        task = run.task
        return run.taken is None and self._runs.get((task.workflow_id, task.task_id)) is run

    async def _execute(self, run: _Run) -> None:
        task = run.task
        async with self._slots:
            if not self._current(run):
                return
            # The start is not waited for before the handler runs: the report of its end
            # follows it in order (same key), often in the same produce request, and both
            # acknowledgements are awaited once the end is sent (a handler that must wait for
            # the start's awaits task.started()).
            run.start_ack = asyncio.ensure_future(
                await self._send(task, "TASK_STARTED", {"start_time": _iso(datetime.now(UTC))})
            )
            # Awaited below; a run taken away meanwhile no longer cares how its start went.
            run.start_ack.add_done_callback(_retrieve)
            end = await self._outcome(run)
            ended = None if end is None else await self._send(task, *end)
            await run.start_ack
            if ended is not None:
                await ended

    async def _outcome(self, run: _Run) -> tuple[str, dict[str, Any]] | None:
        """Run the handler: the report of how it ended, or None when the task was taken away
        meanwhile (nothing is reported then)."""
        task = run.task
        began = asyncio.get_running_loop().time()
        try:
            outcome = as_result(task, await self.handler(task))
        except Exception as exc:
            if not self._let_go(run):
                return None
            log.warning("%s: %s/%s failed: %r", self.agent_id, task.workflow_id,
                        task.task_id, exc)  # fmt: skip
            return "TASK_FAILED", {
                "failure_reason": f"{type(exc).__name__}: {exc}"[:2000],
                "error_type": type(exc).__name__,
                "retry_count": max(0, task.attempt - 1),
            }
        if not self._let_go(run):
            return None
        data: dict[str, Any] = {
            "duration": format_duration(asyncio.get_running_loop().time() - began),
            "results": dict(outcome.results),
        }
        if outcome.quality_score is not None:
            data["quality_score"] = outcome.quality_score
        return "TASK_COMPLETED", data

    def _let_go(self, run: _Run) -> bool:
        """True when the run is still this worker's; it stops being tracked either way."""
        task = run.task
        mine = self._current(run)
        if mine:
            del self._runs[(task.workflow_id, task.task_id)]
        return mine

    async def _progress(
        self, run: _Run, percent: float, message: str | None, eta: str | None
    ) -> None:
        if not self._current(run):
            return
        task = run.task
        data: dict[str, Any] = {
            "phase_id": task.phase,
            "progress_percentage": percent,
            "eta_update": eta or "unknown",
        }
        if message is not None:
            data["message"] = message
        await self._report(task, "PHASE_PROGRESS", data)

    async def _report(self, task: Task, event_type: str, data: Mapping[str, Any]) -> None:
        await (await self._send(task, event_type, data))

    async def _send(self, task: Task, event_type: str, data: Mapping[str, Any]) -> Awaitable[Ack]:
        return await self.client.send(
            event_type=event_type,
            workflow_id=task.workflow_id,
            phase=task.phase,
            data={
                "task_id": task.task_id,
                "agent_id": self.agent_id,
                "fencing_token": task.fencing_token,
                "attempt": task.attempt,
                **data,
            },
        )


def _retrieve(done: asyncio.Future[Any]) -> None:
    """Mark a future's failure as seen (asyncio logs one nobody looked at)."""
    if not done.cancelled():
        done.exception()


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
