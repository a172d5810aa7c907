"""A workflow's trace context: carried in Kafka headers, kept where events start later.

one workflow is one trace. The context travels as W3C ``traceparent`` /
``tracestate`` record headers, and anything published while a record is handled joins the
record's trace — also in a process without the OpenTelemetry SDK (an agent, a service with
tracing off): the handled record's headers are then passed on as they are (:func:`handling`).

Events that start outside the handling of their workflow's records — a timeout found by a
loop, a queued request granted by another workflow's release, a batch of several workflows'
events — name their trace themselves: the code that emits them keeps the workflow's context
(:func:`current_trace` when the workflow first shows up, :func:`trace_of` an event) and puts
it on the event (:func:`trace_for`, :func:`trace_headers`). An event that carries a trace
context keeps it: the bus and the outbox give the running code's context only to events
without one (:func:`inject_trace`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar, Token
from types import TracebackType

from opentelemetry import propagate
from opentelemetry.propagators.textmap import Getter, Setter

from baton.protocol.event import Event
from baton.protocol.headers import H, Headers

__all__ = [
    "HEADER_GETTER",
    "HEADER_SETTER",
    "TRACE_HEADER_NAMES",
    "TraceContext",
    "carries_trace",
    "current_trace",
    "handled_trace",
    "handling",
    "inject_trace",
    "trace_for",
    "trace_headers",
    "trace_id",
    "trace_of",
]

TraceContext = dict[str, str]
"""Header name → value of a W3C trace context (``traceparent``, maybe ``tracestate``);
JSON-ready, to keep with a workflow's state. Empty: no trace."""

TRACE_HEADER_NAMES: frozenset[str] = frozenset({H.TRACEPARENT, H.TRACESTATE})
"""The record headers that make up a trace context."""


class _HeaderSetter(Setter[Headers]):
    def set(self, carrier: Headers, key: str, value: str) -> None:
        carrier[:] = [(k, v) for k, v in carrier if k != key]
        carrier.append((key, value.encode()))


class _HeaderGetter(Getter[Headers]):
    def get(self, carrier: Headers, key: str) -> list[str] | None:
        values = [v.decode("utf-8", "replace") for k, v in carrier if k == key]
        return values or None

    def keys(self, carrier: Headers) -> list[str]:
        return [k for k, _ in carrier]


HEADER_SETTER = _HeaderSetter()
HEADER_GETTER = _HeaderGetter()

_HANDLED: ContextVar[Headers | None] = ContextVar("baton_handled_trace", default=None)
"""Headers of the record being handled, where the tracing middleware makes no spans: its
trace headers are picked out only when something is published (most records publish
nothing)."""

_NULL = nullcontext()


class _Handling:
    # A plain class rather than a generator context manager: it runs once per record.

    __slots__ = ("_headers", "_token")

    def __init__(self, headers: Headers) -> None:
        self._headers = headers
        self._token: Token[Headers | None] | None = None

    def __enter__(self) -> None:
        self._token = _HANDLED.set(self._headers)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _HANDLED.reset(self._token)


def handling(headers: Headers) -> AbstractContextManager[None]:
    """While a record is handled without tracing on: its trace headers are the current trace
    (what :func:`inject_trace` passes on). Nothing to do for a record without headers."""
    return _Handling(headers) if headers else _NULL


def handled_trace() -> tuple[tuple[str, bytes], ...]:
    """Trace headers of the record being handled without tracing on (empty otherwise)."""
    return _trace_only(_HANDLED.get() or ())


def _trace_only(headers: Iterable[tuple[str, bytes]]) -> tuple[tuple[str, bytes], ...]:
    return tuple((k, v) for k, v in headers if k in TRACE_HEADER_NAMES)


def carries_trace(headers: Iterable[tuple[str, bytes]]) -> bool:
    """True when ``headers`` hold a ``traceparent``."""
    return any(k == H.TRACEPARENT for k, _ in headers)


def inject_trace(headers: Headers) -> None:
    """Give ``headers`` the running code's trace context, unless they carry one already.

    The running code's context is the active span's when tracing is on, else that of the
    record being handled (:func:`handling`); none outside both.
    """
    if carries_trace(headers):
        return
    propagate.inject(headers, setter=HEADER_SETTER)
    if not carries_trace(headers):
        headers.extend(handled_trace())


def current_trace() -> TraceContext:
    """The running code's trace context (see :func:`inject_trace`), to keep for later."""
    headers: Headers = []
    inject_trace(headers)
    return _as_context(headers)


def trace_of(event: Event) -> TraceContext:
    """The trace context ``event`` carried (empty when none)."""
    return _as_context(event.extra_headers)


def trace_headers(context: Mapping[str, str]) -> tuple[tuple[str, bytes], ...]:
    """``context`` as record headers, e.g. for :attr:`Event.extra_headers`."""
    return tuple((k, v.encode()) for k, v in context.items() if k in TRACE_HEADER_NAMES)


def trace_id(context: Mapping[str, str]) -> str | None:
    """The trace id (32 hex digits) of ``context``; None when it has no valid traceparent."""
    parts = context.get(H.TRACEPARENT, "").split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


def trace_for(workflow_trace: Mapping[str, str]) -> tuple[tuple[str, bytes], ...]:
    """Trace headers an event must carry to stay in its workflow's trace.

    None when the running code is in that trace already (the event then becomes its child
    the usual way); else the workflow's own context (``workflow_trace``, as kept).
    """
    wanted = trace_id(workflow_trace)
    if wanted is None or trace_id(current_trace()) == wanted:
        return ()
    return trace_headers(workflow_trace)


def _as_context(headers: Iterable[tuple[str, bytes]]) -> TraceContext:
    return {k: v.decode("utf-8", "replace") for k, v in _trace_only(headers)}
