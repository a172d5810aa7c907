"""Bearer tokens for the services' HTTP side: who may read the API, who may scrape /metrics.

The tokens file (``BATON_HTTP_TOKENS_FILE``) holds one token a line as ``role:sha256-hex``:
the SHA-256 of the token, never the token itself, so a copy of the file lets no one in.
A line may end with ``# a note``; blank lines and ``#`` lines are skipped. The same token
may be listed under both roles. Roles:

* ``read``: the API (``/api/...``), its live stream, ``/docs`` and ``/openapi.json``;
* ``metrics``: ``/metrics`` (Prometheus).

``/health`` and ``/ready`` stay open for the orchestrator's probes, and ``/`` (the
dashboard's page: static, no data) so that a browser can load it and be asked for a token.
The live stream also takes the token as ``?access_token=``: a browser's ``EventSource``
cannot send headers. A changed file is read again (within a second) on the next request,
so tokens rotate without a restart; a file that cannot be read or parsed then lets no one
in until it is fixed (an error is logged), rather than keeping tokens it meant to revoke.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, get_args
from urllib.parse import parse_qs

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from baton.errors import ConfigError

__all__ = [
    "METRICS_PATH",
    "OPEN_PATHS",
    "ROLES",
    "STREAM_PATH",
    "HttpAuth",
    "HttpRole",
    "HttpTokens",
    "new_token",
    "token_line",
]

HttpRole = Literal["read", "metrics"]
ROLES: Final[tuple[HttpRole, ...]] = get_args(HttpRole)

METRICS_PATH: Final = "/metrics"
STREAM_PATH: Final = "/api/stream"
"""The route that also takes ``?access_token=`` (an ``EventSource`` sends no headers)."""
OPEN_PATHS: Final = frozenset({"/health", "/ready", "/"})
"""Routes answered without a token: the probes, and the dashboard's page (static)."""

_LINE = re.compile(r"^(?P<role>[a-z]+):(?P<digest>[0-9a-fA-F]{64})$")
_RECHECK_SECONDS = 1.0
_BEARER = "bearer "
_log = logging.getLogger("baton.http")


def new_token() -> str:
    """A new random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def token_line(*, token: str, role: HttpRole) -> str:
    """The tokens-file line that admits ``token`` with ``role``."""
    return f"{role}:{_digest(token).hex()}"


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _parse(text: str, *, path: Path) -> tuple[tuple[str, bytes], ...]:
    entries: list[tuple[str, bytes]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _LINE.match(line)
        if match is None or match["role"] not in ROLES:
            raise ConfigError(
                f"{path}:{number}: expected role:sha256-hex with role one of "
                f"{', '.join(ROLES)} (`.venv/bin/baton http token create` prints such a line)",
                variable="BATON_HTTP_TOKENS_FILE",
                line=number,
            )
        entries.append((match["role"], bytes.fromhex(match["digest"])))
    return tuple(entries)


@dataclass(frozen=True, slots=True)
class _Version:
    inode: int
    mtime_ns: int
    size: int


class HttpTokens:
    """The hashed tokens of one file, read again when the file changes.

    Args:
        path: The tokens file.
        clock: Monotonic seconds (tests step it).
    """

    def __init__(self, *, path: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._clock = clock
        self._entries: tuple[tuple[str, bytes], ...] = ()
        self._version: _Version | None = None
        self._checked = float("-inf")

    @classmethod
    def load(cls, *, path: Path) -> HttpTokens:
        """Read ``path`` now.

        Raises:
            ConfigError: the file cannot be read or a line is malformed.
        """
        tokens = cls(path=path)
        tokens._version, tokens._entries = tokens._read()
        tokens._checked = tokens._clock()
        return tokens

    def __len__(self) -> int:
        return len(self._entries)

    def _read(self) -> tuple[_Version, tuple[tuple[str, bytes], ...]]:
        try:
            stat = os.stat(self.path)
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"cannot read the HTTP tokens file {self.path}: {exc}",
                variable="BATON_HTTP_TOKENS_FILE",
            ) from None
        version = _Version(inode=stat.st_ino, mtime_ns=stat.st_mtime_ns, size=stat.st_size)
        return version, _parse(text, path=self.path)

    def _refresh(self) -> None:
        now = self._clock()
        if now - self._checked < _RECHECK_SECONDS:
            return
        self._checked = now
        try:
            stat = os.stat(self.path)
            current = _Version(inode=stat.st_ino, mtime_ns=stat.st_mtime_ns, size=stat.st_size)
        except OSError:
            current = None
        if current is not None and current == self._version:
            return
        try:
            self._version, self._entries = self._read()
        except ConfigError as exc:
            # Fail closed: a token being revoked must not stay valid behind a typo.
            self._version, self._entries = current, ()
            _log.error("HTTP tokens file unusable, no token is accepted: %s", exc)
            return
        _log.info("HTTP tokens file read again: %d tokens", len(self._entries))

    def roles(self, token: str) -> frozenset[str]:
        """The roles ``token`` holds (empty: unknown). Every entry is compared, in constant
        time, so the answer's timing tells nothing about the file."""
        self._refresh()
        digest = _digest(token)
        found: set[str] = set()
        for role, stored in self._entries:
            if hmac.compare_digest(digest, stored):
                found.add(role)
        return frozenset(found)


def _presented(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            text = value.decode("latin-1")
            if text[: len(_BEARER)].lower() == _BEARER:
                return text[len(_BEARER) :].strip() or None
            return None
    if scope["path"] == STREAM_PATH:
        values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("access_token")
        if values:
            return str(values[0])
    return None


def _refusal(status: int, error: str, detail: str) -> JSONResponse:
    challenge = 'Bearer realm="baton"'
    if error == "invalid_token":
        challenge += ', error="invalid_token"'
    elif error == "insufficient_scope":
        challenge += ', error="insufficient_scope"'
    return JSONResponse(
        {"error": error, "detail": detail},
        status_code=status,
        headers={"WWW-Authenticate": challenge, "Cache-Control": "no-store"},
    )


class HttpAuth:
    """ASGI middleware: every route but :data:`OPEN_PATHS` wants a token of its role
    (module doc); 401 without a known token, 403 with one of the wrong role.

    Args:
        app: The app it guards.
        tokens: The accepted tokens.
    """

    def __init__(self, app: ASGIApp, *, tokens: HttpTokens) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":  # none is served; one added later is guarded too
            if "read" in self.tokens.roles(_presented(scope) or ""):
                await self.app(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1008})  # policy violation
            return
        needed: HttpRole = "metrics" if scope["path"] == METRICS_PATH else "read"
        token = _presented(scope)
        response: Any
        if token is None:
            response = _refusal(401, "unauthorized", "a bearer token is required")
        elif not (roles := self.tokens.roles(token)):
            response = _refusal(401, "invalid_token", "unknown token")
        elif needed not in roles:
            response = _refusal(403, "insufficient_scope", f"this route needs a {needed} token")
        else:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)
