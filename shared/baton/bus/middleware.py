"""Bus middleware: code that wraps every publish and every handled record.

Tracing is one middleware (:mod:`baton.bus.tracing`); handlers never deal with it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from baton.bus.transport import Record
from baton.protocol.event import Event
from baton.protocol.headers import Headers

__all__ = ["Middleware"]


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
