"""The chart's secured install (helm/baton/ci/secured-values.yaml): Kafka over SASL_SSL with
the brokers' CA mounted, a SASL principal per service, message signing, credentials from
existing Secrets; the hook Jobs start with the same settings as the services; preStop,
Ingress and ServiceMonitor.

Every environment is resolved as the kubelet would (ConfigMap, Secret keys, the pod's name)
and given to :meth:`BatonSettings.from_env`, which the processes run at start: what it
accepts here, a pod accepts.
"""

from __future__ import annotations

import base64
import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from baton.config import BatonSettings
from baton.errors import ConfigError
from tests.deploy.checks import (
    BATON_SERVICES,
    CHART,
    by_kind,
    env_sources,
    kubeconform,
    load_manifests,
    render_chart,
    resolved_env,
    single_container,
)

Manifest = dict[str, Any]

SECURED = CHART / "ci" / "secured-values.yaml"
KEY = "k" * 32
# What the operator put in the Secrets secured-values.yaml names.
SIGNING_KEYS = ",".join(f"{name}:{KEY}" for name in ("ops", *BATON_SERVICES))
SHARED = {
    "BATON_PG_DSN": "postgresql://baton_app:pw@postgresql:5432/baton",
    "BATON_KAFKA_SASL_USERNAME": "baton-shared",
    "BATON_KAFKA_SASL_PASSWORD": "shared-password",
    "BATON_SIGNING_KEYS": SIGNING_KEYS,
}
OWN_PRINCIPALS = ("hub", "resource", "status", "monitor")  # recovery keeps the shared one
SECRETS: dict[str, dict[str, str]] = {
    "baton-credentials": SHARED,
    "baton-kafka-admin": {
        "BATON_KAFKA_SASL_USERNAME": "admin",
        "BATON_KAFKA_SASL_PASSWORD": "admin-password",
    },
    **{
        f"baton-kafka-{name}": {
            "BATON_KAFKA_SASL_USERNAME": name,
            "BATON_KAFKA_SASL_PASSWORD": f"{name}-password",
        }
        for name in OWN_PRINCIPALS
    },
}
SECRETS_BY_USER = {
    data["BATON_KAFKA_SASL_USERNAME"]: data["BATON_KAFKA_SASL_PASSWORD"]
    for data in SECRETS.values()
}
# Set per process, not shared: a service's port, trace name, stop grace and instance id,
# and its HTTP tokens file (the Jobs serve no HTTP).
PER_PROCESS = {
    "BATON_HTTP_PORT",
    "OTEL_SERVICE_NAME",
    "BATON_STOP_GRACE",
    "BATON_INSTANCE_ID",
    "BATON_HTTP_TOKENS_FILE",
}
CREDENTIALS = {"BATON_KAFKA_SASL_USERNAME", "BATON_KAFKA_SASL_PASSWORD"}

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def secured_docs(helm: Path, kube_versions: list[str]) -> list[Manifest]:
    return load_manifests(render_chart(values=[SECURED], kube_version=kube_versions[-1]))


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kafka-ca") / "ca.crt"
    path.write_text("-----BEGIN CERTIFICATE-----\n", "utf-8")
    return path


def _pods(docs: list[Manifest]) -> dict[str, Manifest]:
    return {**by_kind(docs, "Deployment"), **by_kind(docs, "Job")}


def _config_maps(docs: list[Manifest]) -> dict[str, dict[str, str]]:
    return {name: doc["data"] for name, doc in by_kind(docs, "ConfigMap").items()}


def _secret_data(docs: list[Manifest]) -> dict[str, dict[str, str]]:
    return {
        name: {key: base64.b64decode(value).decode() for key, value in doc["data"].items()}
        for name, doc in by_kind(docs, "Secret").items()
    }


def _settings(
    doc: Manifest, docs: list[Manifest], secrets: dict[str, dict[str, str]], ca_file: Path
) -> BatonSettings:
    """The settings the pod's process starts with; the CA file the pod would have mounted
    at BATON_KAFKA_CA_FILE is ``ca_file`` here."""
    env = resolved_env(
        doc,
        config_maps=_config_maps(docs),
        secrets=secrets,
        pod_name=f"{doc['metadata']['name']}-5d4f8b7c9-x2x4q",
    )
    if "BATON_KAFKA_CA_FILE" in env:
        env["BATON_KAFKA_CA_FILE"] = str(ca_file)
    return BatonSettings.from_env(env)


