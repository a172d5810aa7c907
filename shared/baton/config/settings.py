"""The settings every Baton process shares, read once at start from ``BATON_*`` variables.

Only entry points (the CLI, a service's ``main``) read ``os.environ``; everything below them
receives a :class:`BatonSettings`. Every variable is ``BATON_`` + the upper-cased field name;
a bad value, or a ``BATON_*`` name that is no setting, fails at start with a
:class:`~baton.errors.ConfigError` naming the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator

from baton.config.environment import (
    ENV_PREFIX,
    SECRET,
    SECTION_PREFIXES,
    SettingsBase,
    is_other_variable,
    read_settings,
)
from baton.config.names import (
    DEFAULT_PREFIX,
    LOCAL_KAFKA_HOST,
    LOCAL_KAFKA_PORT,
    LOCAL_PG_PORT,
    SCHEMA_NAME,
    TopicNames,
    deployment_schema,
    local_pg_dsn,
)
from baton.security.kafka_client import KafkaSecurity, SaslMechanism, SecurityProtocol
from baton.security.signing_policy import SigningPolicy

__all__ = ["BatonSettings"]


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _read_elsewhere(name: str) -> bool:
    """Whether a service's section or a non-setting variable, not :class:`BatonSettings`,
    owns ``name``."""
    return name.startswith(SECTION_PREFIXES) or is_other_variable(name)


class BatonSettings(SettingsBase):
    """Settings shared by every Baton process.

    Attributes:
        kafka_bootstrap: ``host:port[,host:port]`` of the Kafka brokers. Unset: the local
            stack's broker (``baton stack up``).
        pg_dsn: PostgreSQL DSN (``postgresql://user:password@host:5432/db``); or
            ``BATON_PG_DSN_FILE`` names a mounted file holding it. Unset: the local stack's
            database. Never printed.
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
        replication: Replication factor of the topics ``baton topics create`` makes. Unset:
            three, or the cluster's broker count when it has fewer (one on a single
            broker). ``min.insync.replicas`` is 2 with three replicas or more, else 1.
        events_retention_ms: Retention of the events topic; dead letters keep 4x as long.
        log_level: Logging level of services and the CLI.
        log_format: ``text`` (plain lines) or ``json`` (one JSON object a line, with the
            trace and span ids of the active span: :mod:`baton.logs`).
        kafka_compression: Producer compression codec.
        kafka_linger_ms: How long the producer waits to fill a batch. 0 (the default)
            sends at once: records still share a request while the previous one is in
            flight, and every hop of a workflow would otherwise wait this long.
        http_host: Address a service's HTTP endpoints (/health, /ready, API) listen on.
        http_port: Their port; unset, each service has its own default (hub 8081,
            resource 8082, status 8083, monitor 8084, recovery 8085); 0 picks a free one.
        http_tokens_file: File of the hashed bearer tokens the HTTP side accepts, one
            ``role:sha256-hex`` a line (roles ``read``: the API, its stream and docs;
            ``metrics``: /metrics); read again when it changes. Unset: every route answers
            anyone (a warning at start). /health and /ready stay open either way.
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
        signing_keys: HMAC message signing keys ``id:secret,...`` (secrets of 32 bytes or
            more); or ``BATON_SIGNING_KEYS_FILE`` names a mounted file, re-read when it
            changes. Never printed.
        signing_private_keys: Ed25519 keys this process signs with: a directory of
            ``<key id>.key`` PEM files, or one file (``baton keys generate`` makes them).
            Re-read when they change; the newest version of the publisher signs.
        signing_public_keys: Ed25519 public keys this process verifies with: a directory
            of ``<key id>.pub`` files, or one file. Re-read when they change. Unset with
            the other two: signing is off.
        signing_key_id: The key, or the publisher whose newest key, this process signs with
            (optional when the keys held are one publisher's).
        signing_strict: Quarantine unsigned events of every type. Unset: true once any key
            is set; ``false`` is for migrating to signing, and logged as a warning.
        signing_strict_types: Quarantine unsigned events of these types.
        signing_publishers: ``TYPE:publisher[|publisher]`` rules: who may publish a type.
        signing_max_age: Most seconds between signing a record and appending it.
        signing_seen_size: Signatures the replay check remembers per process.
        signing_reload_interval: Seconds between checks of the key files for changes (a
            record naming a key not held also triggers one, at most once a second).
        partition_router: Consumer group that moves records another client put on the
            wrong partition of the events topic to the right one (the other groups skip
            them and handle the copy). Unset: the hub's group, ``<prefix>.hub``.
    """

    kafka_bootstrap: str | None = None
    pg_dsn: Annotated[str | None, SECRET] = Field(default=None, repr=False)
    pg_schema: str | None = Field(default=None, pattern=SCHEMA_NAME)
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
    log_format: Literal["text", "json"] = "text"
    kafka_compression: Literal["none", "gzip", "lz4", "snappy", "zstd"] = "lz4"
    kafka_linger_ms: int = Field(default=0, ge=0, le=1000)
    http_host: str = "127.0.0.1"
    http_port: int | None = Field(default=None, ge=0, le=65535)
    http_tokens_file: Path | None = None
    heartbeat_interval: float = Field(default=10.0, gt=0, le=3600)
    stop_grace: float = Field(default=25.0, gt=0, le=3600)
    supervisor_pid: int | None = Field(default=None, ge=1)
    instance_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: Annotated[SecretStr | None, SECRET] = None
    kafka_ca_file: Path | None = None
    signing_keys: Annotated[SecretStr | None, SECRET] = None
    signing_private_keys: Path | None = None
    signing_public_keys: Path | None = None
    signing_key_id: str | None = None
    signing_strict: bool | None = None
    signing_strict_types: frozenset[str] = frozenset()
    signing_publishers: tuple[str, ...] = ()
    signing_max_age: float = Field(default=600.0, gt=0, le=7 * 24 * 3600)
    signing_seen_size: int = Field(default=50_000, ge=100, le=10_000_000)
    signing_reload_interval: float = Field(default=5.0, gt=0, le=3600)
    partition_router: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,249}$")

    _signing_keys_file: Path | None = PrivateAttr(default=None)

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
            keys_file=self._signing_keys_file,
            public_keys=self.signing_public_keys,
            private_keys=self.signing_private_keys,
            reload_interval=self.signing_reload_interval,
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
        """Build settings from the ``BATON_*`` variables of ``env``, then ``overrides``.

        Variables of a service's own section (``BATON_HUB_*``...) are left to that service;
        :data:`OTHER_VARIABLES` are accepted. Any other ``BATON_*`` name is an error.

        Raises:
            ConfigError: a variable is unknown (the nearest known name is suggested), a
                secret is given both directly and as a file, or a value is invalid; the
                message and ``variable`` name it.
        """
        settings = read_settings(
            cls, env=env, prefix=ENV_PREFIX, overrides=overrides, elsewhere=_read_elsewhere
        )
        keys_file = env.get("BATON_SIGNING_KEYS_FILE")
        if keys_file and "signing_keys" not in overrides:
            settings._signing_keys_file = Path(keys_file)  # re-read when it changes
        return settings

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

    @property
    def router_group(self) -> str:
        """The consumer group that re-routes misplaced records of the events topic
        (:mod:`baton.bus.rerouting`)."""
        return self.partition_router or self.topics.group("hub")
