"""Log lines of every Baton process: plain text, or one JSON object a line.

``BATON_LOG_FORMAT=text`` (the default) keeps the plain lines. ``BATON_LOG_FORMAT=json``
makes every line of a service, of the CLI, of the HTTP server and every Python warning one
JSON object, for log pipelines to index without parsing::

    {"ts": "2025-01-01T12:00:00.123Z", "level": "WARNING", "logger": "baton.hub",
     "message": "...", "service": "hub", "instance": "hub-0",
     "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"}

``service`` is there in a service's lines, ``instance`` when ``BATON_INSTANCE_ID`` is set,
``exception`` (the traceback) when one is logged, ``stack`` when asked for, and fields passed
with ``extra=`` under their own names. ``trace_id`` and ``span_id`` (hex, as trace backends
show them) are there while an OpenTelemetry span is active — while an event is handled or
published with tracing on — so a line leads to its trace and a trace to its lines.

aiokafka logs at ERROR what it then retries by itself: a consumer group's coordinator that
is not available yet (a broker creating its offsets topic on first use, or moving the
coordinator after a restart). That is the normal start of a group, not a failure, so those
records are demoted to INFO (:class:`TransientCoordinatorFilter`); a coordinator that stays
away still shows as the consumer's own timeout or as ``/health`` turning degraded.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson
from aiokafka.errors import KafkaError
from opentelemetry import trace

from baton.config import BatonSettings

__all__ = [
    "JsonFormatter",
    "TransientCoordinatorFilter",
    "configure_logging",
    "log_formatter",
    "quiet_transient_kafka_errors",
]

_COORDINATOR_LOGGER = "aiokafka.consumer.group_coordinator"

SERVICE_TEXT = "%(asctime)s {service:<8} %(levelname)-7s %(name)s: %(message)s"
"""A service's plain line; ``{service}`` is filled in once, the rest per record."""

_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",  # a record field from Python 3.12 on
    "color_message",  # the HTTP server's coloured copy of the message
}
"""Attributes every record has: the rest came with ``extra=`` and are kept as fields."""


class JsonFormatter(logging.Formatter):
    """One JSON object per record (module doc).

    Args:
        service: The service whose lines these are; None in a CLI process.
        instance: This replica's name (``BATON_INSTANCE_ID``), when set.
    """

    def __init__(self, *, service: str | None = None, instance: str | None = None) -> None:
        super().__init__()
        self._fixed = {
            key: value for key, value in (("service", service), ("instance", instance)) if value
        }

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **self._fixed,
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            line["trace_id"] = trace.format_trace_id(span.trace_id)
            line["span_id"] = trace.format_span_id(span.span_id)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in line:
                line[key] = value
        return orjson.dumps(line, default=repr).decode()


def _timestamp(created: float) -> str:
    moment = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    return moment.replace("+00:00", "Z")


def log_formatter(
    *,
    settings: BatonSettings,
    text: str,
    datefmt: str | None = None,
    service: str | None = None,
) -> logging.Formatter:
    """The formatter ``BATON_LOG_FORMAT`` asks for.

    Args:
        settings: Where the format and the instance name come from.
        text: The plain line's format (``logging`` ``%``-style), used when the format is text.
        datefmt: Its time format (default: ``logging``'s).
        service: The service whose lines these are, for JSON lines.
    """
    if settings.log_format == "json":
        return JsonFormatter(service=service, instance=settings.instance_id)
    return logging.Formatter(text, datefmt)


class TransientCoordinatorFilter(logging.Filter):
    """Demotes aiokafka's "Group Coordinator Request failed" for a retriable error to INFO
    (dropped when the logger does not log INFO)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR or not record.msg.startswith(
            "Group Coordinator Request failed"
        ):
            return True
        error = record.args[0] if isinstance(record.args, tuple) and record.args else None
        if not isinstance(error, KafkaError) or not error.retriable:
            return True
        record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        return logging.getLogger(record.name).isEnabledFor(logging.INFO)


def quiet_transient_kafka_errors() -> None:
    """Install :class:`TransientCoordinatorFilter` on aiokafka's group coordinator logger
    (once per process)."""
    logger = logging.getLogger(_COORDINATOR_LOGGER)
    if not any(isinstance(f, TransientCoordinatorFilter) for f in logger.filters):
        logger.addFilter(TransientCoordinatorFilter())


class _ProcessHandler(logging.StreamHandler[TextIO]):
    """The root handler :func:`configure_logging` installs (and replaces when called again)."""


def configure_logging(
    *, settings: BatonSettings, service: str | None = None, stream: TextIO | None = None
) -> None:
    """Set up this process's log lines; calling it again replaces what it set up.

    A service (``service`` given) logs from ``BATON_LOG_LEVEL`` on, each line naming it. A
    CLI command logs warnings and errors only, as Python does by default: as plain
    messages in text format (nothing is installed), as JSON objects in JSON format.

    Args:
        settings: ``BATON_LOG_FORMAT``, ``BATON_LOG_LEVEL`` and ``BATON_INSTANCE_ID``.
        service: The service this process runs; None for a CLI command.
        stream: Where lines go (default: standard error).
    """
    quiet_transient_kafka_errors()
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _ProcessHandler)]:
        root.removeHandler(old)
    json_lines = settings.log_format == "json"
    # Warnings are printed by the warnings module otherwise, as text.
    logging.captureWarnings(json_lines)
    if service is None and not json_lines:
        return
    handler = _ProcessHandler(stream if stream is not None else sys.stderr)
    if service is None:
        handler.setFormatter(JsonFormatter(instance=settings.instance_id))
        handler.setLevel(logging.WARNING)
    else:
        text = SERVICE_TEXT.format(service=service)
        handler.setFormatter(log_formatter(settings=settings, text=text, service=service))
        root.setLevel(settings.log_level)
    root.addHandler(handler)