def test_jobs_start_with_the_services_settings_and_secrets(secured_docs: list[Manifest]) -> None:
    """Apart from what is per process and the SASL principal, a hook Job's environment is a
    service's: configuration, DSN, signing keys — from the same Secret keys."""
    config = _config_maps(secured_docs)
    recovery = by_kind(secured_docs, "Deployment")["baton-recovery"]  # the shared principal
    service = {**config["baton"], **env_sources(single_container(recovery))}
    service = {k: v for k, v in service.items() if k not in PER_PROCESS | CREDENTIALS}
    jobs = by_kind(secured_docs, "Job")
    assert set(jobs) == {"baton-topics", "baton-migrate"}
    for name, job in jobs.items():
        container = single_container(job)
        assert "envFrom" not in container  # the hooks run before the ConfigMap exists
        env = env_sources(container)
        assert {k: v for k, v in env.items() if k not in PER_PROCESS | CREDENTIALS} == {
            **service,
            # The Jobs sign as config.extraEnv says; recovery has its own key id (env).
            "BATON_SIGNING_KEY_ID": "ops",
        }, name
        for variable in CREDENTIALS:  # jobs.kafkaSasl: the admin principal
            ref = {"name": "baton-kafka-admin", "key": variable}
            assert env[variable] == {"secretKeyRef": ref}, name
    assert service["BATON_PG_DSN"] == {
        "secretKeyRef": {"name": "baton-credentials", "key": "BATON_PG_DSN"}
    }
    assert service["BATON_SIGNING_KEYS"] == {
        "secretKeyRef": {"name": "baton-credentials", "key": "BATON_SIGNING_KEYS", "optional": True}
    }


def test_every_pod_of_the_secured_install_starts(
    secured_docs: list[Manifest], ca_file: Path
) -> None:
    """Each service as its own principal (recovery as the shared one), the Jobs as the admin,
    all over SASL_SSL with the mounted CA, signing with their own key."""
    pods = _pods(secured_docs)
    assert len(pods) == len(BATON_SERVICES) + 2
    for name, doc in pods.items():
        settings = _settings(doc, secured_docs, SECRETS, ca_file)
        security = settings.kafka_security
        assert (security.protocol, security.mechanism) == ("SASL_SSL", "SCRAM-SHA-512"), name
        assert security.ca_file == ca_file, name
        component = name.removeprefix("baton-")
        expected = {
            "topics": "admin",
            "migrate": "admin",
            "recovery": "baton-shared",
        }.get(component, component)
        assert security.username == expected, name
        assert security.password is not None
        assert security.password.get_secret_value() == SECRETS_BY_USER[expected], name
        assert settings.dsn == SHARED["BATON_PG_DSN"], name
        policy = settings.signing_policy
        assert policy is not None, name
        assert policy.key_id == ("ops" if component in ("topics", "migrate") else component)


def test_a_missing_secret_key_would_stop_the_pod_not_start_it_unsecured(
    secured_docs: list[Manifest], ca_file: Path
) -> None:
    """The shared keys are optional in an existing Secret; without them the services'
    settings fail at start, naming the variable, rather than run without them."""
    hub = by_kind(secured_docs, "Deployment")["baton-hub"]
    recovery = by_kind(secured_docs, "Deployment")["baton-recovery"]
    bare = {**SECRETS, "baton-credentials": {"BATON_PG_DSN": SHARED["BATON_PG_DSN"]}}
    with pytest.raises(ConfigError, match="BATON_KAFKA_SASL_USERNAME"):
        _settings(recovery, secured_docs, bare, ca_file)
    with pytest.raises(ConfigError, match="BATON_SIGNING_KEYS"):
        _settings(hub, secured_docs, bare, ca_file)
    with pytest.raises(KeyError, match="baton-kafka-hub"):  # its own Secret is not optional
        _settings(hub, secured_docs, {"baton-credentials": SHARED}, ca_file)


def test_the_ca_is_mounted_read_only_where_baton_kafka_ca_file_points(
    secured_docs: list[Manifest],
) -> None:
    ca_path = _config_maps(secured_docs)["baton"]["BATON_KAFKA_CA_FILE"]
    assert ca_path == "/etc/baton/kafka-ca/ca.crt"
    for name, doc in _pods(secured_docs).items():
        pod = doc["spec"]["template"]["spec"]
        volume = next(v for v in pod["volumes"] if v["name"] == "kafka-ca")
        assert volume["secret"] == {
            "secretName": "kafka-cluster-ca",
            "items": [{"key": "ca.crt", "path": "ca.crt"}],
        }, name
        mounts = single_container(doc)["volumeMounts"]
        mount = next(m for m in mounts if m["name"] == "kafka-ca")
        assert mount == {
            "name": "kafka-ca",
            "mountPath": os.path.dirname(ca_path),
            "readOnly": True,
        }
        if doc["kind"] == "Job":
            assert env_sources(single_container(doc))["BATON_KAFKA_CA_FILE"] == ca_path


