"""Recovery configuration from the environment (``BATON_RECOVERY_*``), validated at start.

Agent liveness: ``AGENT_INTERVAL`` (seconds between an agent's heartbeats, default 10) and
``AGENT_MISSES`` (missed ones before ``AGENT_TIMEOUT``, default 3). Retries and
reassignments wait an exponential backoff: ``RETRY_BASE`` / ``RETRY_MAX_DELAY`` (seconds),
``RETRY_JITTER`` (``equal`` by default: growing delays; ``full``, ``decorrelated``, ``none``;
see :mod:`baton.backoff`), ``MAX_ATTEMPTS``. Breakers:
``BREAKER_FAILURES`` within ``BREAKER_WINDOW`` seconds open an agent's breaker for
``BREAKER_COOLDOWN`` seconds. ``FORGET_AFTER``: seconds after which an agent timed out and
not heard of since (holding no watched task), and a timed-out task never assigned again, are
forgotten (default a day). Checkpoints: ``FULL_EVERY`` (a full one after this many deltas
at most), ``MAX_DELTA_RATIO``. ``CHECK_INTERVAL``: seconds between liveness checks and runs
of due recovery actions.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from baton.backoff import BackoffPolicy
from baton.config import ServiceConfig
from baton_recovery.checkpoints.chain import ChainPolicy
from baton_recovery.failures.breaker import BreakerPolicy
from baton_recovery.failures.liveness import LivenessPolicy
from baton_recovery.failures.plan import RecoveryPolicy

__all__ = ["RecoveryConfig"]

RetryJitter = Literal["none", "equal", "full", "decorrelated"]
"""The jitters a deployment may choose for recovery's retries (:mod:`baton.backoff`)."""


class RecoveryConfig(ServiceConfig):
    """Settings of workflow-recovery: agent liveness, backoff, circuit breakers, checkpoints.

    Attributes:
        agent_interval: Seconds between an agent's heartbeats, as the agents send them.
        agent_misses: Heartbeats an agent may miss before it is reported ``AGENT_TIMEOUT``.
        check_interval: Seconds between liveness checks and runs of due recovery actions.
        retry_base: Backoff of retries and reassignments: after failed attempt n a wait of
            base·2ⁿ⁻¹ seconds (capped by ``retry_max_delay``), stored as the action's due
            time.
        retry_max_delay: Longest backoff wait (seconds).
        retry_jitter: How a wait is spread: ``equal`` (uniform in [½, 1] of it, so waits
            grow attempt by attempt), ``full`` ([0, 1]), ``decorrelated`` or ``none``.
        max_attempts: Attempts of a task in all, the first included, before retries and
            reassignments give way to the fallback.
        fallback: What a failure that is not recoverable leads to: ``fail`` the workflow
            (as the hub does with a failure no rule retries) or ``escalate`` it.
        breaker_failures: Failures of one agent within ``breaker_window`` that open its
            circuit breaker: no work is sent to it.
        breaker_window: Seconds over which an agent's failures are counted.
        breaker_cooldown: Seconds a breaker stays open; then a trial attempt may go through,
            and its success closes the breaker.
        full_every: Most checkpoints in a chain of differential checkpoints (a full one,
            then deltas); 1 stores every checkpoint full.
        max_delta_ratio: Largest delta, as a fraction of the full checkpoint's size; a
            larger one is stored full.
        action_timeout: Seconds the hub has to answer a recovery action; the replica
            running it holds it for twice this plus 5 s.
        forget_after: Seconds after which an agent timed out and not heard of since
            (holding no watched task), and a timed-out task never assigned again, are
            forgotten.
    """

    env_prefix: ClassVar[str] = "BATON_RECOVERY_"

    agent_interval: float = Field(default=10.0, gt=0)
    agent_misses: int = Field(default=3, ge=1)
    check_interval: float = Field(default=1.0, gt=0)
    retry_base: float = Field(default=1.0, gt=0)
    retry_max_delay: float = Field(default=60.0, gt=0)
    retry_jitter: RetryJitter = "equal"
    max_attempts: int = Field(default=3, ge=1)
    fallback: Literal["fail", "escalate"] = "fail"
    breaker_failures: int = Field(default=5, ge=1)
    breaker_window: float = Field(default=60.0, gt=0)
    breaker_cooldown: float = Field(default=30.0, ge=0)
    full_every: int = Field(default=10, ge=1)
    max_delta_ratio: float = Field(default=0.5, gt=0)
    action_timeout: float = Field(default=10.0, gt=0)
    forget_after: float = Field(default=86_400.0, gt=0)

    def liveness(self) -> LivenessPolicy:
        return LivenessPolicy(interval_seconds=self.agent_interval, misses=self.agent_misses)

    def recovery(self) -> RecoveryPolicy:
        return RecoveryPolicy(
            backoff=BackoffPolicy(
                base=self.retry_base,
                max_delay=max(self.retry_base, self.retry_max_delay),
                max_attempts=self.max_attempts,
                jitter=self.retry_jitter,
            ),
            fallback=self.fallback,
        )

    def breakers(self) -> BreakerPolicy:
        return BreakerPolicy(
            failure_threshold=self.breaker_failures,
            window_seconds=self.breaker_window,
            cooldown_seconds=self.breaker_cooldown,
        )

    def chain(self) -> ChainPolicy:
        return ChainPolicy(full_every=self.full_every, max_delta_ratio=self.max_delta_ratio)
