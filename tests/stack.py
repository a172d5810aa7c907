"""The test suite's own Kafka broker and PostgreSQL, never the user's local stack.

Tests truncate tables, delete topics and restart the broker and the database, so they run
against a stack of their own: its own home (``~/.cache/baton-test``; ``BATON_TEST_HOME``
moves it) and its own ports (Kafka 18092, its controller 18093, the secured broker
18094 and 18095, PostgreSQL 18432; ``BATON_TEST_KAFKA_PORT`` / ``BATON_TEST_PG_PORT`` move
them; ``scripts/test.sh`` runs the fault, integration, security and behaviour tests beside
the rest on a second such stack, Kafka 18192 and PostgreSQL 18532 in
``~/.cache/baton-test-faults``).
Those are clear of the user's stack (19092 to 19095, 55432), of the three-broker fault
cluster (29092 upward) and of Linux's ephemeral ports (32768 to 60999), which a client's
connection may hold at any moment.

:func:`apply_test_environment` points this process and every process it starts at that
stack: the variables that say where a stack is or how to reach it (``BATON_KAFKA_*``,
``BATON_PG_*``, ``BATON_STACK_*``, ``BATON_HOME``) are replaced, so a shell that configures
the user's own Kafka or database does not leak into the tests. ``BATON_TEST_USE_CONFIGURED=1``
keeps the environment as it is instead (the stack it configures, started when local), for
running the suite against an external broker and database on purpose.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path

from baton.config import BatonSettings
from baton.stack import KAFKA_VERSION, Stack, StackReport

__all__ = [
    "TEST_KAFKA_PORT",
    "TEST_PG_PORT",
    "USER_HOME",
    "USE_CONFIGURED",
    "apply_test_environment",
    "prepare",
    "release",
    "session_stack",
    "share_jars",
    "suite_environment",
    "user_settings",
    "uses_configured_stack",
]

USE_CONFIGURED = "BATON_TEST_USE_CONFIGURED"
"""Set to ``1``: the suite uses the stack the environment configures, not its own."""
USER_ENV = "BATON_TEST_USER_"
"""Prefix under which the test environment keeps the user's stack variables it replaced
(``BATON_PG_DSN`` as ``BATON_TEST_USER_PG_DSN``), for :func:`user_settings`."""
USER_HOME = f"{USER_ENV}HOME"
"""The user's ``BATON_HOME``, empty when unset; present once the test environment applies.
Tool caches (helm, kubeconform) stay in the user's home."""
TEST_KAFKA_PORT = 18092
TEST_PG_PORT = 18432
STARTED_MARKER = "started-by-tests"
"""In the test home while a test session's ``up`` started something there: the last session
to end stops the stack."""

_REPLACED_PREFIXES = ("BATON_KAFKA_", "BATON_PG_", "BATON_STACK_")


def uses_configured_stack(env: Mapping[str, str]) -> bool:
    """Whether the suite is asked to use the configured stack instead of its own."""
    return env.get(USE_CONFIGURED, "").strip().lower() in ("1", "true", "yes")


def _replaced(name: str) -> bool:
    return name == "BATON_HOME" or name.startswith(_REPLACED_PREFIXES)


