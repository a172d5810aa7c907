"""OpenTelemetry set-up from the standard environment variables.

With ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) set, a
service exports its spans over OTLP/HTTP, named by ``OTEL_SERVICE_NAME`` or its component
name; the bus's tracing middleware then records producer and consumer spans. Without it,
tracing stays off and costs nothing on the hot path.

Metrics are served for scraping at ``/metrics`` always; with ``OTEL_EXPORTER_OTLP_ENDPOINT``
(or ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT``) set they are also pushed over OTLP/HTTP every
``OTEL_METRIC_EXPORT_INTERVAL`` ms (the SDK's variable; default 60 s), under the same names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from opentelemetry import metrics, trace

if TYPE_CHECKING:  # the SDK and exporters load only when an endpoint is configured
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

__all__ = ["configure_metrics", "configure_tracing"]


def configure_tracing(*, env: Mapping[str, str], component: str) -> TracerProvider | None:
    """Install an OTLP-exporting tracer provider when the environment asks for one."""
    if not (
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        return None
    # Imported here: the exporters cost ~0.3 s at start, a restarted service's resume time.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or component})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def configure_metrics(*, env: Mapping[str, str], component: str) -> MeterProvider | None:
    """Install an OTLP-exporting meter provider when the environment asks for one."""
    if not (
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
    ):
        return None
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or component})
    provider = MeterProvider(
        resource=resource, metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())]
    )
    metrics.set_meter_provider(provider)
    return provider
