"""Ed25519 signing in the chart (helm/baton/ci/ed25519-values.yaml and keys given as
values): each service's private key is mounted in its own pods only, every publisher's
public key in every pod, the hook Jobs included.

Each pod's Secret and ConfigMap volumes are written out as the kubelet would mount them
(tests/deploy/mounts.py) and its environment, resolved from the rendered manifests, is
given to :meth:`BatonSettings.from_env`, which loads the key files as the process does at
start: the keys it holds here are the keys the pod holds.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from baton.config import BatonSettings
from baton.security.signing_key_files import generate_key_pair
from tests.deploy.checks import (
    BATON_SERVICES,
    CHART,
    by_kind,
    env_sources,
    load_manifests,
    render_chart,
    resolved_env,
    single_container,
)
from tests.deploy.mounts import localized, mount_volumes

Manifest = dict[str, Any]

ED25519 = CHART / "ci" / "ed25519-values.yaml"
PUBLISHERS = (*BATON_SERVICES, "agents", "ops")
PRIVATE_DIR = "/etc/baton/signing/private"
PUBLIC_DIR = "/etc/baton/signing/public"

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def key_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """``<publisher>.v1.key`` / ``.pub`` file name → PEM, as `baton keys generate` writes."""
    folder = tmp_path_factory.mktemp("keys")
    files: dict[str, str] = {}
    for publisher in PUBLISHERS:
        for path in generate_key_pair(folder, key_id=f"{publisher}.v1"):
            files[path.name] = path.read_text("utf-8")
    return files


def _public(key_files: dict[str, str]) -> dict[str, str]:
    return {name: pem for name, pem in key_files.items() if name.endswith(".pub")}


def _trimmed(files: dict[str, str]) -> dict[str, str]:
    """``files`` without trailing newlines (``--set-json`` drops a value's last one)."""
    return {name: text.rstrip("\n") for name, text in files.items()}


def _pods(docs: list[Manifest]) -> dict[str, Manifest]:
    return {**by_kind(docs, "Deployment"), **by_kind(docs, "Job")}


def _rendered_data(docs: list[Manifest]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The rendered ConfigMaps' and Secrets' data (Secrets decoded)."""
    config_maps = {name: doc["data"] for name, doc in by_kind(docs, "ConfigMap").items()}
    secrets = {
        name: {key: base64.b64decode(value).decode() for key, value in doc["data"].items()}
        for name, doc in by_kind(docs, "Secret").items()
    }
    return config_maps, secrets


def _start(
    docs: list[Manifest],
    *,
    config_maps: dict[str, Any],
    secrets: dict[str, Any],
    root: Path,
) -> dict[str, tuple[BatonSettings, set[str]]]:
    """Each pod's settings, loaded from its mounted files, and the names of every key file
    it can read."""
    started: dict[str, tuple[BatonSettings, set[str]]] = {}
    for name, doc in _pods(docs).items():
        mounted = mount_volumes(doc, config_maps=config_maps, secrets=secrets, root=root / name)
        env = resolved_env(
            doc, config_maps=config_maps, secrets=secrets, pod_name=f"{name}-7c9d-x2x4q"
        )
        readable = {p.name for d in mounted.values() for p in d.iterdir() if p.is_file()}
        started[name] = (BatonSettings.from_env(localized(env, mounted)), readable)
    return started


def _assert_each_pod_holds_only_its_own_private_key(
    started: dict[str, tuple[BatonSettings, set[str]]],
) -> None:
    everyone = {f"{p}.v1" for p in PUBLISHERS}
    assert set(started) == {f"baton-{s}" for s in BATON_SERVICES} | {
        "baton-topics",
        "baton-migrate",
    }
    for name, (settings, readable) in started.items():
        component = name.removeprefix("baton-")
        policy = settings.signing_policy
        assert policy is not None, name
        assert set(policy.keys.public) == everyone, name
        assert policy.keys.secrets == {}, name
        if component in BATON_SERVICES:
            own = f"{component}.v1"
            assert set(policy.keys.private) == {own}, name
            assert policy.key_id == own, name
            # No other service's private key is readable in this pod, in any volume.
            assert {f for f in readable if f.endswith(".key")} == {f"{own}.key"}, name
        else:  # the hook Jobs verify and sign nothing
            assert policy.keys.private == {}, name
            assert policy.key_id is None, name
            assert not {f for f in readable if f.endswith(".key")}, name
    # What one service signs, another verifies with the public key it holds.
    hub, status = started["baton-hub"][0].signing_policy, started["baton-status"][0].signing_policy
    assert hub is not None
    assert status is not None
    signer = hub.keys.signer(hub.key_id)
    assert signer is not None
    assert signer.ed25519
    content = b"TASK_ASSIGNED signed content"
    signature = signer.sign(content)
    assert status.keys.check("hub.v1", content=content, signature=signature)
    assert not status.keys.check("resource.v1", content=content, signature=signature)


def test_existing_secrets_each_service_mounts_only_its_own_private_key(
    helm: Path, kube_versions: list[str], key_files: dict[str, str], tmp_path: Path
) -> None:
    """helm/baton/ci/ed25519-values.yaml: a Secret per service made beforehand, one
    ConfigMap of public keys; all seven pods start signing as their own key."""
    docs = load_manifests(render_chart(values=[ED25519], kube_version=kube_versions[-1]))
    config_maps, secrets = _rendered_data(docs)
    operator = {
        f"baton-signing-{s}": {f"{s}.v1.key": key_files[f"{s}.v1.key"]} for s in BATON_SERVICES
    }
    assert not set(operator) & set(secrets)  # the chart makes no key Secret of its own here
    started = _start(
        docs,
        config_maps={**config_maps, "baton-signing-public": _public(key_files)},
        secrets={**secrets, **operator},
        root=tmp_path,
    )
    _assert_each_pod_holds_only_its_own_private_key(started)
    for name, doc in _pods(docs).items():
        pod = doc["spec"]["template"]["spec"]
        mounted_secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        component = name.removeprefix("baton-")
        expected = {f"baton-signing-{component}"} if component in BATON_SERVICES else set()
        assert mounted_secrets & set(operator) == expected, name
        env = env_sources(single_container(doc))
        assert env["BATON_SIGNING_PUBLIC_KEYS"] == PUBLIC_DIR, name
        if expected:
            assert env["BATON_SIGNING_PRIVATE_KEYS"] == PRIVATE_DIR, name
            assert env["BATON_SIGNING_KEY_ID"] == component, name
            private = next(v for v in pod["volumes"] if v["name"] == "signing-private")
            assert private["secret"]["defaultMode"] == 0o440, name
        else:
            assert "BATON_SIGNING_PRIVATE_KEYS" not in env, name
    # Every rendered mount is read-only.
    for doc in _pods(docs).values():
        for mount in single_container(doc)["volumeMounts"]:
            if mount["name"].startswith("signing-"):
                assert mount["readOnly"] is True


def test_keys_given_as_values_go_into_a_secret_per_service(
    helm: Path, kube_versions: list[str], key_files: dict[str, str], tmp_path: Path
) -> None:
    """Without existing Secrets: the chart's own Secret per service holds that service's
    key only, the public keys a ConfigMap (and its hook copy, which the Jobs mount)."""
    docs = load_manifests(
        render_chart(
            set_json={
                "signing.ed25519.enabled": True,
                "signing.ed25519.publicKeys.files": _public(key_files),
                **{
                    f"services.{s}.signingKey.files": {f"{s}.v1.key": key_files[f"{s}.v1.key"]}
                    for s in BATON_SERVICES
                },
            },
            kube_version=kube_versions[-1],
        )
    )
    config_maps, secrets = _rendered_data(docs)
    for service in BATON_SERVICES:
        assert _trimmed(secrets[f"baton-{service}-signing"]) == _trimmed(
            {f"{service}.v1.key": key_files[f"{service}.v1.key"]}
        )
        # Not in the Secret every pod reads its credentials from.
        assert not any(k.endswith(".key") for k in secrets["baton"])
    assert _trimmed(config_maps["baton-signing-public"]) == _trimmed(_public(key_files))
    assert config_maps["baton-signing-public-hooks"] == config_maps["baton-signing-public"]
    hook = by_kind(docs, "ConfigMap")["baton-signing-public-hooks"]["metadata"]["annotations"]
    assert hook["helm.sh/hook"] == "pre-install,pre-upgrade"
    for name, doc in by_kind(docs, "Job").items():
        volume = next(
            v for v in doc["spec"]["template"]["spec"]["volumes"] if v["name"] == "signing-public"
        )
        assert volume["configMap"]["name"] == "baton-signing-public-hooks", name
    started = _start(docs, config_maps=config_maps, secrets=secrets, root=tmp_path)
    _assert_each_pod_holds_only_its_own_private_key(started)


def test_a_missing_key_secret_keeps_the_pod_from_starting(
    helm: Path, kube_versions: list[str], key_files: dict[str, str], tmp_path: Path
) -> None:
    docs = load_manifests(render_chart(values=[ED25519], kube_version=kube_versions[-1]))
    config_maps, secrets = _rendered_data(docs)
    hub = by_kind(docs, "Deployment")["baton-hub"]
    with pytest.raises(KeyError, match="baton-signing-hub does not exist"):
        mount_volumes(
            hub,
            config_maps={**config_maps, "baton-signing-public": _public(key_files)},
            secrets=secrets,
            root=tmp_path,
        )


def test_a_service_env_key_id_wins_without_a_second_entry(
    helm: Path, kube_versions: list[str]
) -> None:
    docs = load_manifests(
        render_chart(
            values=[ED25519],
            set_json={
                "services.hub.env": {"BATON_SIGNING_KEY_ID": "hub.v2"},
                "services.status.signingKey.publisher": "dashboard",
            },
            kube_version=kube_versions[-1],
        )
    )
    deployments = by_kind(docs, "Deployment")
    hub_env = single_container(deployments["baton-hub"])["env"]
    assert [e["value"] for e in hub_env if e["name"] == "BATON_SIGNING_KEY_ID"] == ["hub.v2"]
    status = env_sources(single_container(deployments["baton-status"]))
    assert status["BATON_SIGNING_KEY_ID"] == "dashboard"


PEM = "-----BEGIN PRIVATE KEY-----\n"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"services.status.signingKey.existingSecret": "baton-signing-hub"},
            "services.hub.signingKey and services.status.signingKey name the same Secret",
        ),
        (
            {"services.hub.signingKey": {"existingSecret": "s", "files": {"hub.v1.key": PEM}}},
            r"services.hub.signingKey: set existingSecret or files, not both",
        ),
        (
            {"services.monitor.signingKey.existingSecret": ""},
            "services.monitor.signingKey: signing.ed25519.enabled needs",
        ),
        (
            {"signing.ed25519.publicKeys.secretName": "also"},
            "set one of secretName, configMapName or files",
        ),
        ({"services.hub.signingKey.files": {"hub.v1.pem": PEM}}, "hub.v1.pem"),
        ({"signing.ed25519.publicKeys.files": {"hub.v1.pub": "not a key"}}, "publicKeys/files"),
    ],
)
def test_signing_values_the_chart_cannot_honour_fail_the_render(
    override: dict[str, Any], message: str, helm: Path, kube_versions: list[str]
) -> None:
    with pytest.raises(RuntimeError, match=message):
        render_chart(values=[ED25519], set_json=override, kube_version=kube_versions[-1])
