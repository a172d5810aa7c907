"""BATON_SIGNING_* settings: off by default, validated at start, secrets never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.bus import Bus, MemoryTransport
from baton.config import BatonSettings
from baton.errors import ConfigError
from baton.security.signing_middleware import SigningMiddleware

SECRET = "s3cr3t-" + "x" * 26


def test_signing_is_off_by_default_and_the_bus_unchanged() -> None:
    settings = BatonSettings.from_env({})
    assert settings.signing_policy is None
    bus = Bus(settings=settings, transport=MemoryTransport())
    assert bus.signing is None
    assert not any(isinstance(m, SigningMiddleware) for m in bus.middleware)


def test_keys_turn_signing_on_for_every_bus() -> None:
    env = {
        "BATON_SIGNING_KEYS": f"hub:{SECRET},agents:{SECRET}y",
        "BATON_SIGNING_KEY_ID": "hub",
        "BATON_SIGNING_STRICT_TYPES": "TASK_ASSIGNED, WORKFLOW_STATE",
        "BATON_SIGNING_PUBLISHERS": "TASK_COMPLETED:agents|hub,TASK_ASSIGNED:hub",
        "BATON_SIGNING_MAX_AGE": "120",
    }
    policy = BatonSettings.from_env(env).signing_policy
    assert policy is not None
    assert policy.key_id == "hub"
    assert policy.publishers["TASK_COMPLETED"] == {"agents", "hub"}
    assert policy.strict_types == {"TASK_ASSIGNED", "WORKFLOW_STATE", "TASK_COMPLETED"}
    assert policy.max_age_ms == 120_000
    assert SECRET not in repr(policy)
    assert SECRET not in repr(BatonSettings.from_env(env))
    bus = Bus(settings=BatonSettings.from_env(env), transport=MemoryTransport(), middleware=[])
    assert bus.middleware == [bus.signing]


def test_one_key_needs_no_key_id(tmp_path: Path) -> None:
    secret = tmp_path / "keys"
    secret.write_text(f"svc:{SECRET}\n")
    policy = BatonSettings.from_env({"BATON_SIGNING_KEYS_FILE": str(secret)}).signing_policy
    assert policy is not None
    assert policy.key_id == "svc"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"BATON_SIGNING_KEYS": "hub"}, "BATON_SIGNING_KEYS"),
        ({"BATON_SIGNING_KEYS": f"hub:short,x:{SECRET}"}, "BATON_SIGNING_KEYS"),
        ({"BATON_SIGNING_KEYS": f"a:{SECRET},b:{SECRET}"}, "BATON_SIGNING_KEY_ID"),
        ({"BATON_SIGNING_KEYS": f"a:{SECRET}", "BATON_SIGNING_KEY_ID": "b"}, "KEY_ID"),
        ({"BATON_SIGNING_KEYS": f"a:{SECRET}", "BATON_SIGNING_PUBLISHERS": "x:a"}, "PUBLISHERS"),
        ({"BATON_SIGNING_KEYS": f"a:{SECRET}", "BATON_SIGNING_STRICT_TYPES": "lower"}, "STRICT"),
        ({"BATON_SIGNING_STRICT": "true"}, "BATON_SIGNING_KEYS"),
        ({"BATON_SIGNING_KEYS": f"a:{SECRET}", "BATON_SIGNING_MAX_AGE": "0"}, "MAX_AGE"),
    ],
)
def test_bad_settings_fail_at_start_naming_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError) as caught:
        BatonSettings.from_env(env)
    assert names in str(caught.value)
    assert SECRET not in str(caught.value)
