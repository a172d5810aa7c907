"""The deployment files: the Helm chart renders, validates and meets Pod Security
"restricted"; the checks catch broken manifests; docker-compose.yml and the Dockerfile hold
together.

helm and kubeconform come from scripts/deploy-tools.sh (scripts/test.sh runs it through
scripts/deploy-check.sh first). Without them these tests fail, they never skip.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from baton.config import BatonSettings
from baton.runtime import RetentionConfig
from tests.deploy.checks import (
    BATON_SERVICES,
    CHART,
    REPO,
    TOOLS_HINT,
    by_kind,
    ci_values_files,
    compose_doc_problems,
    compose_problems,
    env_sources,
    kubeconform,
    load_manifests,
    pod_security_violations,
    pod_templates,
    render_chart,
    single_container,
    tools_dir,
)

Manifest = dict[str, Any]

ALT_VALUES = CHART / "ci" / "existing-secret-autoscaling-values.yaml"

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def default_render(helm: Path, kube_versions: list[str]) -> str:
    return render_chart(kube_version=kube_versions[-1])


@pytest.fixture(scope="module")
def alt_render(helm: Path, kube_versions: list[str]) -> str:
    return render_chart(values=[ALT_VALUES], kube_version=kube_versions[-1])


@pytest.fixture(scope="module")
def default_docs(default_render: str) -> list[Manifest]:
    return load_manifests(default_render)


@pytest.fixture(scope="module")
def alt_docs(alt_render: str) -> list[Manifest]:
    return load_manifests(alt_render)


# --- the chart as rendered --------------------------------------------------------------


def test_tools_are_installed() -> None:
    for name in ("helm", "kubeconform"):
        path = tools_dir() / "bin" / name
        assert path.is_file(), f"{name} is missing at {path}: {TOOLS_HINT}"
    assert (tools_dir() / "compose-spec.json").is_file(), TOOLS_HINT
    crd = tools_dir() / "crd-json-schema" / "monitoring.coreos.com" / "servicemonitor_v1.json"
    assert crd.is_file(), TOOLS_HINT


def test_every_service_has_deployment_service_and_disruption_budget(
    default_docs: list[Manifest],
) -> None:
    deployments = by_kind(default_docs, "Deployment")
    services = by_kind(default_docs, "Service")
    budgets = by_kind(default_docs, "PodDisruptionBudget")
    assert set(deployments) == {f"baton-{name}" for name in BATON_SERVICES}
    for name, port in BATON_SERVICES.items():
        deployment = deployments[f"baton-{name}"]
        container = single_container(deployment)
        assert container["args"] == ["serve", name]
        assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
        assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
        assert container["resources"]["requests"]
        assert container["resources"]["limits"]
        env = env_sources(container)
        assert env["BATON_HTTP_PORT"] == str(port)
        assert env["BATON_PG_DSN"] == {"secretKeyRef": {"name": "baton", "key": "BATON_PG_DSN"}}
        assert container["envFrom"] == [{"configMapRef": {"name": "baton"}}]
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        pod = deployment["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == "baton"
        assert {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}} in pod["volumes"]
        assert services[f"baton-{name}"]["spec"]["ports"][0]["port"] == port
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert services[f"baton-{name}"]["spec"]["selector"] == selector
        assert budgets[f"baton-{name}"]["spec"]["selector"]["matchLabels"] == selector
    # Two of every service: what tests/faults/test_replicas.py runs and kills one of.
    assert {name: d["spec"]["replicas"] for name, d in deployments.items()} == {
        f"baton-{name}": 2 for name in BATON_SERVICES
    }


def test_each_replica_has_a_stable_instance_id_and_stops_within_its_grace(
    default_docs: list[Manifest], kube_versions: list[str]
) -> None:
    """BATON_INSTANCE_ID is the pod's name (static membership; unique per live pod, kept
    across container restarts); BATON_STOP_GRACE is what the pod's grace period leaves after
    the preStop sleep, less 5 s."""
    for name, deployment in by_kind(default_docs, "Deployment").items():
        env = env_sources(single_container(deployment))
        assert env["BATON_INSTANCE_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}, name
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert (grace, env["BATON_STOP_GRACE"]) == (30, "20"), name
        assert single_container(deployment)["lifecycle"] == {
            "preStop": {"exec": {"command": ["sleep", "5"]}}
        }, name
    changed = by_kind(
        load_manifests(
            render_chart(
                set_json={
                    "services.hub.terminationGracePeriodSeconds": 60,
                    "services.status.staticMembership": False,
                    "services.status.preStopSleepSeconds": 0,
                    "fullnameOverride": "x" * 60,
                },
                kube_version=kube_versions[-1],
            )
        ),
        "Deployment",
    )
    hub, status = (single_container(changed[f"{'x' * 53}-{n}"]) for n in ("hub", "status"))
    assert env_sources(hub)["BATON_STOP_GRACE"] == "50"
    assert "BATON_INSTANCE_ID" not in env_sources(status)
    assert (env_sources(status)["BATON_STOP_GRACE"], "lifecycle" in status) == ("25", False)
    # The longest pod name the chart can give (its longest Deployment name, a ReplicaSet
    # hash, a pod suffix) is a valid instance id, and the stop grace a valid setting.
    longest = max(changed, key=len)
    pod = f"{longest}-{'7' * 10}-{'x' * 5}"
    settings = BatonSettings.from_env({"BATON_INSTANCE_ID": pod, "BATON_STOP_GRACE": "55"})
    assert (settings.instance_id, settings.stop_grace) == (pod, 55.0)


def test_configuration_in_configmap_and_credentials_in_secret(
    default_docs: list[Manifest],
) -> None:
    config = by_kind(default_docs, "ConfigMap")["baton"]["data"]
    assert config["BATON_HTTP_HOST"] == "0.0.0.0"
    assert config["HOME"] == "/tmp"
    assert config["BATON_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert "BATON_PG_DSN" not in config
    secrets = by_kind(default_docs, "Secret")
    assert set(secrets) == {"baton", "baton-hooks"}
    # The HTTP tokens file (hashes; empty by default) is the other key.
    assert set(secrets["baton"]["data"]) == {"BATON_PG_DSN", "http-tokens"}
    assert set(by_kind(default_docs, "ServiceAccount")) == {"baton"}


def test_replication_schema_and_retention_are_left_to_baton_unless_set(
    default_docs: list[Manifest], kube_versions: list[str]
) -> None:
    """By default the topics Job picks the replication from the cluster and the schema is
    named after the prefix; set, they and the retention windows reach every pod, as
    settings the services accept."""
    config = by_kind(default_docs, "ConfigMap")["baton"]["data"]
    assert not [k for k in config if k.startswith(("BATON_REPLICATION", "BATON_PG_SCHEMA"))]
    assert not [k for k in config if k.startswith("BATON_RETENTION_")]
    docs = load_manifests(
        render_chart(
            set_json={
                "config.replication": 3,
                "config.pgSchema": "acme_prod",
                "config.retention": {"ledger": "20d", "workflows": 86400, "batch": 500},
            },
            kube_version=kube_versions[-1],
        )
    )
    expected = {
        "BATON_REPLICATION": "3",
        "BATON_PG_SCHEMA": "acme_prod",
        "BATON_RETENTION_LEDGER": "20d",
        "BATON_RETENTION_WORKFLOWS": "86400",
        "BATON_RETENTION_BATCH": "500",
    }
    config = by_kind(docs, "ConfigMap")["baton"]["data"]
    assert {k: config.get(k) for k in expected} == expected
    for job in by_kind(docs, "Job").values():  # the hooks run before the ConfigMap exists
        env = env_sources(single_container(job))
        assert {k: env.get(k) for k in expected} == expected
    settings = BatonSettings.from_env(config)
    assert (settings.replication, settings.db_schema) == (3, "acme_prod")
    retention = RetentionConfig.from_env(config)
    assert (retention.ledger, retention.workflows, retention.batch) == (20 * 86400, 86400, 500)


def test_existing_secret_and_autoscaling(alt_docs: list[Manifest]) -> None:
    assert by_kind(alt_docs, "Secret") == {}, "existingSecret: the chart makes no Secret"
    assert by_kind(alt_docs, "ServiceAccount") == {}
    hpas = by_kind(alt_docs, "HorizontalPodAutoscaler")
    assert set(hpas) == {f"baton-{n}" for n in BATON_SERVICES if n != "monitor"}
    for name, hpa in hpas.items():
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu", "memory"]
    deployments = by_kind(alt_docs, "Deployment")
    for name, deployment in deployments.items():
        assert ("replicas" in deployment["spec"]) == (name not in hpas)
        env = env_sources(single_container(deployment))
        assert env["BATON_PG_DSN"]["secretKeyRef"]["name"] == "baton-credentials"
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "baton"
    for job in by_kind(alt_docs, "Job").values():
        assert env_sources(single_container(job))["BATON_PG_DSN"]["secretKeyRef"]["name"] == (
            "baton-credentials"
        )
    status_env = env_sources(single_container(deployments["baton-status"]))
    assert status_env["BATON_STATUS_LIST_LIMIT"] == "1000"
    assert "baton-monitor" not in by_kind(alt_docs, "PodDisruptionBudget")


def test_hook_jobs_create_topics_and_migrate_before_install_and_upgrade(
    default_docs: list[Manifest],
) -> None:
    jobs = by_kind(default_docs, "Job")
    assert {name: single_container(job)["args"] for name, job in jobs.items()} == {
        "baton-topics": ["topics", "create"],
        "baton-migrate": ["db", "migrate"],
    }
    hook_secret = by_kind(default_docs, "Secret")["baton-hooks"]
    for job in jobs.values():
        annotations = job["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert int(annotations["helm.sh/hook-weight"]) > int(
            hook_secret["metadata"]["annotations"]["helm.sh/hook-weight"]
        )
        env = env_sources(single_container(job))
        assert env["BATON_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env["BATON_PG_DSN"] == {
            "secretKeyRef": {"name": "baton-hooks", "key": "BATON_PG_DSN"}
        }
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_network_policies_deny_by_default_and_allow_what_baton_needs(
    default_docs: list[Manifest],
) -> None:
    policies = by_kind(default_docs, "NetworkPolicy")
    deny = policies["baton-default-deny"]["spec"]
    assert deny["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny
    assert "egress" not in deny
    egress_ports = {
        (p["protocol"], p["port"])
        for rule in policies["baton-egress"]["spec"]["egress"]
        for p in rule["ports"]
    }
    needed = {("UDP", 53), ("TCP", 53), ("TCP", 9092), ("TCP", 5432), ("TCP", 4318)}
    assert needed <= egress_ports
    for name, port in BATON_SERVICES.items():
        ingress = policies[f"baton-{name}-ingress"]["spec"]
        assert ingress["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == name
        # Only named peers by default: the ingress controller's and Prometheus' namespaces.
        assert ingress["ingress"] == [
            {
                "ports": [{"protocol": "TCP", "port": port}],
                "from": [
                    {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
                    for ns in ("ingress-nginx", "monitoring")
                ],
            }
        ]


# --- Pod Security "restricted" and kubeconform --------------------------------------------


@pytest.mark.parametrize("values", ["", *(p.name for p in ci_values_files())])
def test_every_pod_meets_pod_security_restricted(values: str, kube_versions: list[str]) -> None:
    files = [CHART / "ci" / values] if values else []
    docs = load_manifests(render_chart(values=files, kube_version=kube_versions[-1]))
    templates = pod_templates(docs)
    assert sorted(d["kind"] for d in templates) == ["Deployment"] * 5 + ["Job"] * 2
    assert pod_security_violations(docs) == []
    for doc in templates:
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(key)
        assert all("hostPath" not in v for v in pod.get("volumes", []))
        sc = single_container(doc)["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}


def test_kubeconform_accepts_every_render(kube_versions: list[str]) -> None:
    """Every kind is validated, the ServiceMonitor against the Prometheus Operator's own
    schema: none is skipped."""
    assert ALT_VALUES in ci_values_files()
    for values in ([], *([path] for path in ci_values_files())):
        for kube in kube_versions:
            rendered = render_chart(values=values, kube_version=kube)
            done = kubeconform(rendered, kube_version=kube)
            assert done.returncode == 0, done.stdout + done.stderr
            count = len(load_manifests(rendered))
            assert f"Valid: {count}, Invalid: 0, Errors: 0, Skipped: 0" in done.stdout


def test_a_privileged_override_is_flagged(kube_versions: list[str]) -> None:
    rendered = render_chart(
        set_json={
            "securityContext": {
                "privileged": True,
                "allowPrivilegeEscalation": True,
                "readOnlyRootFilesystem": False,
                "runAsNonRoot": False,
                "capabilities": {"add": ["SYS_ADMIN"]},
            },
            "podSecurityContext": {"runAsNonRoot": False, "runAsUser": 0},
        },
        kube_version=kube_versions[-1],
    )
    docs = load_manifests(rendered)
    problems = pod_security_violations(docs)
    names = [f"{d['kind']}/{d['metadata']['name']}" for d in pod_templates(docs)]
    assert len(names) == 7
    for name in names:
        mine = [p for p in problems if p.startswith(f"{name}:")]
        for expected in (
            "privileged",
            "allowPrivilegeEscalation is not false",
            "readOnlyRootFilesystem is not true",
            "capabilities add SYS_ADMIN",
            "runAsNonRoot is not true",
            "pod runAsUser is 0",
        ):
            assert any(p.endswith(expected) for p in mine), (name, expected, mine)
    # kubeconform takes it (the fields are valid), which is why the pod check exists.
    assert kubeconform(rendered, kube_version=kube_versions[-1]).returncode == 0


def test_kubeconform_flags_an_invalid_field(kube_versions: list[str]) -> None:
    kube = kube_versions[-1]
    rendered = render_chart(
        set_json={"securityContext": {"runAsNonRoot": True, "notAField": True}},
        kube_version=kube,
    )
    done = kubeconform(rendered, kube_version=kube)
    assert done.returncode != 0
    assert "additional properties 'notAField' not allowed" in done.stdout
    assert "Invalid: 7" in done.stdout  # every pod template: 5 Deployments, 2 Jobs

    docs = load_manifests(render_chart(kube_version=kube))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    deployment["spec"]["replicas"] = "two"
    done = kubeconform(yaml.safe_dump(deployment), kube_version=kube)
    assert done.returncode != 0
    assert "/spec/replicas" in done.stdout


def _good_deployment(docs: list[Manifest]) -> Manifest:
    return copy.deepcopy(next(d for d in docs if d["kind"] == "Deployment"))


def _pod(doc: Manifest) -> Manifest:
    pod: Manifest = doc["spec"]["template"]["spec"]
    return pod


def _sc(doc: Manifest) -> Manifest:
    sc: Manifest = _pod(doc)["containers"][0]["securityContext"]
    return sc


BREAKAGES: dict[str, tuple[Callable[[Manifest], object], str]] = {
    "hostNetwork": (lambda d: _pod(d).update(hostNetwork=True), "hostNetwork is true"),
    "hostPID": (lambda d: _pod(d).update(hostPID=True), "hostPID is true"),
    "hostIPC": (lambda d: _pod(d).update(hostIPC=True), "hostIPC is true"),
    "hostPath": (
        lambda d: _pod(d)["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
        "volume h: hostPath",
    ),
    "privileged": (lambda d: _sc(d).update(privileged=True), "privileged"),
    "escalation unset": (
        lambda d: _sc(d).pop("allowPrivilegeEscalation"),
        "allowPrivilegeEscalation is not false",
    ),
    "root": (
        lambda d: (_sc(d).pop("runAsNonRoot"), _pod(d)["securityContext"].pop("runAsNonRoot")),
        "runAsNonRoot is not true",
    ),
    "uid 0": (lambda d: _sc(d).update(runAsUser=0), "runAsUser is 0"),
    "no drop": (lambda d: _sc(d).update(capabilities={}), "capabilities do not drop ALL"),
    "added capability": (
        lambda d: _sc(d)["capabilities"].update(add=["NET_RAW"]),
        "capabilities add NET_RAW",
    ),
    "seccomp unconfined": (
        lambda d: _sc(d).update(seccompProfile={"type": "Unconfined"}),
        "seccompProfile is Unconfined (RuntimeDefault or Localhost required)",
    ),
    "seccomp unset": (
        lambda d: (_sc(d).pop("seccompProfile"), _pod(d)["securityContext"].pop("seccompProfile")),
        "seccompProfile is unset (RuntimeDefault or Localhost required)",
    ),
    "writable root": (
        lambda d: _sc(d).update(readOnlyRootFilesystem=False),
        "readOnlyRootFilesystem is not true",
    ),
    "hostPort": (
        lambda d: _pod(d)["containers"][0]["ports"][0].update(hostPort=80),
        "hostPort 80",
    ),
    "unsafe sysctl": (
        lambda d: _pod(d)["securityContext"].update(
            sysctls=[{"name": "kernel.msgmax", "value": "1"}]
        ),
        "unsafe sysctl kernel.msgmax",
    ),
    "privileged init container": (
        lambda d: _pod(d).update(
            initContainers=[{"name": "init", "image": "x", "securityContext": {"privileged": True}}]
        ),
        "initContainer init: privileged",
    ),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_pod_security_check_flags_each_breakage(
    breakage: str, default_docs: list[Manifest]
) -> None:
    doc = _good_deployment(default_docs)
    assert pod_security_violations([doc]) == []
    mutate, expected = BREAKAGES[breakage]
    mutate(doc)
    problems = pod_security_violations([doc])
    assert any(p.endswith(f": {expected}") for p in problems), problems


def test_pod_security_check_allows_net_bind_service_and_localhost_seccomp(
    default_docs: list[Manifest],
) -> None:
    doc = _good_deployment(default_docs)
    _sc(doc)["capabilities"]["add"] = ["NET_BIND_SERVICE"]
    _sc(doc)["seccompProfile"] = {"type": "Localhost", "localhostProfile": "baton.json"}
    assert pod_security_violations([doc]) == []


def test_pod_security_check_covers_cronjobs_and_pods(default_docs: list[Manifest]) -> None:
    job = copy.deepcopy(next(d for d in default_docs if d["kind"] == "Job"))
    _sc(job)["privileged"] = True
    cron = {
        "kind": "CronJob",
        "metadata": {"name": "c"},
        "spec": {"jobTemplate": {"spec": job["spec"]}},
    }
    pod = {"kind": "Pod", "metadata": {"name": "p"}, "spec": job["spec"]["template"]["spec"]}
    assert pod_security_violations([cron]) == ["CronJob/c: container topics: privileged"]
    assert pod_security_violations([pod]) == ["Pod/p: container topics: privileged"]


# --- values.schema.json -------------------------------------------------------------------


def test_values_schema_holds_the_default_values() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text("utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    for path in (CHART / "values.yaml", *ci_values_files()):
        values = yaml.safe_load(path.read_text("utf-8"))
        if path.parent.name == "ci":  # an override file: merged onto the defaults by helm
            merged = yaml.safe_load((CHART / "values.yaml").read_text("utf-8"))
            _deep_merge(merged, values)
            values = merged
        jsonschema.Draft7Validator(schema).validate(values)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> None:
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"services.hub.port": 70000}, "maximum"),
        ({"config.logLevel": "LOUD"}, "/config/logLevel"),
        ({"secret.pgDsn": "mysql://x"}, "pattern"),
        ({"notAValue": True}, "notAValue"),
        ({"config.replication": 0}, "/config/replication"),
        ({"config.pgSchema": "Acme-Prod"}, "/config/pgSchema"),
        ({"config.pgSchema": "pg_catalog"}, "/config/pgSchema"),
        ({"config.retention": {"ledger": "soon"}}, "/config/retention/ledger"),
        ({"config.retention": {"forever": "1d"}}, "forever"),
        ({"services.hub.staticMembership": "yes"}, "/services/hub/staticMembership"),
    ],
)
def test_helm_rejects_values_the_schema_forbids(
    override: dict[str, Any], message: str, helm: Path, kube_versions: list[str]
) -> None:
    with pytest.raises(RuntimeError, match=message):
        render_chart(set_json=override, kube_version=kube_versions[-1])


# --- docker-compose.yml and the Dockerfile ------------------------------------------------


@pytest.fixture
def compose_doc() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text("utf-8"))
    return doc


def test_compose_file_is_valid() -> None:
    assert compose_problems(REPO / "docker-compose.yml") == []


def test_compose_services_stop_in_time_and_have_their_own_instance_ids(
    compose_doc: dict[str, Any],
) -> None:
    """Each service stops within its stop_grace_period; instance ids are one per replica;
    the topics job picks the replication from the broker it finds."""
    ids = []
    for name in BATON_SERVICES:
        service = compose_doc["services"][name]
        settings = BatonSettings.from_env(service["environment"])
        grace = float(service["stop_grace_period"].removesuffix("s"))
        assert settings.stop_grace < grace, name
        ids.append(settings.instance_id)
    assert None not in ids
    assert len(set(ids)) == len(ids), ids
    assert "BATON_REPLICATION" not in compose_doc["services"]["topics"]["environment"]


def test_compose_services_wait_for_their_dependencies(compose_doc: dict[str, Any]) -> None:
    services = compose_doc["services"]
    for name, port in BATON_SERVICES.items():
        service = services[name]
        assert service["depends_on"]["topics"]["condition"] == "service_completed_successfully"
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert service["depends_on"]["kafka"]["condition"] == "service_healthy"
        assert f"http://127.0.0.1:{port}/health" in " ".join(service["healthcheck"]["test"])
        assert service["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"].startswith(
            "http://otel-collector:"
        )
    assert services["otel-collector"]["image"].startswith("otel/opentelemetry-collector-contrib:")
    assert services["jaeger"]["image"].startswith("jaegertracing/")
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["postgres"]["image"].startswith("postgres:")


COMPOSE_BREAKAGES: dict[str, tuple[Callable[[dict[str, Any]], object], str]] = {
    "unknown dependency": (
        lambda d: d["services"]["hub"]["depends_on"].update(brokr={"condition": "service_started"}),
        "hub: depends_on brokr, which is not defined",
    ),
    "missing service": (
        lambda d: d["services"].pop("recovery"),
        "service recovery is missing",
    ),
    "schema": (
        lambda d: d["services"]["hub"].update(restart=5),
        "schema: services.hub.restart",
    ),
    "unknown key": (
        lambda d: d["services"]["status"].update(helthcheck={}),
        "schema: services.status",
    ),
    "healthcheck port": (
        lambda d: d["services"]["status"]["healthcheck"].update(
            test=[
                "CMD",
                "python",
                "-c",
                "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9999/health')",
            ]
        ),
        "status: healthcheck must GET :8083/health",
    ),
    "cycle": (
        lambda d: d["services"]["kafka"].update(
            depends_on={"hub": {"condition": "service_started"}}
        ),
        "depends_on cycle",
    ),
    "waits on a service without healthcheck": (
        lambda d: d["services"]["postgres"].pop("healthcheck"),
        "waits for postgres to be healthy; it has no healthcheck",
    ),
    "migration not awaited": (
        lambda d: d["services"]["monitor"]["depends_on"].pop("migrate"),
        "monitor: depends_on migrate must be service_completed_successfully",
    ),
    "listens on loopback": (
        lambda d: d["services"]["resource"]["environment"].update(BATON_HTTP_HOST="127.0.0.1"),
        "resource: BATON_HTTP_HOST must be 0.0.0.0",
    ),
}


@pytest.mark.parametrize("breakage", sorted(COMPOSE_BREAKAGES))
def test_compose_check_flags_each_breakage(breakage: str, compose_doc: dict[str, Any]) -> None:
    mutate, expected = COMPOSE_BREAKAGES[breakage]
    mutate(compose_doc)
    problems = compose_doc_problems(compose_doc, base=REPO)
    assert any(expected in p for p in problems), problems


def test_collector_config_exports_traces_to_jaeger(compose_doc: dict[str, Any]) -> None:
    mount = compose_doc["services"]["otel-collector"]["volumes"][0]
    config = yaml.safe_load((REPO / mount.split(":")[0]).read_text("utf-8"))
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    assert config["exporters"]["otlp/jaeger"]["endpoint"].startswith("jaeger:")
    assert "otlp/jaeger" in config["service"]["pipelines"]["traces"]["exporters"]


def test_dockerfile_is_multi_stage_and_runs_as_non_root() -> None:
    text = (REPO / "Dockerfile").read_text("utf-8")
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", text, flags=re.MULTILINE)
    assert stages == ["build", "runtime"]
    runtime = text.split("AS runtime", 1)[1]
    assert re.search(r"^ARG BATON_UID=10001$", runtime, flags=re.MULTILINE)
    assert re.search(r"^USER \$\{BATON_UID\}:\$\{BATON_UID\}$", runtime, flags=re.MULTILINE)
    assert re.search(r'^ENTRYPOINT \["baton"\]$', runtime, flags=re.MULTILINE)
    assert "uv sync --frozen --no-dev" in text
    ignore = (REPO / ".dockerignore").read_text("utf-8").split()
    assert ignore[ignore.index("*") :][:1] == ["*"]  # allow-list: nothing but what is named
    for needed in ("!pyproject.toml", "!uv.lock", "!README.md", "!shared", "!services"):
        assert needed in ignore