def suite_environment(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` pointed at the test stack; the user's stack variables kept aside."""
    home = env.get("BATON_TEST_HOME") or str(Path.home() / ".cache" / "baton-test")
    kafka_port = int(env.get("BATON_TEST_KAFKA_PORT") or TEST_KAFKA_PORT)
    pg_port = int(env.get("BATON_TEST_PG_PORT") or TEST_PG_PORT)
    ours = BatonSettings(home=Path(home), stack_kafka_port=kafka_port, stack_pg_port=pg_port)
    kept = {name: value for name, value in env.items() if not _replaced(name)}
    # Applied again (a nested pytest), the user's values are the ones recorded the first time.
    if USER_HOME not in env:
        kept[USER_HOME] = ""  # BATON_HOME unset; replaced just below when it is set
        kept |= {f"{USER_ENV}{n[len('BATON_') :]}": v for n, v in env.items() if _replaced(n)}
    return kept | {
        "BATON_HOME": str(ours.home),
        "BATON_STACK_KAFKA_PORT": str(ours.stack_kafka_port),
        "BATON_STACK_PG_PORT": str(ours.stack_pg_port),
        "BATON_KAFKA_BOOTSTRAP": ours.bootstrap,
        "BATON_PG_DSN": ours.dsn,
    }


def apply_test_environment(environ: MutableMapping[str, str]) -> None:
    """Point ``environ`` (``os.environ``) at the test stack, unless told to keep it."""
    if uses_configured_stack(environ):
        return
    wanted = suite_environment(environ)
    for name in [n for n in environ if n not in wanted]:
        del environ[name]
    environ.update(wanted)


def user_settings(env: Mapping[str, str]) -> BatonSettings:
    """Settings of the user's own local stack: what ``baton stack up`` uses outside the
    tests (the defaults, or the stack variables the test environment replaced)."""
    if USER_HOME not in env:
        return BatonSettings.from_env(env)
    user = {f"BATON_{n[len(USER_ENV) :]}": v for n, v in env.items() if n.startswith(USER_ENV)}
    return BatonSettings.from_env(user)


def share_jars(*, source: Path, home: Path) -> None:
    """Link the Kafka jars ``source`` fetched into ``home``: fetched once, not per home.

    Only a complete download is linked; nothing is written under ``source``. Without one,
    ``home`` fetches its own (Maven's cache in ``~/.m2`` keeps that quick).
    """
    jars = source.expanduser() / "kafka" / KAFKA_VERSION
    target = home / "kafka" / KAFKA_VERSION
    if target.exists() or target.is_symlink() or not (jars / "libs.complete").exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(jars.resolve(), target_is_directory=True)


@contextlib.contextmanager
def session_stack(*, settings: BatonSettings, own: bool) -> Iterator[StackReport]:
    """The running stack of one test session; stopped at the end when tests started it.

    Args:
        settings: The session's settings (the test home and ports, or the configured ones).
        own: Whether it is the suite's own stack. A configured one is used as found and
            left running, as ``baton stack up`` leaves it.

    Several sessions may share the test stack (two checkouts testing at once): each holds
    a shared lock on ``<home>/sessions.lock`` while it runs, and the last one to end stops
    the stack if a test session started it (the jars and the database files stay, so the
    next session starts it in seconds).
    """
    stack = Stack(settings=settings)
    if not own:
        yield stack.up()
        return
    settings.home.mkdir(parents=True, exist_ok=True)
    marker = settings.home / STARTED_MARKER
    fd = _sessions_lock(settings)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # waits while the last session out stops the stack
        report = stack.up()
        if "started" in (report.kafka.action, report.postgres.action):
            marker.touch()
        yield report
    finally:
        try:
            _stop_if_last(fd, stack=stack, marker=marker)
        finally:
            os.close(fd)


def _suite_env(environ: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``environ`` pointed at the test stack (:func:`apply_test_environment`)."""
    env = dict(environ)
    apply_test_environment(env)
    return env


def _sessions_lock(settings: BatonSettings) -> int:
    """The open lock file the test sessions sharing ``settings.home``'s stack hold."""
    return os.open(settings.home / "sessions.lock", os.O_RDWR | os.O_CREAT, 0o644)


def _stop_if_last(fd: int, *, stack: Stack, marker: Path) -> None:
    """Stop the stack if no other session uses it and a test session started it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another session still uses the stack; it stops it when it ends
    if marker.exists():
        stack.down()
        marker.unlink(missing_ok=True)


def prepare(environ: Mapping[str, str], *, share_to: Path | None = None) -> None:
    """Start the suite's stack before test sessions run side by side, so that one process
    installs PostgreSQL and fetches the Kafka jars (two at once would race for apt's and
    Maven's locks); the last session to end stops it, as if it had started it. The jars
    are then linked into ``share_to``, the home of a second stack of the tests."""
    env = _suite_env(environ)
    settings = BatonSettings.from_env(env)
    share_jars(source=user_settings(env).home, home=settings.home)
    settings.home.mkdir(parents=True, exist_ok=True)
    report = Stack(settings=settings).up()
    if "started" in (report.kafka.action, report.postgres.action):
        (settings.home / STARTED_MARKER).touch()
    if share_to is not None:
        share_jars(source=settings.home, home=share_to)


def release(environ: Mapping[str, str]) -> None:
    """Stop the suite's stack when :func:`prepare` started it and no session uses it (a
    run that ended before its tests did)."""
    env = _suite_env(environ)
    settings = BatonSettings.from_env(env)
    fd = _sessions_lock(settings)
    try:
        _stop_if_last(fd, stack=Stack(settings=settings), marker=settings.home / STARTED_MARKER)
    finally:
        os.close(fd)


if __name__ == "__main__":  # python -m tests.stack prepare [SHARE_TO] | release
    import sys

    if sys.argv[1:2] == ["prepare"]:
        prepare(os.environ, share_to=Path(sys.argv[2]) if len(sys.argv) > 2 else None)
    elif sys.argv[1:] == ["release"]:
        release(os.environ)
    else:
        sys.exit("usage: python -m tests.stack prepare [SHARE_TO] | release")
