"""Ed25519 signing: publishers sign with private keys, verifiers hold public keys only;
keys are re-read from their files when they change, and rotate by version."""

from __future__ import annotations

import logging
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest
from pydantic import SecretStr

from baton.config import BatonSettings
from baton.errors import ConfigError
from baton.security.signing_key_files import generate_key_pair
from baton.security.signing_keys import KeySources, key_version, publisher_of
from baton.security.signing_middleware import SigningMiddleware
from baton.security.signing_policy import SigningPolicy
from tests.unit.security.test_signing import reason, signed, with_header

RULES = ("TASK_COMPLETED:agents", "TASK_ASSIGNED:hub")


def pair(root: Path, key_id: str) -> tuple[Path, Path]:
    """A key pair, its private key in ``root/<publisher>/`` and its public key in
    ``root/public/`` (what every verifier mounts)."""
    publisher = publisher_of(key_id)
    key, pub = generate_key_pair(root / "made", key_id=key_id)
    (root / publisher).mkdir(exist_ok=True)
    (root / "public").mkdir(exist_ok=True)
    shutil.move(key, root / publisher / key.name)
    shutil.move(pub, root / "public" / pub.name)
    return root / publisher / key.name, root / "public" / pub.name


def process(
    root: Path, publisher: str | None, *, interval: float = 5.0, **more: object
) -> SigningMiddleware:
    policy = SigningPolicy.build(
        keys=None,
        key_id=None,
        publishers=RULES,
        public_keys=root / "public",
        private_keys=root / publisher if publisher else None,
        reload_interval=interval,
        **more,  # type: ignore[arg-type]
    )
    assert policy is not None
    return SigningMiddleware(policy=policy, stats=Counter())


def fake_clock(*processes: SigningMiddleware) -> list[float]:
    """Make ``processes`` read time from the list returned (its one item, from 0)."""
    now = [0.0]
    for mw in processes:
        mw.ring._clock = lambda: now[0]
        mw.ring._checked, mw.ring._refreshed = 0.0, -1.0
    return now


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    pair(tmp_path, "hub.v1")
    pair(tmp_path, "agents.v1")
    return tmp_path


def test_key_ids_name_publisher_and_version() -> None:
    assert [publisher_of(k) for k in ("hub.v2", "hub@2025", "hub@v3", "hub", "a.b")] == [
        "hub",
        "hub",
        "hub",
        "hub",
        "a.b",
    ]
    assert [key_version(k) for k in ("hub.v2", "hub@2025", "hub", "hub.v")] == [2, 2025, -1, -1]


def test_a_publisher_signs_and_a_verifier_without_private_keys_cannot(keys: Path) -> None:
    hub, agents = process(keys, "hub"), process(keys, "agents")
    verifier = process(keys, None)
    assert verifier.policy.key_id is None
    assert verifier.ring.signer() is None
    record = signed(agents)
    assert dict(record.headers)["baton-key-id"] == b"agents.v1"
    assert len(dict(record.headers)["baton-sig"]) == 128  # 64 bytes, hex
    for consumer in (verifier, hub, agents):
        consumer.verify(record, event_type="TASK_COMPLETED")
    unsigned = signed(verifier)  # it holds no private key: nothing to sign with
    assert reason(verifier, unsigned) == "header.baton-sig: unsigned"


def test_forged_tampered_and_wrong_publisher_are_quarantined(keys: Path, tmp_path: Path) -> None:
    verifier = process(keys, None)
    # Mallory's own key pair, its records claiming to be the hub's key.
    mallory_root = tmp_path / "mallory"
    pair(mallory_root, "hub.v1")
    mallory = process(mallory_root, "hub")
    forged = signed(mallory, "TASK_ASSIGNED:wf_1:impl:{}")
    assert reason(verifier, forged, "TASK_ASSIGNED") == "header.baton-sig: bad signature"
    good = signed(process(keys, "agents"))
    tampered = with_header(good, "baton-source", b"baton-status")
    assert reason(verifier, tampered) == "header.baton-sig: bad signature"
    garbage = with_header(good, "baton-sig", b"zz" * 64)
    assert reason(verifier, garbage) == "header.baton-sig: bad signature"
    # A valid hub signature on a type only agents may publish.
    wrong = signed(process(keys, "hub"))
    assert reason(verifier, wrong) == "header.baton-key-id: publisher not allowed"
    assert verifier.stats["quarantined"] == 4


def test_an_hmac_signature_never_passes_for_an_ed25519_key(keys: Path) -> None:
    verifier = process(keys, None)
    hmac_hub = SigningPolicy.build(keys=SecretStr("hub.v1:" + "h" * 32), key_id=None)
    assert hmac_hub is not None
    record = signed(SigningMiddleware(policy=hmac_hub))  # key id hub.v1, HMAC
    assert reason(verifier, record) == "header.baton-sig: bad signature"
    with pytest.raises(ValueError, match="both an HMAC and an Ed25519 key"):
        SigningPolicy.build(
            keys=SecretStr("hub.v1:" + "h" * 32), key_id=None, public_keys=keys / "public"
        )


