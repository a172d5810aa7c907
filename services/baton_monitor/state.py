"""The monitor's metric state: its configuration, panes and workflows.

Everything here is a pydantic model that round-trips through JSON (``model_dump_json`` /
``model_validate_json``), so the service can persist and restore it.
:mod:`baton_monitor.metrics` changes it; this module only describes it. One
:class:`Metrics` is what one partition of the events topic has added (the service reads and
writes it in PostgreSQL with each batch), or the sum of every partition's (a report).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from baton_monitor.digest import EXACT_CAP
from baton_monitor.samples import SAMPLE_CAP, Samples
from baton_monitor.windows import MetricWindow, Tally, WindowSpec, pane_size

__all__ = [
    "RECENT_IDS",
    "UNKNOWN",
    "Metrics",
    "MetricsConfig",
    "OpenTask",
    "Position",
    "WorkflowStats",
    "iso",
]

UNKNOWN: Final = "unknown"
"""Label used when an event does not say (e.g. a task report without its agent)."""
RECENT_IDS: Final = 32
"""Event ids a workflow's figures remember, to know a copy sent again (an outbox sends one
again within seconds, a few of the workflow's events later)."""


def iso(moment: datetime) -> str:
    """``moment`` as ISO-8601 in UTC ending in ``Z`` (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class MetricsConfig(BaseModel):
    """Window shapes and bounds of the metric state."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tumbling: float = Field(default=60.0, gt=0)
    """Size of the tumbling windows in seconds."""
    hopping_size: float = Field(default=300.0, gt=0)
    """Size of the hopping windows in seconds."""
    hopping_hop: float = Field(default=60.0, gt=0)
    """Advance of the hopping windows in seconds."""
    sample_cap: int = Field(default=SAMPLE_CAP, ge=1)
    """Values kept exactly per workflow and key (then reservoir sampling)."""
    exact_cap: int = Field(default=EXACT_CAP, ge=0)
    """Values kept exactly per window and key (then a 1 %-accurate sketch answers)."""
    min_samples: int = Field(default=5, ge=1)
    """Observations a percentile or rate needs before thresholds see it."""
    workflow_limit: int = Field(default=1000, ge=1)
    """Workflows tracked at most (finished ones are forgotten first)."""
    open_limit: int = Field(default=10_000, ge=1)
    """Tasks and phases in progress tracked per workflow at most (oldest forgotten first)."""

    @model_validator(mode="after")
    def _hop_fits(self) -> MetricsConfig:
        if self.hopping_hop > self.hopping_size:
            raise ValueError(
                f"hopping_hop ({self.hopping_hop} s) must not exceed "
                f"hopping_size ({self.hopping_size} s)"
            )
        return self

    @property
    def tumbling_spec(self) -> WindowSpec:
        """Shape of the tumbling windows."""
        return WindowSpec(size=self.tumbling, hop=self.tumbling)

    @property
    def hopping_spec(self) -> WindowSpec:
        """Shape of the hopping windows."""
        return WindowSpec(size=self.hopping_size, hop=self.hopping_hop)

    @property
    def pane(self) -> float:
        """Size of the panes windows are made of (seconds; :func:`windows.pane_size`)."""
        return pane_size(self.tumbling, self.hopping_size, self.hopping_hop)

    @property
    def keep(self) -> float:
        """Seconds a pane is kept after its end: long enough for the last closed window of
        each shape, and for consumer-lag readings one hopping window old."""
        return max(2 * self.tumbling, self.hopping_size + self.hopping_hop)


class Position(BaseModel):
    """Where a record sits in the events topic."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    partition: int
    offset: int


class OpenTask(BaseModel):
    """A task assigned or started and not yet reported done."""

    model_config = ConfigDict(extra="forbid")

    since: datetime
    """When it was assigned (or started, which is more precise)."""
    agent_id: str | None = None
    """The agent holding it."""


class WorkflowStats(BaseModel):
    """Whole-life metrics of one workflow (a workflow is finite, so no windows)."""

    model_config = ConfigDict(extra="forbid")

    workflow_type: str
    """From ``WORKFLOW_CREATED``'s definition, else derived from the id."""
    status: Literal["active", "completed", "failed", "cancelled"] = "active"
    """Whether it has ended, and how."""
    first_seen: datetime
    """Processing time of its first event."""
    last_seen: datetime
    """Processing time of its latest event."""
    created_at: datetime | None = None
    """Event time of ``WORKFLOW_CREATED``."""
    events: dict[str, int] = Field(default_factory=dict)
    """Events per type."""
    recent_ids: list[str] = Field(default_factory=list)
    """Ids of its latest events (at most :data:`RECENT_IDS`): a copy of one of them, sent
    again by an outbox whose sender died before noting it sent, is not counted again."""
    latency: Samples = Field(default_factory=Samples)
    """Event-to-processed latency of its events, in seconds."""
    task_durations: dict[str, Samples] = Field(default_factory=dict)
    """Completed task durations per agent, in seconds."""
    phase_durations: dict[str, Samples] = Field(default_factory=dict)
    """Completed phase durations per phase, in seconds."""
    tasks: Tally = Field(default_factory=Tally)
    """Completed and failed tasks."""
    agents: dict[str, Tally] = Field(default_factory=dict)
    """Completed and failed tasks per agent."""
    open_tasks: dict[str, OpenTask] = Field(default_factory=dict)
    """Tasks in progress, by task id."""
    open_phases: dict[str, datetime] = Field(default_factory=dict)
    """Phases in progress: phase → event time of ``PHASE_STARTED``."""
    applied: Position | None = None
    """The latest record of the events topic counted here. These figures outlive the
    process (PostgreSQL): a record at or before it, delivered again after a restart, is not
    counted twice (a workflow's records are all in one partition, in order)."""


class Metrics(BaseModel):
    """Metric state of the monitor (see :mod:`baton_monitor.metrics`)."""

    model_config = ConfigDict(extra="forbid")

    config: MetricsConfig = Field(default_factory=MetricsConfig)
    """Window shapes and bounds."""
    since: datetime | None = None
    """Processing time of the first observation (windows before it were not watched)."""
    observed: int = 0
    """Events observed in all."""
    panes: dict[int, MetricWindow] = Field(default_factory=dict)
    """Panes by start (epoch ms), for :attr:`MetricsConfig.keep` seconds: tumbling and
    hopping windows are made of them (:func:`windows.assemble`). Consumer-lag readings are
    their gauges ``consumer_lag:<group>``."""
    workflows: dict[str, WorkflowStats] = Field(default_factory=dict)
    """Per-workflow metrics, oldest first."""
    applied: dict[int, int] = Field(default_factory=dict)
    """Per partition of the events topic, the offset of the latest record observed: a
    record at or before it, handled again (a batch retried after a failed save), is not
    counted twice."""
