"""Hub configuration from the environment (``BATON_HUB_*``), validated at start."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from baton.config import ServiceConfig

__all__ = ["HubConfig"]


class HubConfig(ServiceConfig):
    """Settings of the coordination hub.

    Attributes:
        timeout_interval: Seconds between checks of task and dependency deadlines (deadlines
            are minutes long; checking more often costs CPU for every active workflow).
        allocation_patience: Seconds the hub keeps asking an unavailable resource manager
            for a workflow's allocation before the event goes to retry/dead letter.
        failure_policy: ``fail``: a task failure no routing rule handles fails the workflow;
            ``recovery``: it is left to workflow-recovery (``RECOVERY_REQUESTED``).
        checkpoints: Ask workflow-recovery for automatic checkpoints (phase complete,
            emergency, incremental), each carrying the whole state.
        checkpoint_every: An incremental checkpoint every this many state versions (0: none).
    """

    env_prefix: ClassVar[str] = "BATON_HUB_"

    timeout_interval: float = Field(default=5.0, gt=0)
    allocation_patience: float = Field(default=120.0, gt=0)
    failure_policy: Literal["fail", "recovery"] = "fail"
    checkpoints: bool = True
    checkpoint_every: int = Field(default=0, ge=0)