def test_instance_id_from_the_pod_name_and_a_prestop_sleep_within_the_grace(
    secured_docs: list[Manifest],
) -> None:
    for name, doc in by_kind(secured_docs, "Deployment").items():
        pod = doc["spec"]["template"]["spec"]
        container = single_container(doc)
        env = env_sources(container)
        assert env["BATON_INSTANCE_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}, name
        assert container["lifecycle"] == {"preStop": {"exec": {"command": ["sleep", "10"]}}}
        # 45 s grace: 10 s of preStop sleep, then the service stops within 30 s of SIGTERM.
        assert (pod["terminationGracePeriodSeconds"], env["BATON_STOP_GRACE"]) == (45, "30")


def test_ingress_routes_to_the_services_http_ports(secured_docs: list[Manifest]) -> None:
    services = by_kind(secured_docs, "Service")
    ingress = by_kind(secured_docs, "Ingress")["baton"]["spec"]
    assert ingress["ingressClassName"] == "nginx"
    assert ingress["tls"][0]["secretName"] == "baton-example-com-tls"
    routes = {
        (rule["host"], path["path"]): path["backend"]["service"]
        for rule in ingress["rules"]
        for path in rule["http"]["paths"]
    }
    assert routes == {
        ("baton.example.com", "/"): {"name": "baton-status", "port": {"name": "http"}},
        ("monitor.baton.example.com", "/"): {"name": "baton-monitor", "port": {"name": "http"}},
    }
    for backend in routes.values():
        ports = services[backend["name"]]["spec"]["ports"]
        assert [p["name"] for p in ports] == ["http"]


def test_service_monitor_scrapes_every_service(secured_docs: list[Manifest]) -> None:
    monitor = by_kind(secured_docs, "ServiceMonitor")["baton"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    spec = monitor["spec"]
    assert spec["endpoints"] == [
        {
            "port": "http",
            "path": "/metrics",
            "scheme": "http",
            "interval": "15s",
            "scrapeTimeout": "10s",
            # /metrics wants a token of role metrics (httpAuth).
            "authorization": {
                "type": "Bearer",
                "credentials": {"name": "baton-metrics-token", "key": "token"},
            },
        }
    ]
    assert spec["namespaceSelector"] == {"matchNames": ["baton"]}
    selected = {
        name
        for name, service in by_kind(secured_docs, "Service").items()
        if spec["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
        and any(p["name"] == "http" for p in service["spec"]["ports"])
    }
    assert selected == {f"baton-{name}" for name in BATON_SERVICES}


def test_kubeconform_checks_the_service_monitor_against_its_schema(
    secured_docs: list[Manifest], kube_versions: list[str]
) -> None:
    monitor = copy.deepcopy(by_kind(secured_docs, "ServiceMonitor")["baton"])
    done = kubeconform(yaml.safe_dump(monitor), kube_version=kube_versions[-1])
    assert "Valid: 1, Invalid: 0, Errors: 0, Skipped: 0" in done.stdout, done.stdout
    monitor["spec"]["endpoints"][0]["scrapeEvery"] = "15s"
    done = kubeconform(yaml.safe_dump(monitor), kube_version=kube_versions[-1])
    assert done.returncode != 0
    assert "scrapeEvery" in done.stdout


def test_the_charts_own_secret_holds_every_credential(
    helm: Path, kube_versions: list[str], ca_file: Path
) -> None:
    """Without existingSecret: the shared principal, signing keys and a service's own
    principal given as values go into the chart's Secret and its hook copy."""
    docs = load_manifests(
        render_chart(
            set_json={
                "config.kafkaSecurityProtocol": "SASL_SSL",
                "config.kafkaCa": {"configMapName": "kafka-ca", "key": "ca.pem"},
                "secret.kafkaSaslUsername": "baton-shared",
                "secret.kafkaSaslPassword": "shared-password",
                "secret.signingKeys": f"ops:{KEY}",
                "services.hub.kafkaSasl": {"username": "hub", "password": "hub-password"},
                "jobs.kafkaSasl": {"username": "admin", "password": "admin-password"},
            },
            kube_version=kube_versions[-1],
        )
    )
    secrets = _secret_data(docs)
    assert secrets["baton"] == secrets["baton-hooks"]
    assert secrets["baton"] == {
        "BATON_PG_DSN": "postgresql://baton:change-me@postgresql:5432/baton",
        "BATON_KAFKA_SASL_USERNAME": "baton-shared",
        "BATON_KAFKA_SASL_PASSWORD": "shared-password",
        "BATON_SIGNING_KEYS": f"ops:{KEY}",
        "hub-kafka-sasl-username": "hub",
        "hub-kafka-sasl-password": "hub-password",
        "jobs-kafka-sasl-username": "admin",
        "jobs-kafka-sasl-password": "admin-password",
        "http-tokens": "\n",  # httpAuth on, no token given yet: only the probes answer
    }
    users = {}
    for name, doc in _pods(docs).items():
        volume = next(
            v for v in doc["spec"]["template"]["spec"]["volumes"] if v["name"] == "kafka-ca"
        )
        assert volume["configMap"] == {
            "name": "kafka-ca",
            "items": [{"key": "ca.pem", "path": "ca.crt"}],
        }
        settings = _settings(doc, docs, secrets, ca_file)
        users[name] = settings.kafka_security.username
        assert settings.signing_policy is not None
    assert users == {
        **{f"baton-{name}": "baton-shared" for name in BATON_SERVICES},
        "baton-hub": "hub",
        "baton-topics": "admin",
        "baton-migrate": "admin",
    }
    hub_env = env_sources(single_container(by_kind(docs, "Deployment")["baton-hub"]))
    assert hub_env["BATON_KAFKA_SASL_PASSWORD"] == {
        "secretKeyRef": {"name": "baton", "key": "hub-kafka-sasl-password"}
    }


def test_an_existing_secret_delivers_every_key_the_chart_knows(
    helm: Path, kube_versions: list[str]
) -> None:
    docs = load_manifests(
        render_chart(
            set_json={
                "secret.existingSecret": "creds",
                "secret.extraEnv": {"OTEL_EXPORTER_OTLP_HEADERS": ""},
            },
            kube_version=kube_versions[-1],
        )
    )
    assert by_kind(docs, "Secret") == {}
    for name, doc in _pods(docs).items():
        refs = {
            variable: source["secretKeyRef"]
            for variable, source in env_sources(single_container(doc)).items()
            if isinstance(source, dict) and "secretKeyRef" in source
        }
        optional = {"name": "creds", "optional": True}
        assert refs == {
            "BATON_PG_DSN": {"name": "creds", "key": "BATON_PG_DSN"},
            "BATON_KAFKA_SASL_USERNAME": {**optional, "key": "BATON_KAFKA_SASL_USERNAME"},
            "BATON_KAFKA_SASL_PASSWORD": {**optional, "key": "BATON_KAFKA_SASL_PASSWORD"},
            "BATON_SIGNING_KEYS": {**optional, "key": "BATON_SIGNING_KEYS"},
            "OTEL_EXPORTER_OTLP_HEADERS": {**optional, "key": "OTEL_EXPORTER_OTLP_HEADERS"},
        }, name


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {
                "secret.existingSecret": "creds",
                "services.hub.kafkaSasl": {"username": "h", "password": "p"},
            },
            "services.hub.kafkaSasl.username and .password are kept in the chart's own Secret",
        ),
        (
            {"jobs.kafkaSasl": {"username": "admin"}},
            "jobs.kafkaSasl: set both username and password",
        ),
        (
            {"config.kafkaCa": {"secretName": "a", "configMapName": "b", "key": "ca.crt"}},
            "secretName or configMapName, not both",
        ),
        (
            {"services.hub.preStopSleepSeconds": 30},
            r"preStopSleepSeconds \(30\) must be under terminationGracePeriodSeconds \(30\)",
        ),
        (
            {"ingress.enabled": True, "services.status.enabled": False},
            "goes to the status service, which is not enabled",
        ),
        ({"config.kafkaSecurityProtocol": "TLS"}, "/config/kafkaSecurityProtocol"),
        ({"services.hub.kafkaSasl": {"user": "h"}}, "user"),
        ({"serviceDefaults.port": 9000}, "/serviceDefaults/port"),
        (
            {"ingress.hosts": [{"paths": [{"path": "/", "pathType": "Prefix", "service": "db"}]}]},
            "/ingress/hosts/0/paths/0/service",
        ),
        ({"serviceMonitor.interval": "soon"}, "/serviceMonitor/interval"),
        ({"jobs.env": {"not a name": "x"}}, "not a name"),
        (
            {"secret.existingSecret": "creds", "httpAuth.tokens": [f"read:{'0' * 64}"]},
            "httpAuth.tokens are kept in the chart's own Secret",
        ),
        (
            {"serviceMonitor.enabled": True},
            "serviceMonitor.bearerTokenSecret.name: with httpAuth.enabled",
        ),
        ({"httpAuth.tokens": ["read:not-a-hash"]}, "/httpAuth/tokens/0"),
        ({"httpAuth.tokens": ["admin:" + "0" * 64]}, "/httpAuth/tokens/0"),
    ],
)
def test_settings_the_chart_cannot_honour_fail_the_render(
    override: dict[str, Any], message: str, helm: Path, kube_versions: list[str]
) -> None:
    with pytest.raises(RuntimeError, match=message):
        render_chart(set_json=override, kube_version=kube_versions[-1])
