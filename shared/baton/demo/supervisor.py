"""The five services as separate supervised processes, their logs prefixed by service.

Each service runs as ``python -m baton serve NAME`` in its own process group. Its output
is read line by line and handed to ``on_line`` with the service's name; a copy goes to
``log_dir/NAME.log``. A service that exits while the supervisor runs is started again with
backoff (up to ``max_restarts``); past that the supervisor fails loudly.

No service outlives its supervisor: ``stop`` signals each service's whole process group
(SIGTERM, then SIGKILL past the timeout), and every service is started with
``BATON_SUPERVISOR_PID``, so it stops by itself should the supervisor be killed outright
(:mod:`baton.parent`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from baton.backoff import BackoffPolicy
from baton.errors import BatonError
from baton.lifecycle import Lifecycle

__all__ = ["DEFAULT_PORTS", "ServiceCrashedError", "ServiceSupervisor"]

_RESTARTS = BackoffPolicy(base=0.5, max_delay=5.0, max_attempts=None, jitter="none")
"""Pauses before a crashed service starts again: after its n-th start ``pause(n + 1)``."""

DEFAULT_PORTS: Mapping[str, int] = {
    "hub": 8081,
    "resource": 8082,
    "status": 8083,
    "monitor": 8084,
    "recovery": 8085,
}
"""The services' usual HTTP ports; a busy one is replaced by a free port."""

LineSink = Callable[[str, str], None]


class ServiceCrashedError(BatonError):
    """A supervised service kept exiting (or never became ready)."""

    def __init__(self, message: str, *, service: str, exit_code: int | None) -> None:
        super().__init__(message, service=service, process_exit=exit_code)
        self.service = service
        self.process_exit = exit_code


def _port_for(name: str) -> int:
    wanted = DEFAULT_PORTS.get(name, 0)
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", wanted))
        except OSError:
            probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class _Child:
    name: str
    port: int
    process: asyncio.subprocess.Process | None = None
    starts: int = 0
    pump: asyncio.Task[None] | None = None


@dataclass
class ServiceSupervisor(Lifecycle):
    """Starts, watches and stops service processes.

    Attributes:
        services: Service names in start order (``baton serve NAME``).
        env: The children's environment (topic prefix, broker, database, tuning).
        log_dir: Where each service's full log is kept.
        on_line: Called with ``(service, line)`` for every line a service writes.
        max_restarts: Restarts allowed per service before the supervisor gives up.
    """

    services: Sequence[str]
    env: Mapping[str, str]
    log_dir: Path
    on_line: LineSink
    max_restarts: int = 3
    _children: dict[str, _Child] = field(default_factory=dict, init=False)
    _watch: asyncio.Task[None] | None = field(default=None, init=False)
    _stopping: bool = field(default=False, init=False)
    _failed: asyncio.Future[None] | None = field(default=None, init=False)

    def url(self, name: str, path: str = "/") -> str:
        """The HTTP address of a running service."""
        return f"http://127.0.0.1:{self._children[name].port}{path}"

    def pid(self, name: str) -> int:
        """The process id of a running service."""
        process = self._children[name].process
        assert process is not None, f"{name} is not running"
        return process.pid

    async def start(self, *, ready_timeout: float = 90.0) -> None:
        """Start every service and wait until each answers ``/ready``."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._failed = asyncio.get_running_loop().create_future()
        for name in self.services:
            self._children[name] = _Child(name=name, port=_port_for(name))
            await self._spawn(self._children[name])
        await asyncio.gather(*(self._ready(c, ready_timeout) for c in self._children.values()))
        self._watch = asyncio.create_task(self._supervise(), name="baton-demo-supervisor")

    async def wait_failed(self) -> None:
        """Returns (raising) only when a service could not be kept running."""
        assert self._failed is not None, "start() first"
        # Shielded: a waiter that gives up must not cancel the failure for the next one.
        await asyncio.shield(self._failed)

    async def stop(self, *, timeout: float = 30.0) -> dict[str, int | None]:
        """SIGTERM every service, wait, then SIGKILL stragglers; returns exit codes."""
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        codes = dict(
            zip(
                self._children,
                await asyncio.gather(*(self._stop(c, timeout) for c in self._children.values())),
                strict=True,
            )
        )
        if self._failed is not None and not self._failed.done():
            self._failed.cancel()
        return codes

    async def _spawn(self, child: _Child) -> None:
        child.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "baton",
            "serve",
            child.name,
            "--port",
            str(child.port),
            # One replica per service: static membership lets a restarted one resume at once.
            env={
                **self.env,
                "BATON_INSTANCE_ID": child.name,
                "BATON_SUPERVISOR_PID": str(os.getpid()),
            },
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the demo, which stops them in order
        )
        child.starts += 1
        child.pump = asyncio.create_task(self._pump(child, child.process), name=child.name)

    async def _pump(self, child: _Child, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        with (self.log_dir / f"{child.name}.log").open("ab") as log:
            async for raw in process.stdout:
                log.write(raw)
                self.on_line(child.name, raw.decode(errors="replace").rstrip())

    async def _ready(self, child: _Child, timeout: float) -> None:
        began = time.monotonic()
        async with httpx.AsyncClient(timeout=2.0) as http:
            while time.monotonic() - began < timeout:
                assert child.process is not None
                if child.process.returncode is not None:
                    raise ServiceCrashedError(
                        f"{child.name} exited {child.process.returncode} while starting "
                        f"(see {self.log_dir / (child.name + '.log')})",
                        service=child.name,
                        exit_code=child.process.returncode,
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"http://127.0.0.1:{child.port}/ready")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise ServiceCrashedError(
            f"{child.name} not ready after {timeout:g}s", service=child.name, exit_code=None
        )

    async def _supervise(self) -> None:
        try:
            while not self._stopping:
                waits = {
                    asyncio.ensure_future(c.process.wait()): c
                    for c in self._children.values()
                    if c.process is not None
                }
                done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    task.cancel()
                for task in done:
                    child = waits[task]
                    code = task.result()
                    if child.starts > self.max_restarts:
                        raise ServiceCrashedError(
                            f"{child.name} exited {code} {child.starts} times; giving up",
                            service=child.name,
                            exit_code=code,
                        )
                    self.on_line(child.name, f"exited {code}; starting it again")
                    await asyncio.sleep(_RESTARTS.pause(attempt=child.starts + 1))
                    await self._spawn(child)
                    await self._ready(child, 90.0)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # fail loudly: whoever waits on wait_failed() hears it
            if self._failed is not None and not self._failed.done():
                self._failed.set_exception(exc)

    async def _stop(self, child: _Child, timeout: float) -> int | None:
        process = child.process
        if process is None:
            return None
        if process.returncode is None:
            _signal_group(process, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                _signal_group(process, signal.SIGKILL)
                await process.wait()
        if child.pump is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(child.pump, 5.0)
        return process.returncode


def _signal_group(process: asyncio.subprocess.Process, signum: int) -> None:
    """Signal the service and anything it started (its process group: the service leads a
    session of its own)."""
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:  # already gone
        pass
    except PermissionError:  # not a group we lead: the process alone
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)
