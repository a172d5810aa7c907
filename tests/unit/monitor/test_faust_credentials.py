"""The monitor's faust App authenticates like every other Kafka client of the process."""

from __future__ import annotations

import ssl

from faust.auth import SASLCredentials, SSLCredentials
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import SecretStr

from baton.security.kafka_client import KafkaSecurity
from baton_monitor.faust_app import broker_credentials


def test_plaintext_has_no_credentials() -> None:
    assert broker_credentials(None) is None
    assert broker_credentials(KafkaSecurity()) is None


def test_sasl_ssl_becomes_scram_credentials_with_a_verifying_context() -> None:
    security = KafkaSecurity(
        protocol="SASL_SSL", username="monitor", password=SecretStr("s3cret-pw")
    )
    credentials = broker_credentials(security)
    assert isinstance(credentials, SASLCredentials)
    options = credentials_to_aiokafka_auth(credentials)
    # What faust hands its aiokafka clients equals what Baton's own clients get.
    ours = security.client_options()
    assert options["security_protocol"] == ours["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == ours["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "monitor"
    assert options["sasl_plain_password"] == "s3cret-pw"
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert "s3cret-pw" not in repr(credentials)


def test_sasl_plaintext_has_no_tls() -> None:
    security = KafkaSecurity(
        protocol="SASL_PLAINTEXT", mechanism="SCRAM-SHA-256", username="u", password=SecretStr("p")
    )
    options = credentials_to_aiokafka_auth(broker_credentials(security))
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert options["sasl_mechanism"] == "SCRAM-SHA-256"
    assert options["ssl_context"] is None


def test_ssl_only_becomes_ssl_credentials() -> None:
    credentials = broker_credentials(KafkaSecurity(protocol="SSL"))
    assert isinstance(credentials, SSLCredentials)
    assert credentials_to_aiokafka_auth(credentials)["security_protocol"] == "SSL"
