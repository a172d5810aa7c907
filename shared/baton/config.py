"""Configuration, built once at start from a mapping of environment variables.

Only entry points (the CLI, a service's ``main``) read ``os.environ``; everything below them
receives a :class:`BatonSettings`. Every variable is ``BATON_`` + the upper-cased field name;
a bad value fails at start with a :class:`~baton.errors.ConfigError` naming the variable.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from baton.errors import ConfigError
from baton.security.kafka_client import KafkaSecurity, SaslMechanism, SecurityProtocol
from baton.security.signing_policy import SigningPolicy

__all__ = [
    "DEFAULT_PREFIX",
    "LOCAL_KAFKA_BOOTSTRAP",
    "LOCAL_KAFKA_HOST",
    "LOCAL_KAFKA_PORT",
    "LOCAL_PG_DSN",
    "LOCAL_PG_PORT",
    "SERVICES",
    "BatonSettings",
    "ServiceConfig",
    "TopicNames",
    "deployment_schema",
    "local_pg_dsn",
]

SERVICES: tuple[str, ...] = ("hub", "resource", "status", "monitor", "recovery")
"""The five Baton services; each has a commands topic ``<prefix>.commands.<service>``."""

ENV_PREFIX = "BATON_"
FILE_SUFFIX = "_FILE"
SECRET_FIELDS = frozenset({"kafka_sasl_password", "signing_keys"})
"""Fields that may also come from a mounted file: ``BATON_<FIELD>_FILE=/run/secrets/...``."""

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

_SCHEMA_NAME = r"^[a-z_][a-z0-9_]{0,62}$"
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


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class BatonSettings(BaseModel):
    """Settings shared by every Baton process.

    Attributes:
        kafka_bootstrap: ``host:port[,host:port]`` of the Kafka brokers. Unset: the local
            stack's broker (``baton stack up``).
        pg_dsn: PostgreSQL DSN. Unset: the local stack's database.
        pg_schema: PostgreSQL schema holding this deployment's tables. Unset: named after
            the topic prefix (:func:`deployment_schema`; ``public`` for ``baton``).
        topic_prefix: Prefix of every topic name (``baton`` → ``baton.events``).
        component: Name this process reports in headers and dead letters.
        strict: Reject well-formed events whose registered data fields are missing.
        strict_types: Event types validated strictly even when ``strict`` is off.
        refuse_unregistered: In strict mode, also reject event types not in the registry.
        retry_delays: Seconds to wait before each retry of a failed event; one retry topic
            per entry. After the last one the event is dead-lettered.
        request_timeout: Default seconds a request waits for its reply, retries included.
        request_attempts: How many times a request is sent before it times out.
        max_line_bytes: Largest accepted event line (bytes).
        home: Where the local stack keeps Kafka jars, data and logs.
        stack_kafka_port: Port of the local stack's first Kafka broker (its controller
            listens on the next port; broker ``n`` of a cluster on this + 10·(n-1)).
        stack_pg_port: Port of the local stack's PostgreSQL server.
        partitions: Partitions of the events, commands and retry topics.
        replication: Replication factor of every topic. Unset: three, or the cluster's
            broker count when it has fewer (one on a single broker).
        events_retention_ms: Retention of the events topic; dead letters keep 4x as long.
        log_level: Logging level of services and the CLI.
        kafka_compression: Producer compression codec.
        kafka_linger_ms: How long the producer waits to fill a batch.
        http_host: Address a service's HTTP endpoints (/health, /ready, API) listen on.
        http_port: Their port; unset, each service has its own default (hub 8081,
            resource 8082, status 8083, monitor 8084, recovery 8085); 0 picks a free one.
        heartbeat_interval: Seconds between a service's heartbeat events.
        stop_grace: Seconds a service has to stop after SIGTERM: work in hand is abandoned
            (uncommitted, so it comes again) in time to exit within them. Keep it under the
            orchestrator's grace period (30 s in the chart and in compose).
        supervisor_pid: Process id of the supervisor that started this service (the demo
            sets it): the service stops, as on SIGTERM, when that process is gone.
        instance_id: Stable name of this replica (``hub-0``; a StatefulSet pod name). Set,
            its consumer groups use static membership: a restarted replica takes its
            partitions back at once instead of after the 6 s session timeout, and a stopped
            one keeps them for that long. Unique per replica; unset, membership is dynamic.
        kafka_security_protocol: ``PLAINTEXT`` (default) or ``SASL_SSL`` for the secured
            broker (``SSL``, ``SASL_PLAINTEXT`` also accepted).
        kafka_sasl_mechanism: SASL mechanism (``SCRAM-SHA-512``).
        kafka_sasl_username: SASL user, one per service principal.
        kafka_sasl_password: SASL password; or ``BATON_KAFKA_SASL_PASSWORD_FILE`` names a
            mounted file holding it. Never printed.
        kafka_ca_file: PEM file of the CA that signed the broker's certificate.
        signing_keys: Message signing keys ``id:secret,...``; or ``BATON_SIGNING_KEYS_FILE``
            names a mounted file. Unset: signing is off. Never printed.
        signing_key_id: The key this process signs with (optional with one key).
        signing_strict: Quarantine unsigned events of every type.
        signing_strict_types: Quarantine unsigned events of these types.
        signing_publishers: ``TYPE:publisher[|publisher]`` rules: who may publish a type.
        signing_max_age: Most seconds between signing a record and appending it.
        signing_seen_size: Signatures the replay check remembers per process.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kafka_bootstrap: str | None = None
    pg_dsn: str | None = None
    pg_schema: str | None = Field(default=None, pattern=_SCHEMA_NAME)
    topic_prefix: str = Field(default=DEFAULT_PREFIX, pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    component: str = Field(default="baton-cli", pattern=r"^[A-Za-z0-9_.-]{1,128}$")
    strict: bool = False
    strict_types: frozenset[str] = frozenset()
    refuse_unregistered: bool = False
    retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0)
    request_timeout: float = Field(default=30.0, gt=0)
    request_attempts: int = Field(default=3, ge=1, le=20)
    max_line_bytes: int = Field(default=1_048_576, ge=64)
    home: Path = Path.home() / ".cache" / "baton"
    stack_kafka_port: int = Field(default=LOCAL_KAFKA_PORT, ge=1024, le=65000)
    stack_pg_port: int = Field(default=LOCAL_PG_PORT, ge=1024, le=65000)
    partitions: int = Field(default=6, ge=1, le=1000)
    replication: int | None = Field(default=None, ge=1, le=10)
    events_retention_ms: int = Field(default=7 * 24 * 3600 * 1000, ge=60_000)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    kafka_compression: Literal["none", "gzip", "lz4", "snappy", "zstd"] = "lz4"
    kafka_linger_ms: int = Field(default=2, ge=0, le=1000)
    http_host: str = "127.0.0.1"
    http_port: int | None = Field(default=None, ge=0, le=65535)
    heartbeat_interval: float = Field(default=10.0, gt=0, le=3600)
    stop_grace: float = Field(default=25.0, gt=0, le=3600)
    supervisor_pid: int | None = Field(default=None, ge=1)
    instance_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ca_file: Path | None = None
    signing_keys: SecretStr | None = None
    signing_key_id: str | None = None
    signing_strict: bool = False
    signing_strict_types: frozenset[str] = frozenset()
    signing_publishers: tuple[str, ...] = ()
    signing_max_age: float = Field(default=600.0, gt=0, le=7 * 24 * 3600)
    signing_seen_size: int = Field(default=50_000, ge=100, le=10_000_000)

    _split = field_validator(
        "strict_types",
        "retry_delays",
        "signing_strict_types",
        "signing_publishers",
        mode="before",
    )(_split_csv)

    @field_validator("pg_schema")
    @classmethod
    def _schema_not_reserved(cls, value: str | None) -> str | None:
        if value is not None and value.startswith("pg_"):
            raise ValueError("schema names starting with pg_ are reserved by PostgreSQL")
        return value

    @field_validator("retry_delays")
    @classmethod
    def _delays_positive(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(delay < 0 for delay in value):
            raise ValueError("retry delays must be >= 0 seconds")
        return value

    @model_validator(mode="after")
    def _security_consistent(self) -> Self:
        self.kafka_security  # noqa: B018 -- validates protocol, credentials and CA file
        return self

    @model_validator(mode="after")
    def _signing_consistent(self) -> Self:
        self.signing_policy  # noqa: B018 -- validates keys, key id and publisher rules
        return self

    @property
    def signing_policy(self) -> SigningPolicy | None:
        """Message signing keys and rules (``BATON_SIGNING_*``); None when signing is off."""
        return SigningPolicy.build(
            keys=self.signing_keys,
            key_id=self.signing_key_id,
            strict=self.signing_strict,
            strict_types=self.signing_strict_types,
            publishers=self.signing_publishers,
            max_age=self.signing_max_age,
            seen_size=self.signing_seen_size,
        )

    @property
    def kafka_security(self) -> KafkaSecurity:
        """How every Kafka client of this process authenticates (``BATON_KAFKA_*``)."""
        return KafkaSecurity(
            protocol=self.kafka_security_protocol,
            mechanism=self.kafka_sasl_mechanism,
            username=self.kafka_sasl_username,
            password=self.kafka_sasl_password,
            ca_file=self.kafka_ca_file,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: Any) -> BatonSettings:
        """Build settings from ``BATON_*`` variables of ``env``, then ``overrides``.

        Raises:
            ConfigError: a variable is unknown or its value invalid; the message names it.
        """
        known = set(cls.model_fields)
        values: dict[str, Any] = {}
        for name, raw in env.items():
            if not name.startswith(ENV_PREFIX):
                continue
            field = name[len(ENV_PREFIX) :].lower()
            if field in known and raw != "":
                values[field] = raw
        values.update(_secret_files(env, values))
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            if not first["loc"]:  # a rule across fields: its message names the variables
                raise ConfigError(str(first["msg"]).removeprefix("Value error, ")) from None
            field = str(first["loc"][0])
            if field in SECRET_FIELDS:  # never echo a secret, even an invalid one
                values[field] = "**********"
            raise ConfigError(
                f"{ENV_PREFIX}{field.upper()}: {first['msg']} (got {values.get(field)!r})",
                variable=f"{ENV_PREFIX}{field.upper()}",
            ) from None

    @property
    def bootstrap(self) -> str:
        """Kafka bootstrap servers: ``BATON_KAFKA_BOOTSTRAP`` or the local stack's (first)
        broker."""
        return self.kafka_bootstrap or f"{LOCAL_KAFKA_HOST}:{self.stack_kafka_port}"

    @property
    def dsn(self) -> str:
        """PostgreSQL DSN: ``BATON_PG_DSN`` or the local stack's database."""
        return self.pg_dsn or self.local_dsn

    @property
    def local_dsn(self) -> str:
        """DSN of the local stack's database (``baton stack up``), on ``stack_pg_port``."""
        return local_pg_dsn(port=self.stack_pg_port)

    @property
    def db_schema(self) -> str:
        """This deployment's PostgreSQL schema: ``BATON_PG_SCHEMA`` or the prefix's."""
        return self.pg_schema or deployment_schema(self.topic_prefix)

    @property
    def topics(self) -> TopicNames:
        """Topic names under this deployment's prefix."""
        return TopicNames(prefix=self.topic_prefix, retry_levels=len(self.retry_delays))


def _secret_files(env: Mapping[str, str], values: Mapping[str, Any]) -> dict[str, str]:
    """Secrets read from the files ``BATON_<FIELD>_FILE`` name (mounted secrets).

    Raises:
        ConfigError: both the variable and its ``_FILE`` are set, or the file is unreadable.
    """
    found: dict[str, str] = {}
    for field in sorted(SECRET_FIELDS):
        variable = f"{ENV_PREFIX}{field.upper()}{FILE_SUFFIX}"
        path = env.get(variable, "")
        if not path:
            continue
        if field in values:
            raise ConfigError(
                f"set either {ENV_PREFIX}{field.upper()} or {variable}, not both",
                variable=variable,
            )
        try:
            # One trailing newline is how files are usually written; it is not the secret.
            found[field] = Path(path).read_text("utf-8").removesuffix("\n")
        except OSError as exc:
            raise ConfigError(
                f"{variable}: cannot read {path} ({exc.strerror})", variable=variable
            ) from None
    return found


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


class ServiceConfig(BaseModel):
    """Base of a service's own settings, read from ``<env_prefix><FIELD>`` variables.

    Subclasses set ``env_prefix`` (``BATON_HUB_``) and may override :meth:`prepare` to turn
    raw strings into structured values before validation.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    env_prefix: ClassVar[str] = "BATON_"

    @classmethod
    def prepare(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Adjust raw values (field name → string) before validation."""
        return values

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        """Build from ``env``; a bad value raises ConfigError naming the variable."""
        prefix = cls.env_prefix
        values: dict[str, Any] = {
            k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix) and v != ""
        }
        try:
            return cls.model_validate(cls.prepare(values))
        except ValidationError as exc:
            first = exc.errors()[0]
            name = f"{prefix}{str(first['loc'][0]).upper()}" if first["loc"] else prefix
            raise ConfigError(f"{name}: {first['msg']}", variable=name) from None
