"""The secured broker for the security tests: started once per session (and stopped at its
end when this session started it), with the service ACLs and the topics of one prefix."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from baton.config import BatonSettings
from baton.stack.secure_kafka import ADMIN, SecureKafkaStack
from baton.topics import create_topics, delete_topics

T = TypeVar("T")


def blocking(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end from sync fixture code (a loop may already run)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()


@dataclass(frozen=True)
class SecureKafka:
    """The running secured broker and the topic prefix of this session's ACLs and topics."""

    stack: SecureKafkaStack
    prefix: str

    def settings(self, *, user: str) -> BatonSettings:
        """Settings of a process connecting as ``user``, built from env like a service's."""
        env = self.stack.env(user=user)
        return BatonSettings.from_env(env, topic_prefix=self.prefix, partitions=1)


@pytest.fixture(scope="session")
def secure_kafka() -> Iterator[SecureKafka]:
    """The secured broker with ACLs and topics for a fresh prefix."""
    base = BatonSettings.from_env(os.environ)
    stack = SecureKafkaStack(settings=base)
    report = blocking(stack.up(max_wait=90.0))
    kafka = SecureKafka(stack=stack, prefix=f"t_sec_{uuid.uuid4().hex[:8]}")
    admin = kafka.settings(user=ADMIN)
    blocking(stack.apply_acls(prefix=kafka.prefix))
    blocking(create_topics(settings=admin))
    yield kafka
    security = admin.kafka_security
    blocking(delete_topics(bootstrap=admin.bootstrap, prefix=kafka.prefix, security=security))
    blocking(stack.remove_acls(prefix=kafka.prefix))  # a reused broker keeps no leftovers
    if report.action == "started":
        blocking(stack.down(wait=False))  # its controlled shutdown needs nobody waiting
