"""What the Kafka and PostgreSQL parts of the local stack share: reports, processes, files."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from baton.errors import StackError

__all__ = [
    "Action",
    "BrokerReport",
    "ServiceReport",
    "State",
    "log",
    "pid_alive",
    "port_open",
    "read_pid",
    "resource_text",
    "run_command",
    "stack_lock",
    "tail",
    "terminate",
]

log = logging.getLogger("baton.stack")

State = Literal["running", "starting", "degraded", "stopped", "unreachable"]
"""``running`` answers; ``starting`` has a live process that does not answer yet;
``degraded``: some brokers of a local cluster run, others not."""
Action = Literal["started", "reused", "stopped", "already-stopped", "left-alone"]
"""What ``up``/``down`` did to one dependency; ``None`` for ``status``."""


class BrokerReport(BaseModel):
    """One node of the local Kafka (broker and KRaft controller).

    Attributes:
        node: Its node id (1-based).
        endpoint: Its client address.
        state: Whether it answers now.
        pid: Its process id, when ``baton stack up`` started it and it runs.
        log: Its log file.
        data_dir: Its data directory.
    """

    model_config = ConfigDict(frozen=True)

    node: int
    endpoint: str
    state: State
    pid: int | None = None
    log: str
    data_dir: str


class ServiceReport(BaseModel):
    """State of one dependency (Kafka or PostgreSQL) of the local stack.

    Attributes:
        name: ``kafka`` or ``postgres``.
        endpoint: Bootstrap address or DSN clients use.
        source: ``configured`` when a ``BATON_*`` variable points at a service elsewhere,
            ``local`` for the local stack's address.
        state: Whether it answers now.
        managed: True when ``baton stack up`` started it; only those are stopped by ``down``.
        action: What this call did, for ``up`` and ``down``.
        pid: Process id of a managed server.
        log: Server log file of a managed server.
        data_dir: Data directory of a managed server.
        detail: One sentence for a human when something is unusual.
        brokers: Each node of the local Kafka (one for the single broker); empty otherwise.
    """

    model_config = ConfigDict(frozen=True)

    name: Literal["kafka", "postgres"]
    endpoint: str
    source: Literal["configured", "local"]
    state: State
    managed: bool = False
    action: Action | None = None
    pid: int | None = None
    log: str | None = None
    data_dir: str | None = None
    detail: str | None = None
    brokers: list[BrokerReport] = []


def resource_text(name: str) -> str:
    """Text of a file in ``baton/stack/resources``."""
    return resources.files("baton.stack").joinpath("resources", name).read_text("utf-8")


def read_pid(path: Path) -> int | None:
    """Process id written on the first line of ``path``; None when absent or unreadable."""
    try:
        first = path.read_text("utf-8").splitlines()[0].strip()
        return int(first)
    except (OSError, IndexError, ValueError):
        return None


def pid_alive(pid: int, *, cmd_contains: str | None = None) -> bool:
    """Whether ``pid`` runs (zombies count as gone) and its command line has ``cmd_contains``."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # reap our own exited child so it stops looking alive
    proc = Path("/proc") / str(pid)
    try:
        stat = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False if Path("/proc/self").exists() else _signal_probe(pid)
    if stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X"):
        return False
    return cmd_contains is None or cmd_contains in cmdline


def _signal_probe(pid: int) -> bool:
    """Liveness without procfs (macOS); the command line cannot be checked there."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def terminate(pid: int, *, name: str, grace: float = 60.0) -> None:
    """Stop process ``pid``: SIGTERM, wait up to ``grace`` seconds, then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pid_alive(pid):
        if time.monotonic() > deadline:
            log.warning("%s (pid %d) ignored SIGTERM for %.0fs; killing it", name, pid, grace)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.5)
            return
        await asyncio.sleep(0.2)


async def port_open(host: str, port: int, *, max_wait: float = 1.0) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), max_wait)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def tail(path: Path, *, lines: int = 15) -> str:
    """Last ``lines`` lines of a text file, or an empty string."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 16_384))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


async def run_command(
    args: Sequence[str],
    *,
    what: str,
    hint: str = "",
    env: Mapping[str, str] | None = None,
    max_wait: float = 600.0,
    new_session: bool = False,
) -> str:
    """Run a command to completion and return its output (stdout and stderr together).

    Raises:
        StackError: it is missing, exits non-zero or outlasts ``max_wait``; the message says
            ``what`` failed, shows the end of its output and the ``hint``.
    """
    if shutil.which(args[0]) is None:
        raise StackError(f"{what}: command {args[0]!r} not found. {hint}".strip())
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=None if env is None else {**os.environ, **env},
        start_new_session=new_session,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), max_wait)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise StackError(
            f"{what}: no result after {max_wait:.0f}s ({' '.join(args)}). {hint}"
        ) from None
    text = out.decode("utf-8", errors="replace")
    if proc.returncode != 0:
        last = "\n".join(text.strip().splitlines()[-15:])
        raise StackError(
            f"{what} failed (exit {proc.returncode}): {' '.join(args)}\n{last}\n{hint}".strip(),
            command=list(args),
        )
    return text


def _open_lock(home: Path) -> int:
    home.mkdir(parents=True, exist_ok=True)
    return os.open(home / "stack.lock", os.O_RDWR | os.O_CREAT, 0o644)


@contextlib.asynccontextmanager
async def stack_lock(home: Path) -> AsyncIterator[None]:
    """Hold ``<home>/stack.lock`` so that two ``baton stack`` commands do not race."""
    fd = _open_lock(home)
    try:
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    log.info("waiting for another `baton stack` command to finish...")
                    waited = True
                await asyncio.sleep(0.25)
        yield
    finally:
        os.close(fd)
