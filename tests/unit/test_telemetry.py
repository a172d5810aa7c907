"""Service metrics reach OpenTelemetry (for OTLP) as well as Prometheus, when asked."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint

from baton.bus.transport import Record
from baton.protocol.event import Event
from baton.runtime.metrics import MetricsMiddleware, ServiceMetrics
from baton.runtime.telemetry import configure_metrics, configure_tracing


def _record() -> Record:
    return Record(
        topic="baton.events",
        partition=0,
        offset=0,
        key=b"wf_1",
        value=b"",
        headers=[],
        timestamp_ms=0,
    )


def test_a_handler_that_raises_counts_as_failed_not_handled() -> None:
    metrics = ServiceMetrics(service="hub")
    middleware = MetricsMiddleware(metrics)
    event = Event(event_type="WORKFLOW_STARTED", workflow_id="wf_1", phase="global", data={})
    labels = {"service": "hub", "group": "baton.hub", "event_type": "WORKFLOW_STARTED"}
    for _ in range(2):
        with middleware.consume_scope(record=_record(), event=event, group="baton.hub"):
            pass
    with (
        pytest.raises(ValueError, match="bad"),
        middleware.consume_scope(record=_record(), event=event, group="baton.hub"),
    ):
        raise ValueError("bad")
    value = metrics.registry.get_sample_value
    assert value("baton_events_handled_total", labels) == 2
    assert value("baton_handler_failures_total", labels) == 1
    assert value("baton_handler_seconds_count", labels) == 3
    latency = {"service": "hub", "group": "baton.hub"}
    assert value("baton_event_latency_seconds_count", latency) == 2
    with middleware.consume_scope(record=_record(), event=None, group="baton.hub"):
        pass
    assert value("baton_events_handled_total", {**labels, "event_type": "undecodable"}) == 1


def test_measurements_go_to_the_meter_too() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics = ServiceMetrics(service="hub", meter=provider.get_meter("baton"))
    middleware = MetricsMiddleware(metrics)
    event = Event(event_type="WORKFLOW_STARTED", workflow_id="wf_1", phase="global", data={})
    with middleware.consume_scope(record=_record(), event=event, group="baton.hub"):
        pass
    with middleware.publish_scope(topic="baton.events", event=event, headers=[]):
        pass
    data = reader.get_metrics_data()
    assert data is not None
    names = {
        m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
    }
    assert {"baton.events.handled", "baton.handler.duration", "baton.event.latency"} <= set(names)
    assert "baton.events.published" in names
    handled = names["baton.events.handled"].data.data_points[0]
    assert isinstance(handled, NumberDataPoint)
    assert handled.value == 1
    assert dict(handled.attributes or {}) == {
        "service": "hub",
        "group": "baton.hub",
        "event_type": "WORKFLOW_STARTED",
    }
    assert b"baton_events_handled_total" in metrics.render()
    provider.shutdown()


def test_otlp_export_is_off_unless_the_environment_asks() -> None:
    assert configure_metrics(env={}, component="baton-hub") is None
    assert configure_tracing(env={}, component="baton-hub") is None
    provider = configure_metrics(
        env={"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://127.0.0.1:9/v1/metrics"},
        component="baton-hub",
    )
    assert provider is not None
    assert provider._sdk_config.resource.attributes["service.name"] == "baton-hub"
    provider.shutdown(timeout_millis=1000)
