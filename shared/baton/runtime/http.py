"""A service's HTTP server (/health, /ready, /metrics, its API): port held first, bounded stop.

The port is bound before anything else starts: a service that cannot listen (the port is
taken, the address is not this host's) exits at once with a :class:`~baton.errors.ConfigError`
instead of consuming events without its probes — uvicorn, left to bind by itself, calls
``sys.exit`` from inside the event loop, which then hangs cancelling the running consumers.
Stopping gives open requests a bounded time: a dashboard's live stream never ends by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

from baton.errors import BatonError, ConfigError

__all__ = ["HttpServer"]


class HttpServer:
    """uvicorn serving one app on a socket bound beforehand.

    Args:
        host: Address to listen on (``BATON_HTTP_HOST``).
        port: Port to listen on; 0 picks a free one.
    """

    def __init__(self, *, host: str, port: int) -> None:
        self.host = host
        self.requested_port = port
        self._socket: socket.socket | None = None
        self._server: _QuietServer | None = None

    def bind(self) -> None:
        """Hold the port (not yet accepting connections).

        Raises:
            ConfigError: the address cannot be bound, e.g. the port is taken.
        """
        if self._socket is not None:
            return
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            sock.bind((self.host, self.requested_port))
        except OSError as exc:
            sock.close()
            raise ConfigError(
                f"cannot listen on {self.host}:{self.requested_port}: "
                f"{(exc.strerror or str(exc)).lower()} (BATON_HTTP_HOST, BATON_HTTP_PORT "
                "or `baton serve --port`)",
                variable="BATON_HTTP_PORT",
                host=self.host,
                port=self.requested_port,
            ) from None
        self._socket = sock

    @property
    def port(self) -> int:
        """The port held (the one picked when 0 was asked for)."""
        if self._socket is None:
            return self.requested_port
        port: int = self._socket.getsockname()[1]
        return port

    async def start(self, app: Any, *, stop_timeout: float) -> asyncio.Task[None]:
        """Serve ``app`` on the held port; returns the serving task, to be supervised.

        Args:
            app: The ASGI app.
            stop_timeout: Seconds open requests get to finish once a stop begins.
        """
        self.bind()
        assert self._socket is not None
        config = uvicorn.Config(
            app,
            log_level="warning",
            log_config=None,  # its lines go through the process's handler (baton.logs)
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=max(1, int(stop_timeout)),  # uvicorn takes whole seconds
        )
        server = self._server = _QuietServer(config)
        task = asyncio.create_task(self._serve(server, self._socket), name="http")
        while not server.started:
            if task.done():
                task.result()
                raise BatonError(f"HTTP server on port {self.port} stopped at start")
            await asyncio.sleep(0.02)
        return task

    @staticmethod
    async def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            await server.serve(sockets=[sock])
        except SystemExit as exc:  # uvicorn's way to fail; it must not escape the event loop
            raise BatonError(f"the HTTP server stopped (exit {exc.code})") from None

    def request_stop(self) -> None:
        """Stop accepting requests; open ones get the stop timeout given at start."""
        if self._server is not None:
            self._server.exit()
        elif self._socket is not None:
            self._socket.close()


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the runner, and wakes once a second
    (or at once to stop) instead of uvicorn's ten times: 0.001 of a core per idle service."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit = asyncio.Event()

    def exit(self) -> None:
        """Stop accepting requests (open ones get the graceful timeout)."""
        self.should_exit = True
        self._exit.set()

    async def main_loop(self) -> None:
        tick = 0
        while not await self.on_tick(tick):
            tick += 10  # uvicorn refreshes its Date header every tenth tick: each second
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit.wait(), 1.0)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
