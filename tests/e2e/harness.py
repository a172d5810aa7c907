"""Services as real, separate processes for end-to-end tests (start, wait ready, kill -9)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

BATON = [sys.executable, "-m", "baton"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServiceProcess:
    """``baton serve NAME`` in a child process, logs to ``log_dir/INSTANCE.log``."""

    def __init__(
        self, name: str, *, env: dict[str, str], log_dir: Path, instance: str | None = None
    ) -> None:
        self.name = name
        self.instance = instance or name
        self.env = env
        self.log_path = log_dir / f"{self.instance}.log"
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.killed = False
        """Killed (-9) and not started again since."""

    async def start(self, *, timeout: float = 60.0) -> float:
        """Start and wait until /ready answers 200; returns seconds it took."""
        began = time.monotonic()
        await self.launch()
        assert self.proc is not None
        async with httpx.AsyncClient(timeout=2.0) as http:
            while time.monotonic() - began < timeout:
                if self.proc.returncode is not None:
                    raise AssertionError(
                        f"{self.name} exited {self.proc.returncode}: {self.tail()}"
                    )
                try:
                    if (await http.get(f"http://127.0.0.1:{self.port}/ready")).status_code == 200:
                        return time.monotonic() - began
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"{self.name} not ready after {timeout}s: {self.tail()}")

    async def launch(self) -> None:
        """Start the process without waiting for it to be ready."""
        log = self.log_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            *BATON,
            "serve",
            self.name,
            "--port",
            str(self.port),
            # A stable replica name: a restarted service takes its partitions back at once.
            env={**self.env, "BATON_INSTANCE_ID": self.instance},
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        self.starts += 1
        self.killed = False

    def tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    async def kill9(self) -> None:
        """kill -9: no chance to commit, flush or say goodbye."""
        if self.proc is not None and self.proc.returncode is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()
            self.killed = True

    async def stop(self, *, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except TimeoutError:
                await self.kill9()
        return self.proc.returncode

    async def health(self) -> dict[str, object]:
        async with httpx.AsyncClient(timeout=5.0) as http:
            result: dict[str, object] = (
                await http.get(f"http://127.0.0.1:{self.port}/health")
            ).json()
            return result


class Cluster:
    """A set of service processes sharing one topic prefix.

    With ``replicas`` > 1, each service runs that many times, as instances ``NAME-a``,
    ``NAME-b``… (each its own port and ``BATON_INSTANCE_ID``), keyed by instance name.
    """

    def __init__(
        self,
        names: list[str],
        *,
        env: dict[str, str],
        log_dir: Path,
        replicas: int = 1,
        service_env: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        """``service_env``: variables of one service's processes only (its signing key)."""
        instances = [
            (n, n if replicas == 1 else f"{n}-{chr(ord('a') + i)}")
            for n in names
            for i in range(replicas)
        ]
        own = service_env or {}
        self.services = {
            instance: ServiceProcess(
                n, env={**env, **own.get(n, {})}, log_dir=log_dir, instance=instance
            )
            for n, instance in instances
        }

    async def __aenter__(self) -> Self:
        await asyncio.gather(*(s.start() for s in self.services.values()))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        codes = await asyncio.gather(*(s.stop() for s in self.services.values()))
        if exc_type is None:
            for (name, service), code in zip(self.services.items(), codes, strict=True):
                if not service.killed:  # a replica killed (-9) on purpose stays dead
                    assert code == 0, f"{name} exited {code} on SIGTERM:\n{service.tail()}"

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.services[name]
