"""Why a request is denied or waits: the checks, each answering with a sentence.

A request is refused outright when the pools could never hold it (even reduced to one agent
under ``reduce_agents``) or it asks for more than :data:`MAX_DURATION_HOURS`. A request
that cannot start now is refused when it may not queue, or when its estimated wait exceeds
``max_wait_time`` and it does not accept a later start (``extend_duration``).
"""

from __future__ import annotations

from collections.abc import Sequence

from baton.protocol.duration import format_duration, parse_duration
from baton.protocol.messages import AllocationRequest
from baton_resource.leases import MAX_DURATION_HOURS
from baton_resource.planner import Candidate, Holding, scaled, shape
from baton_resource.pools import Amounts

__all__ = ["conflicting_files", "never_fits", "queue_denial", "wait_reason"]


def never_fits(candidate: Candidate, *, hours: float, capacity: Amounts) -> str | None:
    """Why the pools can never serve the request, or None when they can."""
    if hours > MAX_DURATION_HOURS:
        return f"duration_hours: asks {hours:g}, at most {MAX_DURATION_HOURS:g}"
    if shape(candidate, available=capacity) is not None:
        return None
    need = candidate.need
    least = scaled(need, agents=1) if candidate.reduce_agents and need.agents > 1 else need
    return "; ".join(least.shortfalls(capacity))


def queue_denial(req: AllocationRequest, *, wait: float | None) -> str | None:
    """Why a request that cannot start now may not wait, or None when it may."""
    if not req.fallback_options.queue_if_unavailable:
        return "resources unavailable and queue_if_unavailable is false"
    if wait is None:
        return "the pools cannot hold it together with the allocations in place"
    limit = parse_duration(req.constraints.max_wait_time)
    if wait > limit and not req.fallback_options.extend_duration:
        return (
            f"estimated wait {format_duration(wait)} exceeds max_wait_time "
            f"{req.constraints.max_wait_time} (extend_duration is false)"
        )
    return None


def conflicting_files(candidate: Candidate, *, blockers: Sequence[Holding]) -> list[str]:
    """The candidate's files held by the blocking holdings, in the candidate's order."""
    return [f for f in candidate.files if any(f in h.files for h in blockers)]


def wait_reason(
    candidate: Candidate,
    *,
    blockers: Sequence[Holding],
    free: Amounts,
    reserved_by: str | None,
) -> str:
    """Why a queued request cannot start now."""
    if blockers:
        files = conflicting_files(candidate, blockers=blockers)
        return f"exclusive files held by other workflows: {', '.join(files)}"
    short = candidate.need.shortfalls(free)
    if short:
        return f"not enough free resources: {'; '.join(short)}"
    return f"resources reserved for the higher-ranked request {reserved_by}"
