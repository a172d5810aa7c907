"""How a Baton process authenticates to Kafka: protocol, SASL credentials, trusted CA.

Built once from :class:`~baton.config.BatonSettings` and handed to every aiokafka client
Baton creates (producer, consumers, admin), so that one set of ``BATON_KAFKA_*`` variables
secures them all. The password stays a :class:`~pydantic.SecretStr` until the moment a
client is built: reprs, logs and reports show ``**********``.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

__all__ = ["SASL_MECHANISMS", "SECURITY_PROTOCOLS", "KafkaSecurity"]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]
SECURITY_PROTOCOLS: tuple[str, ...] = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS: tuple[str, ...] = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


class KafkaSecurity(BaseModel):
    """Client-side security of a Kafka connection.

    Attributes:
        protocol: ``PLAINTEXT`` (the quick start), ``SASL_SSL`` (the secured broker), or
            ``SSL`` / ``SASL_PLAINTEXT``.
        mechanism: SASL mechanism; the secured local broker offers ``SCRAM-SHA-512``.
        username: SASL user (one per service principal).
        password: SASL password.
        ca_file: PEM file of the CA that signed the broker's certificate; unset, the
            system's trust store decides.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    protocol: SecurityProtocol = "PLAINTEXT"
    mechanism: SaslMechanism = "SCRAM-SHA-512"
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.sasl and (not self.username or self.password is None):
            raise ValueError(
                f"security protocol {self.protocol} needs BATON_KAFKA_SASL_USERNAME and "
                "BATON_KAFKA_SASL_PASSWORD (or BATON_KAFKA_SASL_PASSWORD_FILE)"
            )
        if self.ca_file is not None and not self.ca_file.is_file():
            raise ValueError(f"CA file {self.ca_file} does not exist")
        return self

    @property
    def sasl(self) -> bool:
        """Whether the connection authenticates with SASL."""
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        """Whether the connection is encrypted with TLS."""
        return self.protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context that verifies the broker's certificate and host name."""
        context = ssl.create_default_context(
            cafile=str(self.ca_file) if self.ca_file is not None else None
        )
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for any aiokafka client (producer, consumer, admin)."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.tls:
            options["ssl_context"] = self.ssl_context()
        if self.sasl:
            assert self.password is not None  # checked by the validator
            options["sasl_mechanism"] = self.mechanism
            options["sasl_plain_username"] = self.username
            options["sasl_plain_password"] = self.password.get_secret_value()
        return options

    def describe(self) -> str:
        """One line for logs and reports, without the secret."""
        who = f" as {self.username}" if self.sasl else ""
        return f"{self.protocol}{who}"
