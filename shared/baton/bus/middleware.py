"""Bus middleware: code that wraps every publish and every handled record.

Tracing is one middleware (:mod:`baton.bus.tracing`); handlers never deal with it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from typing import Protocol

from baton.bus.transport import Record
from baton.protocol.event import Event
from baton.protocol.headers import Headers

__all__ = ["Middleware", "consume_scope", "publish_scope"]


class Middleware(Protocol):
    """Wraps publishing and consuming.

    ``publish_scope`` may add headers (it receives the mutable header list before the record
    is handed to the producer). ``consume_scope`` wraps the handling of one record by one
    group; ``event`` is None when the record could not be decoded.
    """

    def publish_scope(
        self, *, topic: str, event: Event, headers: Headers
    ) -> AbstractContextManager[None]: ...

    def consume_scope(
        self, *, record: Record, event: Event | None, group: str
    ) -> AbstractContextManager[None]: ...


_NULL = nullcontext()


def publish_scope(
    middleware: Sequence[Middleware], *, topic: str, event: Event, headers: Headers
) -> AbstractContextManager[None]:
    """All middlewares' publish scopes, outermost first."""
    if len(middleware) == 1:  # the usual case: no stack to build per record
        return middleware[0].publish_scope(topic=topic, event=event, headers=headers)
    if not middleware:
        return _NULL
    return _nested([m.publish_scope(topic=topic, event=event, headers=headers) for m in middleware])


def consume_scope(
    middleware: Sequence[Middleware], *, record: Record, event: Event | None, group: str
) -> AbstractContextManager[None]:
    """All middlewares' consume scopes, outermost first."""
    if len(middleware) == 1:
        return middleware[0].consume_scope(record=record, event=event, group=group)
    if not middleware:
        return _NULL
    return _nested([m.consume_scope(record=record, event=event, group=group) for m in middleware])


@contextmanager
def _nested(scopes: list[AbstractContextManager[None]]) -> Iterator[None]:
    if len(scopes) == 2:  # a service's tracing and metrics: a third cheaper than a stack
        with scopes[0], scopes[1]:
            yield
        return
    with ExitStack() as stack:
        for scope in scopes:
            stack.enter_context(scope)
        yield
