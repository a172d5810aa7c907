"""/health and /ready for every service, with its dependencies' health.

``healthy``: Kafka and PostgreSQL answer and every supervised loop runs; ``degraded``: a
dependency does not answer (the service keeps retrying); ``unhealthy``: the service is
stopping or a loop died. /health answers 200 unless unhealthy (503); /ready answers 200 only
once the service has started and until it begins to stop.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from baton.runtime.metrics import CONTENT_TYPE, ServiceMetrics
from baton.security.http_auth import METRICS_PATH, HttpAuth, HttpTokens

if TYPE_CHECKING:
    from baton.runtime.service import Service

__all__ = ["HealthReporter", "build_app"]

_CACHE_SECONDS = 2.0


class HealthReporter:
    """Computes a service's health, caching dependency probes briefly."""

    def __init__(self, *, service: Service) -> None:
        self._service = service
        self.ready = False
        self.failed: str | None = None
        self._cached: tuple[float, dict[str, str]] | None = None

    async def _dependencies(self) -> dict[str, str]:
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < _CACHE_SECONDS:
            return self._cached[1]
        kafka, pg = await asyncio.gather(self._kafka_ok(), self._service.db.ping())
        deps = {
            "kafka": "healthy" if kafka else "unhealthy",
            "postgresql": "healthy" if pg else "unhealthy",
        }
        self._cached = (now, deps)
        return deps

    async def _kafka_ok(self) -> bool:
        try:
            async with asyncio.timeout(2.0):
                # One topic's metadata, not the cluster's every topic (thousands, shared).
                bus = self._service.bus
                await bus.transport.existing_topics(among=[bus.topics.events])
            return True
        except Exception:
            return False

    async def report(self) -> dict[str, Any]:
        deps = await self._dependencies()
        if self.failed or not self.ready:
            status = "unhealthy"
        elif all(v == "healthy" for v in deps.values()):
            status = "healthy"
        else:
            status = "degraded"
        report: dict[str, Any] = {
            "status": status,
            "component": self._service.ctx.settings.component,
            "ready": self.ready,
            "dependencies": deps,
            "details": self._service.health_details(),
            "bus": dict(self._service.bus.stats),
        }
        if self.failed:
            report["failure"] = self.failed
        return report


def build_app(
    *,
    service: Service,
    health: HealthReporter,
    metrics: ServiceMetrics,
    tokens: HttpTokens | None = None,
) -> FastAPI:
    """The service's HTTP app: /health, /ready, /metrics and the service's own routes;
    with ``tokens``, every route but the probes wants a bearer token
    (:mod:`baton.security.http_auth`)."""
    app = FastAPI(title=f"baton {service.name}")
    if tokens is not None:
        app.add_middleware(HttpAuth, tokens=tokens)

    @app.get("/health")
    async def get_health() -> JSONResponse:
        report = await health.report()
        return JSONResponse(report, status_code=503 if report["status"] == "unhealthy" else 200)

    @app.get("/ready")
    async def get_ready() -> JSONResponse:
        return JSONResponse({"ready": health.ready}, status_code=200 if health.ready else 503)

    @app.get(METRICS_PATH, include_in_schema=False)
    async def get_metrics() -> Response:
        return Response(await metrics.scrape(), media_type=CONTENT_TYPE)

    router = service.router()
    if router is not None:
        app.include_router(router)
    return app
