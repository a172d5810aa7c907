"""Secrets come from env or mounted files and never reach a log, a report or an error."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from baton.bus.kafka import KafkaTransport
from baton.errors import DependencyUnavailableError
from baton.stack.secure_kafka import SecureKafkaStack
from tests.security.conftest import SecureKafka

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def _passwords(stack: SecureKafkaStack) -> list[str]:
    return [stack.password_file(user).read_text("utf-8").strip() for user in stack.users]


async def test_passwords_never_reach_logs_or_reports(
    secure_kafka: SecureKafka, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)  # aiokafka's and Baton's loggers at their most verbose
    stack = secure_kafka.stack
    settings = secure_kafka.settings(user="hub")
    logging.getLogger("baton.test").info("settings %s / %r", settings, settings)
    transport = KafkaTransport(settings=settings)
    await transport.start()
    await (await transport.enqueue(settings.topics.events, key=None, value=b"x", headers=[]))
    await transport.stop()
    wrong = settings.model_copy(update={"kafka_sasl_password": SecretStr("wrong-one")})
    failing = KafkaTransport(settings=wrong)
    with pytest.raises(DependencyUnavailableError) as refused:
        await failing.start()
    print((await stack.status()).model_dump_json(), refused.value)
    shown = caplog.text + capsys.readouterr().out + str(refused.value)
    broker_log = "".join(p.read_text("utf-8", "replace") for p in stack.files.root.glob("*.log*"))
    leaks = [p for p in [*_passwords(stack), "wrong-one"] if p in shown or p in broker_log]
    print(f"\nsecrets checked={len(stack.users) + 1} found in logs={len(leaks)}")
    assert leaks == []
