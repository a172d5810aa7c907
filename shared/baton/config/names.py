"""Names a deployment is known by: its services, topics, PostgreSQL schema and local stack."""

from __future__ import annotations

import hashlib
import re

from pydantic import BaseModel, ConfigDict

__all__ = [
    "DEFAULT_PREFIX",
    "LOCAL_KAFKA_BOOTSTRAP",
    "LOCAL_KAFKA_HOST",
    "LOCAL_KAFKA_PORT",
    "LOCAL_PG_DSN",
    "LOCAL_PG_PORT",
    "SERVICES",
    "TopicNames",
    "deployment_schema",
    "local_pg_dsn",
]

SERVICES: tuple[str, ...] = ("hub", "resource", "status", "monitor", "recovery")
"""The five Baton services; each has a commands topic ``<prefix>.commands.<service>``."""

LOCAL_KAFKA_HOST = "127.0.0.1"
LOCAL_KAFKA_PORT = 19092
LOCAL_KAFKA_BOOTSTRAP = f"{LOCAL_KAFKA_HOST}:{LOCAL_KAFKA_PORT}"
"""Where ``baton stack up`` starts its broker by default (controller on the next port);
``BATON_STACK_KAFKA_PORT`` moves it."""
LOCAL_PG_PORT = 55432


def local_pg_dsn(*, port: int = LOCAL_PG_PORT) -> str:
    """DSN of the local stack's database when its server listens on ``port``."""
    return f"postgresql://baton@127.0.0.1:{port}/baton"


LOCAL_PG_DSN = local_pg_dsn()
"""Where ``baton stack up`` starts its database by default; ``BATON_STACK_PG_PORT`` moves it."""
DEFAULT_PREFIX = "baton"
"""The default topic prefix; its deployment keeps its tables in schema ``public``."""

SCHEMA_NAME = r"^[a-z_][a-z0-9_]{0,62}$"
"""What a PostgreSQL schema name set by hand must look like."""
_RESERVED_SCHEMAS = frozenset({"public", "information_schema"})


def deployment_schema(prefix: str) -> str:
    """The PostgreSQL schema of the deployment whose topics start with ``prefix``.

    The default prefix keeps ``public``, where every deployment's tables lived before
    schemas were per deployment, so existing databases work unchanged. Any other prefix
    names its schema: lower-cased, characters outside ``[a-z0-9_]`` as ``_``. When that
    changed the prefix (``Acme.prod`` → ``acme_prod``), made it too long, or named a
    reserved schema, a short hash of the prefix is appended, so two distinct prefixes never
    share a schema (``acme.prod`` and ``acme_prod`` both exist as topic prefixes).
    """
    if prefix == DEFAULT_PREFIX:
        return "public"
    name = re.sub(r"[^a-z0-9_]", "_", prefix.lower())
    if name[0].isdigit():
        name = f"d_{name}"
    unchanged = name == prefix and len(name) <= 63
    if unchanged and name not in _RESERVED_SCHEMAS and not name.startswith("pg_"):
        return name
    digest = hashlib.sha256(prefix.encode()).hexdigest()[:8]
    return f"{name.removeprefix('pg_')[:54]}_{digest}"


class TopicNames(BaseModel):
    """Names of Baton's topics, derived from one prefix."""

    model_config = ConfigDict(frozen=True)

    prefix: str = "baton"
    retry_levels: int = 3

    @property
    def events(self) -> str:
        return f"{self.prefix}.events"

    @property
    def state(self) -> str:
        return f"{self.prefix}.state"

    @property
    def replies(self) -> str:
        return f"{self.prefix}.replies"

    def group(self, service: str) -> str:
        """Consumer group of ``service`` on the events topic (``baton.hub``)."""
        return f"{self.prefix}.{service}"

    def commands(self, service: str) -> str:
        """Commands topic of one service (``baton.commands.hub``)."""
        return f"{self.prefix}.commands.{service}"

    @staticmethod
    def retry(source: str, level: int) -> str:
        """Retry topic ``level`` (1-based) of ``source``: ``baton.events.retry.1``."""
        return f"{source}.retry.{level}"

    @staticmethod
    def dlq(source: str) -> str:
        """Dead-letter topic of ``source``: ``baton.events.dlq``."""
        return f"{source}.dlq"

    def sources(self) -> list[str]:
        """Every topic that has retry and dead-letter companions."""
        return [self.events, self.replies, *(self.commands(s) for s in SERVICES)]
