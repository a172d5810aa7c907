"""OpenTelemetry set-up from the standard environment variables.

With ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) set, a
service exports its spans over OTLP/HTTP, named by ``OTEL_SERVICE_NAME`` or its component
name; the bus's tracing middleware then records producer and consumer spans. Without it,
tracing stays off and costs nothing on the hot path. Metrics are served for scraping at
``/metrics`` (an OpenTelemetry collector can scrape them too).
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

__all__ = ["configure_tracing"]


def configure_tracing(*, env: Mapping[str, str], component: str) -> TracerProvider | None:
    """Install an OTLP-exporting tracer provider when the environment asks for one."""
    if not (
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        return None
    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or component})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider
