"""Log lines: plain text by default, one JSON object a line with BATON_LOG_FORMAT=json;
aiokafka's retried coordinator lookups are not logged as errors, other errors still are."""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from aiokafka.errors import GroupAuthorizationFailedError, GroupCoordinatorNotAvailableError
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import format_span_id, format_trace_id

from baton.config import BatonSettings
from baton.errors import ConfigError
from baton.logs import TransientCoordinatorFilter, configure_logging
from baton.stack._kafka_probe import offsets_partition, probe_groups


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Where the process's lines go; the root logger is put back as it was afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield io.StringIO()
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_active_spans_ids_and_none_outside_a_span(
    stream: io.StringIO,
) -> None:
    settings = BatonSettings(log_format="json", instance_id="hub-0")
    configure_logging(settings=settings, service="hub", stream=stream)
    log = logging.getLogger("baton.hub")
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("handle WORKFLOW_STARTED") as span:
        log.info("handling %s", "wf_1")
        context = span.get_span_context()
    log.warning("no span now")

    inside, outside = lines(stream)
    assert inside["message"] == "handling wf_1"
    assert inside["trace_id"] == format_trace_id(context.trace_id)
    assert inside["span_id"] == format_span_id(context.span_id)
    assert re.fullmatch(r"[0-9a-f]{32}", inside["trace_id"])
    assert re.fullmatch(r"[0-9a-f]{16}", inside["span_id"])
    assert {k: inside[k] for k in ("level", "logger", "service", "instance")} == {
        "level": "INFO",
        "logger": "baton.hub",
        "service": "hub",
        "instance": "hub-0",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", inside["ts"])
    assert outside["message"] == "no span now"
    assert "trace_id" not in outside
    assert "span_id" not in outside


def test_json_lines_hold_the_exception_and_extra_fields(stream: io.StringIO) -> None:
    configure_logging(settings=BatonSettings(log_format="json"), service="monitor", stream=stream)
    log = logging.getLogger("baton.monitor")
    try:
        raise ValueError("bad window")
    except ValueError:
        log.exception("could not evaluate", extra={"workflow_id": "wf_7"})
    [line] = lines(stream)
    assert line["level"] == "ERROR"
    assert line["workflow_id"] == "wf_7"
    assert "instance" not in line  # not set
    assert line["exception"].startswith("Traceback")
    assert "ValueError: bad window" in line["exception"]


def test_text_stays_the_plain_line_and_follows_the_level(stream: io.StringIO) -> None:
    settings = BatonSettings(log_level="WARNING")
    configure_logging(settings=settings, service="status", stream=stream)
    configure_logging(settings=settings, service="status", stream=stream)  # replaces, no twin
    logging.getLogger("baton.status").info("not shown")
    logging.getLogger("baton.status").warning("shown once")
    [line] = stream.getvalue().splitlines()
    assert re.fullmatch(r".+ status +WARNING baton\.status: shown once", line)


def test_a_cli_process_logs_warnings_and_python_warnings_as_json(stream: io.StringIO) -> None:
    configure_logging(settings=BatonSettings(log_format="json"), stream=stream)
    logging.getLogger("baton.bus").info("not shown")
    logging.getLogger("baton.bus").warning("broker slow")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("old option", DeprecationWarning, stacklevel=1)
    bus, warned = lines(stream)
    assert (bus["logger"], bus["message"]) == ("baton.bus", "broker slow")
    assert "service" not in bus
    assert warned["logger"] == "py.warnings"
    assert "old option" in warned["message"]


def test_the_format_is_validated() -> None:
    assert BatonSettings.from_env({}).log_format == "text"
    assert BatonSettings.from_env({"BATON_LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(ConfigError, match="BATON_LOG_FORMAT"):
        BatonSettings.from_env({"BATON_LOG_FORMAT": "xml"})


LOGGER = "aiokafka.consumer.group_coordinator"


def record(
    error: Exception, *, message: str = "Group Coordinator Request failed: %s"
) -> logging.LogRecord:
    return logging.LogRecord(LOGGER, logging.ERROR, __file__, 1, message, (error,), None)


@pytest.mark.parametrize("level", [logging.WARNING, logging.INFO])
def test_a_retried_coordinator_lookup_is_demoted_to_info(level: int) -> None:
    logging.getLogger(LOGGER).setLevel(level)
    try:
        got = record(GroupCoordinatorNotAvailableError())
        kept = TransientCoordinatorFilter().filter(got)
        assert (got.levelno, got.levelname) == (logging.INFO, "INFO")
        assert kept is (level <= logging.INFO)  # dropped where INFO is not logged
    finally:
        logging.getLogger(LOGGER).setLevel(logging.NOTSET)


def test_errors_that_are_not_retried_stay_errors() -> None:
    denied = record(GroupAuthorizationFailedError())
    other = record(GroupCoordinatorNotAvailableError(), message="Unexpected error: %s")
    for got in (denied, other):
        assert TransientCoordinatorFilter().filter(got) is True
        assert got.levelno == logging.ERROR


def test_groups_are_placed_on_offsets_partitions_as_kafka_places_them() -> None:
    # Java: "hello".hashCode() == 99162322; "polygenelubricants".hashCode() == Integer.MIN_VALUE
    assert offsets_partition("hello", 50) == 99162322 % 50
    assert offsets_partition("polygenelubricants", 50) == 0
    groups = probe_groups(50)
    assert [offsets_partition(group, 50) for group in groups] == list(range(50))
