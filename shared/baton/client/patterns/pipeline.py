"""Steps run in order with "Step N/Total" progress, resumable from a checkpoint.

Usage::

    pipeline = Pipeline(
        steps=[Step("extract", extract), Step("parse", parse), Step("write", write)],
        reporters=[print_steps(), task_progress(task)],
        store=JsonFileStore(".baton-checkpoints"),
    )
    state = await pipeline.run(key="feature_001", state={"slug": "auth"})

Each step is ``async (state) -> None`` and changes the JSON-ready ``state`` dict. With a
store, the state and the names of the steps done are saved after every step; a run with the
same key after an interruption (a crash, Ctrl-C, a failed step) skips the steps done and
goes on with the saved state. A finished run clears its checkpoint.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TextIO

from baton.client.errors import StepFailedError
from baton.client.patterns.checkpoint import CheckpointStore
from baton.client.task import Task

__all__ = ["Pipeline", "Step", "StepEvent", "StepReporter", "print_steps", "task_progress"]

StepFn = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Step:
    """One named step of a pipeline."""

    name: str
    run: StepFn


@dataclass(frozen=True, slots=True)
class StepEvent:
    """A step starting, done, skipped (done in an earlier run) or failed."""

    number: int
    total: int
    name: str
    status: Literal["started", "done", "skipped", "failed"]
    error: str | None = None

    @property
    def label(self) -> str:
        """``Step 2/5: parse``."""
        return f"Step {self.number}/{self.total}: {self.name}"


class StepReporter(Protocol):
    """Hears of every :class:`StepEvent`."""

    async def __call__(self, event: StepEvent) -> None: ...


def print_steps(stream: TextIO | None = None) -> StepReporter:
    """Prints ``Step N/Total: name...`` and a done, skipped or failed line per step."""

    async def report(event: StepEvent) -> None:
        out = stream or sys.stdout
        if event.status == "started":
            print(f"{event.label}...", file=out, flush=True)
        elif event.status == "done":
            print(f"   done: {event.name}", file=out, flush=True)
        elif event.status == "skipped":
            print(f"{event.label} (done before, resumed past it)", file=out, flush=True)
        else:
            print(f"   failed: {event.name}: {event.error}", file=out, flush=True)

    return report


def task_progress(task: Task) -> StepReporter:
    """Reports each step as the task's progress on the bus (``PHASE_PROGRESS``)."""

    async def report(event: StepEvent) -> None:
        if event.status == "started":
            await task.progress(100 * (event.number - 1) / event.total, message=event.label)
        elif event.status in ("done", "skipped"):
            await task.progress(100 * event.number / event.total, message=f"{event.label} done")

    return report


class Pipeline:
    """Runs steps in order, reporting progress and (with a store) checkpointing each one.

    Args:
        steps: The steps; names must be unique (checkpoints record them).
        reporters: Told of each step's start and end.
        store: Where to checkpoint; None runs without resuming.
    """

    def __init__(
        self,
        *,
        steps: Sequence[Step],
        reporters: Sequence[StepReporter] = (),
        store: CheckpointStore | None = None,
    ) -> None:
        names = [s.name for s in steps]
        if len(set(names)) != len(names):
            raise ValueError(f"step names must be unique: {names}")
        self.steps = list(steps)
        self.reporters = list(reporters)
        self.store = store

    async def run(
        self, *, key: str = "pipeline", state: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Run (or resume) the pipeline; returns the final state.

        Args:
            key: Names the run's checkpoint.
            state: Initial state; ignored when a checkpoint of ``key`` exists.

        Raises:
            StepFailedError: a step raised; the checkpoint keeps what was done before it.
        """
        saved = await self.store.load(key) if self.store is not None else None
        done: list[str] = list(saved["done"]) if saved else []
        data: dict[str, Any] = dict(saved["state"]) if saved else dict(state or {})
        total = len(self.steps)
        for number, step in enumerate(self.steps, start=1):
            if step.name in done:
                await self._tell(StepEvent(number, total, step.name, "skipped"))
                continue
            await self._tell(StepEvent(number, total, step.name, "started"))
            try:
                await step.run(data)
            except Exception as exc:
                await self._tell(StepEvent(number, total, step.name, "failed", error=str(exc)))
                raise StepFailedError(
                    f"step {number}/{total} {step.name!r} failed: {exc}",
                    step=step.name,
                    number=number,
                ) from exc
            done.append(step.name)
            if self.store is not None:
                await self.store.save(key, {"done": done, "state": data})
            await self._tell(StepEvent(number, total, step.name, "done"))
        if self.store is not None:
            await self.store.clear(key)
        return data

    async def _tell(self, event: StepEvent) -> None:
        for reporter in self.reporters:
            await reporter(event)
