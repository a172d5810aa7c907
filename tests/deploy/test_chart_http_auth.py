"""The chart's HTTP side: the tokens file mounted from a Secret where
BATON_HTTP_TOKENS_FILE points (the services only), and the services' HTTP ports open to
named peers only."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from baton.security.http_auth import HttpTokens, new_token, token_line
from tests.deploy.checks import (
    BATON_SERVICES,
    CHART,
    by_kind,
    env_sources,
    load_manifests,
    render_chart,
    single_container,
)

Manifest = dict[str, Any]

pytestmark = pytest.mark.timeout(120)

TOKENS_DIR = "/etc/baton/http"


def _render(kube_versions: list[str], **set_json: Any) -> list[Manifest]:
    return load_manifests(render_chart(set_json=set_json, kube_version=kube_versions[-1]))


def _tokens_volume(doc: Manifest) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    pod = doc["spec"]["template"]["spec"]
    volume = next((v for v in pod["volumes"] if v["name"] == "http-tokens"), None)
    mounts = single_container(doc)["volumeMounts"]
    mount = next((m for m in mounts if m["name"] == "http-tokens"), None)
    return volume, mount


def test_services_read_the_tokens_file_from_the_charts_secret(
    helm: Path, kube_versions: list[str], tmp_path: Path
) -> None:
    token = new_token()
    line = token_line(token=token, role="read")
    docs = _render(kube_versions, **{"httpAuth.tokens": [line]})
    secret = by_kind(docs, "Secret")["baton"]["data"]
    text = base64.b64decode(secret["http-tokens"]).decode()
    assert text == f"{line}\n"
    assert token not in text
    (tmp_path / "tokens").write_text(text)
    assert HttpTokens.load(path=tmp_path / "tokens").roles(token) == {"read"}
    deployments = by_kind(docs, "Deployment")
    assert set(deployments) == {f"baton-{name}" for name in BATON_SERVICES}
    for name, doc in deployments.items():
        volume, mount = _tokens_volume(doc)
        assert volume == {
            "name": "http-tokens",
            "secret": {
                "secretName": "baton",
                "items": [{"key": "http-tokens", "path": "tokens"}],
            },
        }, name
        # A directory, not a subPath: Kubernetes swaps the file when the Secret changes.
        assert mount == {"name": "http-tokens", "mountPath": TOKENS_DIR, "readOnly": True}
        env = env_sources(single_container(doc))
        assert env["BATON_HTTP_TOKENS_FILE"] == f"{TOKENS_DIR}/tokens", name
    for name, job in by_kind(docs, "Job").items():
        assert _tokens_volume(job) == (None, None), name
        assert "BATON_HTTP_TOKENS_FILE" not in env_sources(single_container(job))


def test_by_default_no_token_is_accepted_until_some_are_added(
    helm: Path, kube_versions: list[str], tmp_path: Path
) -> None:
    docs = _render(kube_versions)
    text = base64.b64decode(by_kind(docs, "Secret")["baton"]["data"]["http-tokens"])
    (tmp_path / "tokens").write_bytes(text)
    assert len(HttpTokens.load(path=tmp_path / "tokens")) == 0
    for doc in by_kind(docs, "Deployment").values():
        assert _tokens_volume(doc)[0] is not None


@pytest.mark.parametrize(
    ("values", "secret", "key"),
    [
        ({"httpAuth.existingSecret": "tokens", "httpAuth.key": "file"}, "tokens", "file"),
        ({"secret.existingSecret": "creds"}, "creds", "http-tokens"),
    ],
)
def test_an_existing_secret_holds_the_tokens_file(
    values: dict[str, Any], secret: str, key: str, helm: Path, kube_versions: list[str]
) -> None:
    docs = _render(kube_versions, **values)
    own = by_kind(docs, "Secret").get("baton", {}).get("data", {})
    assert "http-tokens" not in own
    for doc in by_kind(docs, "Deployment").values():
        volume, _ = _tokens_volume(doc)
        assert volume is not None
        assert volume["secret"] == {"secretName": secret, "items": [{"key": key, "path": "tokens"}]}


def test_without_http_auth_nothing_is_mounted(helm: Path, kube_versions: list[str]) -> None:
    docs = _render(kube_versions, **{"httpAuth.enabled": False})
    assert "http-tokens" not in by_kind(docs, "Secret")["baton"]["data"]
    for doc in by_kind(docs, "Deployment").values():
        assert _tokens_volume(doc) == (None, None)
        assert "BATON_HTTP_TOKENS_FILE" not in env_sources(single_container(doc))


@pytest.mark.parametrize(
    ("ingress", "rules"),
    [
        ({"from": [], "allowAny": False}, []),  # no peer at all
        ({"from": [], "allowAny": True}, [{"ports": "PORT"}]),  # any peer, asked for
        (
            {"from": [{"podSelector": {"matchLabels": {"app": "gateway"}}}], "allowAny": False},
            [{"ports": "PORT", "from": [{"podSelector": {"matchLabels": {"app": "gateway"}}}]}],
        ),
    ],
)
def test_http_ports_admit_the_named_peers_only(
    ingress: dict[str, Any], rules: list[dict[str, Any]], helm: Path, kube_versions: list[str]
) -> None:
    docs = _render(kube_versions, **{"networkPolicy.ingress": ingress})
    policies = by_kind(docs, "NetworkPolicy")
    for name, port in BATON_SERVICES.items():
        expected = [{**rule, "ports": [{"protocol": "TCP", "port": port}]} for rule in rules]
        assert policies[f"baton-{name}-ingress"]["spec"]["ingress"] == expected, name


def test_the_secured_values_name_their_own_secrets(helm: Path, kube_versions: list[str]) -> None:
    docs = load_manifests(
        render_chart(values=[CHART / "ci" / "secured-values.yaml"], kube_version=kube_versions[-1])
    )
    for doc in by_kind(docs, "Deployment").values():
        volume, _ = _tokens_volume(doc)
        assert volume is not None
        assert volume["secret"]["secretName"] == "baton-http-tokens"