def test_keys_rotate_without_a_restart(keys: Path) -> None:
    hub = process(keys, "hub", interval=5.0)
    verifier = process(keys, None, interval=60.0)
    now = fake_clock(hub, verifier)
    assert hub.ring.signer().key_id == "hub.v1"  # type: ignore[union-attr]
    pair(keys, "hub.v2")
    now[0] += 1.0
    assert hub.ring.signer().key_id == "hub.v1"  # type: ignore[union-attr]  # not checked yet
    now[0] += 5.0
    assert hub.ring.signer().key_id == "hub.v2"  # type: ignore[union-attr]  # the newest
    # The verifier checks its files only every minute, but a key it does not hold makes it
    # look at once.
    verifier.verify(signed(hub, "TASK_ASSIGNED:wf_1:impl:{}"), event_type="TASK_ASSIGNED")
    assert verifier.ring.reloads == 1
    (keys / "hub" / "hub.v1.key").unlink()
    (keys / "public" / "hub.v1.pub").unlink()
    now[0] += 60.0
    old = signed(process(keys, "hub"), "TASK_ASSIGNED:wf_1:impl:{}")
    assert dict(old.headers)["baton-key-id"] == b"hub.v2"
    verifier.verify(old, event_type="TASK_ASSIGNED")
    assert set(verifier.ring.current().public) == {"hub.v2", "agents.v1"}


def test_an_unknown_key_rereads_at_most_once_a_second(
    keys: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    verifier = process(keys, None, interval=60.0)
    now = fake_clock(verifier)
    pair(tmp_path / "stranger", "eve.v1")
    record = signed(process(tmp_path / "stranger", "eve"), "PHASE_PROGRESS:wf_1:p:{}")
    looks = Counter[str]()
    files = KeySources.files

    def counted(self: KeySources) -> list[Path]:
        looks["files"] += 1
        return files(self)

    monkeypatch.setattr(KeySources, "files", counted)
    for _ in range(50):
        assert reason(verifier, record, "PHASE_PROGRESS") == "header.baton-key-id: unknown key"
    assert looks["files"] == 1
    now[0] += 1.5
    assert reason(verifier, record, "PHASE_PROGRESS") == "header.baton-key-id: unknown key"
    assert looks["files"] == 2
    assert verifier.ring.reloads == 0


def test_a_broken_key_file_keeps_the_keys_held(
    keys: Path, caplog: pytest.LogCaptureFixture
) -> None:
    verifier = process(keys, None, interval=1.0)
    now = fake_clock(verifier)
    (keys / "public" / "hub.v9.pub").write_text("not a key\n")
    now[0] += 2
    with caplog.at_level(logging.ERROR, "baton.security.signing"):
        assert set(verifier.ring.current().public) == {"hub.v1", "agents.v1"}
    assert "hub.v9.pub" in caplog.text


def test_hmac_keys_file_is_reread(tmp_path: Path) -> None:
    secret_file = tmp_path / "keys"
    secret_file.write_text("hub.v1:" + "1" * 32 + "\n")
    settings = BatonSettings.from_env(
        {"BATON_SIGNING_KEYS_FILE": str(secret_file), "BATON_SIGNING_RELOAD_INTERVAL": "0.01"}
    )
    policy = settings.signing_policy
    assert policy is not None
    assert policy.key_id == "hub.v1"
    hub = SigningMiddleware(policy=policy)
    secret_file.write_text("hub.v1:" + "1" * 32 + ",hub.v2:" + "2" * 32 + "\n")
    os.utime(secret_file, ns=(1, 1))  # a different modification time, whatever the clock
    hub.ring._checked -= 1
    assert hub.ring.signer().key_id == "hub.v2"  # type: ignore[union-attr]


def test_ed25519_settings(keys: Path, caplog: pytest.LogCaptureFixture) -> None:
    env = {
        "BATON_SIGNING_PUBLIC_KEYS": str(keys / "public"),
        "BATON_SIGNING_PRIVATE_KEYS": str(keys / "hub"),
        "BATON_SIGNING_PUBLISHERS": ",".join(RULES),
    }
    policy = BatonSettings.from_env(env).signing_policy
    assert policy is not None
    assert policy.key_id == "hub.v1"
    assert policy.strict
    with caplog.at_level(logging.WARNING, "baton.security.signing"):
        SigningMiddleware(policy=policy)
    assert "STRICT" not in caplog.text
    lenient = BatonSettings.from_env({**env, "BATON_SIGNING_STRICT": "false"}).signing_policy
    assert lenient is not None
    assert not lenient.strict
    with caplog.at_level(logging.WARNING, "baton.security.signing"):
        SigningMiddleware(policy=lenient)
    assert "BATON_SIGNING_STRICT=false" in caplog.text
    (keys / "public" / "x.pub").write_text("nope")
    with pytest.raises(ConfigError, match="BATON_SIGNING_PUBLIC_KEYS"):
        BatonSettings.from_env(env)


def test_hmac_secrets_are_32_bytes_at_least() -> None:
    with pytest.raises(ConfigError) as caught:
        BatonSettings.from_env({"BATON_SIGNING_KEYS": "hub:" + "s" * 31})
    message = str(caught.value)
    assert "BATON_SIGNING_KEYS" in message
    assert "32 bytes" in message
    assert "s" * 31 not in message
    assert BatonSettings.from_env({"BATON_SIGNING_KEYS": "hub:" + "s" * 32}).signing_policy
