"""How the test suite picks its own stack (tests/stack.py), without starting one."""

from __future__ import annotations

from pathlib import Path

from baton.config import LOCAL_KAFKA_BOOTSTRAP, LOCAL_PG_DSN, BatonSettings
from tests.stack import (
    TEST_KAFKA_PORT,
    TEST_PG_PORT,
    USE_CONFIGURED,
    apply_test_environment,
    share_jars,
    user_settings,
)

USER = {
    "PATH": "/usr/bin",
    "BATON_KAFKA_BOOTSTRAP": LOCAL_KAFKA_BOOTSTRAP,
    "BATON_PG_DSN": LOCAL_PG_DSN,
    "BATON_KAFKA_LINGER_MS": "5",
    "BATON_HOME": "/srv/baton",
    "BATON_STACK_KAFKA_PORT": "19092",
    "BATON_TOPIC_PREFIX": "acme",
}
"""A shell set up for the user's own stack."""


def test_the_suite_replaces_the_users_stack_variables_with_its_own() -> None:
    env = dict(USER)
    apply_test_environment(env)
    ours = BatonSettings.from_env(env)
    assert ours.home == Path.home() / ".cache" / "baton-test"
    assert ours.bootstrap == f"127.0.0.1:{TEST_KAFKA_PORT}"
    assert ours.dsn == f"postgresql://baton@127.0.0.1:{TEST_PG_PORT}/baton"
    assert ours.stack_pg_port == TEST_PG_PORT
    assert ours.kafka_linger_ms == BatonSettings().kafka_linger_ms  # the user's tuning is gone
    assert env["PATH"] == "/usr/bin"
    assert env["BATON_TOPIC_PREFIX"] == "acme"  # not about where the stack is: kept
    # The user's stack is remembered, not used; applying again changes nothing.
    user = user_settings(env)
    assert (user.home, user.bootstrap, user.dsn) == (Path("/srv/baton"), *LOCAL_STACK)
    again = dict(env)
    apply_test_environment(again)
    assert again == env


LOCAL_STACK = (LOCAL_KAFKA_BOOTSTRAP, LOCAL_PG_DSN)


def test_the_test_ports_and_home_come_from_test_variables() -> None:
    env = {"BATON_TEST_HOME": "/tmp/t", "BATON_TEST_KAFKA_PORT": "18192"}
    env |= {"BATON_TEST_PG_PORT": "18532"}
    apply_test_environment(env)
    ours = BatonSettings.from_env(env)
    assert (str(ours.home), ours.bootstrap) == ("/tmp/t", "127.0.0.1:18192")
    assert ours.stack_pg_port == 18532
    assert user_settings(env).home == BatonSettings().home  # the user's BATON_HOME was unset


def test_the_configured_stack_is_used_only_when_asked() -> None:
    env = {**USER, USE_CONFIGURED: "1"}
    apply_test_environment(env)
    assert env == {**USER, USE_CONFIGURED: "1"}


def test_the_users_kafka_jars_are_linked_never_written(tmp_path: Path) -> None:
    user, home = tmp_path / "user", tmp_path / "test"
    share_jars(source=user, home=home)  # nothing fetched there yet: the tests fetch their own
    assert not (user / "kafka").exists()
    assert not (home / "kafka").exists()
    from baton.stack import KAFKA_VERSION

    jars = user / "kafka" / KAFKA_VERSION
    (jars / "libs").mkdir(parents=True)
    (jars / "libs.complete").write_text(KAFKA_VERSION)
    share_jars(source=user, home=home)
    linked = home / "kafka" / KAFKA_VERSION
    assert linked.is_symlink()
    assert (linked / "libs.complete").exists()
    assert not (home / "kafka" / "data").exists()
