"""Exactly-once in effect: the idempotency ledger and durable request replies.

Kafka delivers at least once. A consumer that records the event id in ``baton_processed`` in
the same transaction as its state change applies each event once, however often it is
delivered (restarts, rebalances, replays). Requests work the same way through
``baton_replies``: the reply is stored with the change, and a repeated request id gets the
stored reply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from baton.db import Database
from baton.errors import BatonError, ErrorReply
from baton.protocol.event import Event

__all__ = [
    "DurableRequestHandler",
    "durable_responder",
    "first_events",
    "first_time",
    "first_times",
]


_RECORD = (
    "insert into baton_processed (consumer, event_id) values ($1, $2) "
    "on conflict do nothing returning 1"
)


async def first_time(conn: Any, *, consumer: str, event_id: str) -> bool:
    """Record ``event_id`` for ``consumer`` in ``conn``'s transaction; False if seen before."""
    inserted = await conn.fetchval(_RECORD, consumer, event_id)
    return bool(inserted == 1)


_RECORD_ALL = (
    "insert into baton_processed (consumer, event_id) "
    "select distinct $1::text, id from unnest($2::text[]) as e (id) order by id "
    "on conflict do nothing returning event_id"
)


async def first_times(conn: Any, *, consumer: str, event_ids: Sequence[str]) -> frozenset[str]:
    """:func:`first_time` for a batch of events, in one statement: the ids not seen before
    (an id given twice counts once).

    The ids are recorded in id order, so two transactions recording some of the same ids
    wait for each other in one order, never in a cycle.
    """
    rows = await conn.fetch(_RECORD_ALL, consumer, list(event_ids))
    return frozenset(r[0] for r in rows)


async def first_events(conn: Any, *, consumer: str, events: Sequence[Event]) -> list[Event]:
    """The events of a batch not seen before, in their order, each id once
    (:func:`first_times` in one statement)."""
    fresh = set(await first_times(conn, consumer=consumer, event_ids=[e.event_id for e in events]))
    firsts: list[Event] = []
    for event in events:
        if event.event_id in fresh:
            fresh.discard(event.event_id)  # an id given twice applies once
            firsts.append(event)
    return firsts


DurableRequestHandler = Callable[[Any, Event], Awaitable[dict[str, Any]]]
"""Applies a request inside the given transaction and returns the reply data."""


def durable_responder(
    *,
    db: Database,
    owner: str,
    handler: DurableRequestHandler,
    after_commit: Callable[[], None] | None = None,
) -> Callable[[Event], Awaitable[dict[str, Any]]]:
    """Wrap ``handler`` so each request id is applied once, even across restarts.

    The handler's changes, the stored reply and (through the outbox) its events commit
    together. A handler error that is not retriable is stored as the reply too (a repeat
    gets the same error); a retriable one is not stored, so a retry may succeed.
    """

    async def respond(request: Event) -> dict[str, Any]:
        request_id = request.request_id or request.event_id
        try:
            stored, (status, reply) = await _once(
                db, owner, request_id, lambda conn: handler(conn, request)
            )
        except BatonError as exc:
            if exc.retriable:
                raise
            # The handler's changes rolled back with its transaction: the error is stored
            # alone, in one of its own, so that a repeat gets the same error.
            error = exc.to_reply()

            async def failed(_: Any) -> dict[str, Any]:
                return error

            stored, (status, reply) = await _once(db, owner, request_id, failed, status="error")
        if stored and after_commit is not None:
            after_commit()
        return _replay(status, reply)

    return respond


async def _once(
    db: Database,
    owner: str,
    request_id: str,
    produce: Callable[[Any], Awaitable[dict[str, Any]]],
    *,
    status: str = "ok",
) -> tuple[bool, tuple[str, dict[str, Any]]]:
    """The reply stored for ``request_id``, or ``produce``'s, stored with its changes in one
    transaction: whether it was stored now, and ``(status, reply)``."""
    async with db.transaction() as conn:
        # The request's row is claimed first, marked pending until the change's reply is
        # written into it: two copies of one request handled at once (a zombie consumer
        # waking up while its partition's new owner handles the redelivery) meet on that
        # row, and the second waits for the first to commit, then finds its reply instead
        # of applying it again. (The reply is read in a statement of its own: the claim's
        # snapshot predates the wait.)
        if await conn.fetchval(_CLAIM, owner, request_id) is None:
            row = await conn.fetchrow(_STORED, owner, request_id)
            return False, (row["status"], row["reply"])
        reply = await produce(conn)
        await conn.execute(_STORE, owner, request_id, status, reply)
    return True, (status, reply)


_CLAIM = (
    "insert into baton_replies (owner, request_id, status, reply) values ($1, $2, 'pending', "
    "'{}') on conflict do nothing returning true"
)
_STORED = "select status, reply from baton_replies where owner = $1 and request_id = $2"
_STORE = "update baton_replies set status = $3, reply = $4 where owner = $1 and request_id = $2"


def _replay(status: str, reply: dict[str, Any]) -> dict[str, Any]:
    if status == "error":
        raise ErrorReply(reply)
    return reply
