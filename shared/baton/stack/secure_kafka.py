"""A second, secured local broker: SASL/SCRAM-SHA-512 over TLS, ACLs per service.

It runs beside the plaintext quick-start broker with its own ports, data, log, pid file,
certificates and credentials under ``<home>/kafka-secure`` (jars are shared). Every
principal (``admin``, one per service, and ``client`` for clients and agents) gets a random
password, kept in ``secrets/<user>.password`` (mode 0600) and added as a SCRAM credential
when the storage is formatted; a principal added later (a newer Baton) has the storage
formatted again — this broker is for local use and tests, its data expendable. Each ``up``
(re)applies the ACLs, which is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from string import Template
from typing import Any, Literal

from aiokafka.admin import AIOKafkaAdminClient
from pydantic import BaseModel, ConfigDict, SecretStr

from baton.config import LOCAL_KAFKA_HOST, LOCAL_KAFKA_PORT, BatonSettings
from baton.errors import StackError
from baton.security.acl import apply_acls, remove_acls
from baton.security.acl_plan import AclPlan
from baton.security.kafka_client import KafkaSecurity
from baton.stack._common import log, pid_alive, port_open, read_pid, resource_text, tail, terminate
from baton.stack._kafka_setup import KAFKA_VERSION, MAIN_CLASS, KafkaFiles
from baton.stack._tls import TlsFiles, ensure_tls
from baton.stack.kafka import kafka_answers, quiet_aiokafka

__all__ = ["ADMIN", "LOCAL_SECURE_KAFKA_BOOTSTRAP", "SecureKafkaReport", "SecureKafkaStack"]

SECURE_PORT_OFFSET = 2
"""The secured broker listens two ports above ``BATON_STACK_KAFKA_PORT`` (its controller on
the next one): the plaintext broker and its controller hold the first two."""
LOCAL_SECURE_KAFKA_BOOTSTRAP = f"{LOCAL_KAFKA_HOST}:{LOCAL_KAFKA_PORT + SECURE_PORT_OFFSET}"
"""The secured broker's SASL_SSL listener with the default ports (``127.0.0.1:19094``)."""
ADMIN = "admin"
"""The super user: creates topics and ACLs; the broker authenticates as it too."""
MECHANISM = "SCRAM-SHA-512"


class SecureKafkaReport(BaseModel):
    """The secured broker as ``up``, ``down`` or ``status`` left it.

    Attributes:
        endpoint: Its SASL_SSL bootstrap address.
        state: Whether it answers an authenticated client.
        action: What this call did.
        pid: Its process id when running.
        ca_file: The CA clients trust (``BATON_KAFKA_CA_FILE``).
        secrets_dir: One ``<user>.password`` file per principal.
        users: The SCRAM principals.
        acls: How many ACL bindings ``up`` applied.
        log: The broker's log file.
    """

    model_config = ConfigDict(frozen=True)

    endpoint: str
    state: Literal["running", "starting", "stopping", "stopped"]
    action: Literal["started", "reused", "stopped", "already-stopped"] | None = None
    pid: int | None = None
    ca_file: str
    secrets_dir: str
    users: list[str]
    acls: int = 0
    log: str


class _SecureFiles(KafkaFiles):
    """The plaintext broker's layout under another root, sharing its fetched jars."""

    def __init__(self, *, root: Path, jars_root: Path) -> None:
        super().__init__(root=root)
        self.dist = jars_root / KAFKA_VERSION
        self.libs = self.dist / "libs"
        self.marker = self.dist / "libs.complete"
        self.secrets = root / "secrets"
        self.tls = TlsFiles(root=root / "tls")


class SecureKafkaStack:
    """The secured local broker under ``<home>/kafka-secure``.

    Args:
        settings: ``home``, ``stack_kafka_port`` (+2 is this broker's), ``partitions`` and
            ``topic_prefix`` (of the ACLs) come from here.
    """

    users: tuple[str, ...] = (ADMIN, *AclPlan.build(topic_prefix="baton").principals.values())

    def __init__(self, *, settings: BatonSettings) -> None:
        self.settings = settings
        self.files = _SecureFiles(
            root=settings.home / "kafka-secure", jars_root=settings.home / "kafka"
        )
        self.host = LOCAL_KAFKA_HOST
        self.port = settings.stack_kafka_port + SECURE_PORT_OFFSET
        self.bootstrap = f"{self.host}:{self.port}"
        """Its SASL_SSL listener: ``BATON_KAFKA_BOOTSTRAP`` of its clients."""

    def password_file(self, user: str) -> Path:
        """The mounted-secret style file holding ``user``'s password."""
        return self.files.secrets / f"{user}.password"

    def security(self, *, user: str) -> KafkaSecurity:
        """Client security of ``user`` against this broker."""
        password = self.password_file(user).read_text("utf-8").strip()
        return KafkaSecurity(
            protocol="SASL_SSL",
            mechanism=MECHANISM,
            username=user,
            password=SecretStr(password),
            ca_file=self.files.tls.ca_cert,
        )

    def env(self, *, user: str = ADMIN) -> dict[str, str]:
        """``BATON_*`` variables that connect a process as ``user`` (password by file)."""
        return {
            "BATON_KAFKA_BOOTSTRAP": self.bootstrap,
            "BATON_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "BATON_KAFKA_SASL_MECHANISM": MECHANISM,
            "BATON_KAFKA_SASL_USERNAME": user,
            "BATON_KAFKA_SASL_PASSWORD_FILE": str(self.password_file(user)),
            "BATON_KAFKA_CA_FILE": str(self.files.tls.ca_cert),
        }

    def _report(self, state: Any, **fields: Any) -> SecureKafkaReport:
        return SecureKafkaReport(
            endpoint=self.bootstrap,
            state=state,
            ca_file=str(self.files.tls.ca_cert),
            secrets_dir=str(self.files.secrets),
            users=list(self.users),
            log=str(self.files.log_file),
            **fields,
        )

    def _managed_pid(self) -> int | None:
        pid = read_pid(self.files.pid_file)
        if pid is None or not pid_alive(pid, cmd_contains=MAIN_CLASS):
            return None
        return pid if pid_alive(pid, cmd_contains=str(self.files.config)) else None

    async def _answers(self, *, max_wait: float = 5.0) -> bool:
        if not self.password_file(ADMIN).exists() or not self.files.tls.ready():
            return False
        security = self.security(user=ADMIN)
        bootstrap = self.bootstrap
        return await kafka_answers(bootstrap=bootstrap, max_wait=max_wait, security=security)

    async def status(self) -> SecureKafkaReport:
        """Whether the secured broker runs and answers its admin."""
        pid = self._managed_pid()
        if pid is None:
            return self._report("stopped")
        return self._report("running" if await self._answers() else "starting", pid=pid)

    async def up(self, *, max_wait: float = 120.0) -> SecureKafkaReport:
        """Reuse or start the secured broker, then apply the service ACLs.

        Raises:
            StackError: its ports are taken, Java, Maven or openssl is missing, or the
                broker does not answer within ``max_wait``.
        """
        action: Literal["started", "reused"] = "reused"
        if (pid := self._managed_pid()) is None:
            self.files.pid_file.unlink(missing_ok=True)
            for port in (self.port, self.port + 1):
                if await port_open(self.host, port):
                    raise StackError(
                        f"port {self.host}:{port} is taken by a process that is not the "
                        "secured broker started by baton; stop it first."
                    )
            java = await self.files.java()
            await self.files.fetch_jars()
            await ensure_tls(root=self.files.tls.root)
            if self._ensure_passwords() and (self.files.data_dir / "meta.properties").exists():
                # SCRAM users are added when storage is formatted: format it again.
                log.warning("kafka (secure): new principals; formatting its storage again")
                shutil.rmtree(self.files.data_dir)
            self._write_config()
            await self._format(java=java)
            pid = self.files.spawn(java=java)
            action = "started"
        started = time.monotonic()
        await self._wait_ready(pid, max_wait=max_wait)
        log.info("kafka (secure): ready in %.1fs", time.monotonic() - started)
        acls = await self.apply_acls(prefix=self.settings.topic_prefix)
        return self._report("running", action=action, pid=pid, acls=acls)

    async def apply_acls(self, *, prefix: str) -> int:
        """Create the ACLs for topics under ``prefix`` (idempotent), as admin: the plan
        ``baton acl plan`` prints for a real cluster, with this broker's principal names."""
        async with self._admin() as admin:
            return await apply_acls(admin=admin, bindings=self.acl_plan(prefix=prefix).bindings)

    async def remove_acls(self, *, prefix: str) -> int:
        """Delete the ACLs of ``prefix`` (a throw-away test deployment's)."""
        async with self._admin() as admin:
            return await remove_acls(admin=admin, bindings=self.acl_plan(prefix=prefix).bindings)

    @staticmethod
    def acl_plan(*, prefix: str) -> AclPlan:
        """The ACLs this broker gets for topics under ``prefix`` (principals unprefixed)."""
        return AclPlan.build(topic_prefix=prefix)

    @contextlib.asynccontextmanager
    async def _admin(self) -> AsyncIterator[AIOKafkaAdminClient]:
        options = self.security(user=ADMIN).client_options()
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, **options)
        try:
            await admin.start()
            yield admin
        finally:
            await admin.close()

    async def down(self, *, wait: bool = True) -> SecureKafkaReport:
        """Stop the secured broker if ``up`` started it; data and credentials are kept.

        Args:
            wait: Wait until it has exited; False only asks it to stop (SIGTERM) and returns
                ``stopping``, so a test session does not wait for its controlled shutdown.
        """
        pid = self._managed_pid()
        self.files.pid_file.unlink(missing_ok=True)
        if pid is None:
            return self._report("stopped", action="already-stopped")
        log.info("kafka (secure): stopping broker (pid %d)...", pid)
        if not wait:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            return self._report("stopping", action="stopped", pid=pid)
        await terminate(pid, name="secured kafka broker")
        return self._report("stopped", action="stopped", pid=pid)

    def _ensure_passwords(self) -> list[str]:
        """Create the missing password files; returns their users."""
        self.files.secrets.mkdir(parents=True, exist_ok=True)
        os.chmod(self.files.secrets, 0o700)
        created: list[str] = []
        for user in self.users:
            path = self.password_file(user)
            if not path.exists():
                created.append(user)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(secrets.token_urlsafe(24) + "\n")
        return created

    def _password(self, user: str) -> str:
        return self.password_file(user).read_text("utf-8").strip()

    def _write_config(self) -> None:
        self.files.root.mkdir(parents=True, exist_ok=True)
        host, port = self.host, self.port
        text = Template(resource_text("server-secure.properties")).substitute(
            host=host,
            broker_port=port,
            controller_port=port + 1,
            data_dir=self.files.data_dir,
            partitions=self.settings.partitions,
            admin_password=self._password(ADMIN),
            keystore=self.files.tls.keystore,
            truststore=self.files.tls.ca_cert,
        )
        # It holds the admin password: readable by its owner only.
        fd = os.open(self.files.config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        self.files.log4j.write_text(resource_text("log4j2.xml"), "utf-8")

    async def _format(self, *, java: str) -> None:
        """Format the storage once, adding every principal's SCRAM credential."""
        if (self.files.data_dir / "meta.properties").exists():
            return
        scram: list[str] = []
        for user in self.users:
            scram += ["--add-scram", f"{MECHANISM}=[name={user},password={self._password(user)}]"]
        try:
            await self.files.format_storage(java=java, extra=scram)
        except StackError as exc:
            # The command line carries the passwords; the error must not.
            text = re.sub(r"password=[^\]\s]+", "password=**********", str(exc))
            raise StackError(text) from None

    async def _wait_ready(self, pid: int, *, max_wait: float) -> None:
        deadline = time.monotonic() + max_wait
        with quiet_aiokafka():
            while not await self._answers(max_wait=3.0):
                log_file = self.files.log_file
                if not pid_alive(pid):
                    self.files.pid_file.unlink(missing_ok=True)
                    raise StackError(
                        f"the secured Kafka broker exited during start-up; see {log_file}:\n"
                        f"{tail(log_file)}",
                        log=str(log_file),
                    )
                if time.monotonic() > deadline:
                    raise StackError(
                        f"the secured Kafka broker (pid {pid}) did not answer at "
                        f"{self.bootstrap} within {max_wait:.0f}s; see {log_file}",
                        log=str(log_file),
                    )
                await asyncio.sleep(0.5)
