"""Checks of the deployment files, shared by tests/deploy and scripts/deploy-check.sh.

- ``pod_security_violations``: Pod Security Standards "restricted" (plus a read-only root
  filesystem, which Baton's pods keep) for every pod template in rendered manifests.
- ``compose_problems``: docker-compose.yml against the Compose Specification's JSON
  schema (the one the Go module compose-go embeds; scripts/deploy-tools.sh fetches it), and
  Baton's own rules: every service present, every ``depends_on`` target defined, health
  checks on the services' ports.
- ``render_chart`` / ``kubeconform``: run the tools scripts/deploy-tools.sh installs.
- ``by_kind``, ``single_container``, ``env_sources``, ``resolved_env``: read rendered
  manifests; ``resolved_env`` is the environment a container would start with.

Command line (what scripts/deploy-check.sh runs)::

    python -m tests.deploy.checks pod-security rendered.yaml...
    python -m tests.deploy.checks compose docker-compose.yml
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import yaml

__all__ = [
    "BATON_SERVICES",
    "CHART",
    "REPO",
    "TOOLS_HINT",
    "by_kind",
    "ci_values_files",
    "compose_doc_problems",
    "compose_problems",
    "compose_schema",
    "env_sources",
    "helm_binary",
    "kube_schema_versions",
    "kubeconform",
    "load_manifests",
    "pod_security_violations",
    "pod_templates",
    "render_chart",
    "resolved_env",
    "single_container",
    "tools_dir",
]

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "baton"
TOOLS_HINT = "run scripts/deploy-tools.sh (scripts/test.sh does, through scripts/deploy-check.sh)"
"""What to do when helm, kubeconform or the schemas are missing."""

BATON_SERVICES: dict[str, int] = {
    "hub": 8081,
    "resource": 8082,
    "status": 8083,
    "monitor": 8084,
    "recovery": 8085,
}
"""The five services and their default HTTP ports."""

Manifest = dict[str, Any]

# Pod Security Standards:
# https://kubernetes.io/docs/concepts/security/pod-security-standards/
_POD_KINDS = {
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
}
_RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
_SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
_SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
_SECCOMP_ALLOWED = {"RuntimeDefault", "Localhost"}


# --- tools ------------------------------------------------------------------------------


def tools_dir() -> Path:
    """Where scripts/deploy-tools.sh installs helm, kubeconform and Kubernetes schemas.

    The user's ``BATON_HOME``: inside the test suite, whose own stack has a home of its own,
    the user's is kept in ``BATON_TEST_USER_HOME`` (tests/stack.py).
    """
    env = os.environ
    home = env.get("BATON_TEST_USER_HOME", env.get("BATON_HOME")) or str(
        Path.home() / ".cache" / "baton"
    )
    return Path(home) / "tools"


def helm_binary() -> Path:
    return tools_dir() / "bin" / "helm"


def kube_schema_versions() -> list[str]:
    """Kubernetes versions whose kubeconform schemas scripts/deploy-tools.sh prepared."""
    root = tools_dir() / "kubernetes-json-schema"
    suffix = "-standalone-strict"
    found = [
        d.name[1 : -len(suffix)]
        for d in root.glob(f"v*{suffix}")
        if (d / "_definitions.json").is_file()
    ]
    return sorted(found, key=lambda v: tuple(int(p) for p in v.split(".")))


def _run(
    args: Sequence[str | Path], *, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    helm_home = tools_dir() / "helm-home"
    # Keep helm's own cache, config and data out of the user's home.
    env.setdefault("HELM_CACHE_HOME", str(helm_home / "cache"))
    env.setdefault("HELM_CONFIG_HOME", str(helm_home / "config"))
    env.setdefault("HELM_DATA_HOME", str(helm_home / "data"))
    return subprocess.run(
        [str(a) for a in args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=300,
    )


def render_chart(
    *,
    values: Iterable[Path] = (),
    set_json: Mapping[str, Any] | None = None,
    kube_version: str | None = None,
    release: str = "baton",
    namespace: str = "baton",
) -> str:
    """``helm template`` of helm/baton (hooks included) as YAML text; raises on failure."""
    args: list[str | Path] = [helm_binary(), "template", release, CHART, "--namespace", namespace]
    for path in values:
        args += ["--values", path]
    for key, value in (set_json or {}).items():
        args += ["--set-json", f"{key}={json.dumps(value)}"]
    if kube_version:
        args += ["--kube-version", kube_version]
    done = _run(args)
    if done.returncode != 0:
        raise RuntimeError(f"helm template failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def kubeconform(manifests: str, *, kube_version: str) -> subprocess.CompletedProcess[str]:
    """kubeconform -strict over ``manifests`` against the prepared local schemas: Kubernetes'
    own, then the custom resources' (the ServiceMonitor)."""
    schemas = tools_dir() / "kubernetes-json-schema"
    location = (
        f"{schemas}/{{{{ .NormalizedKubernetesVersion }}}}-standalone{{{{ .StrictSuffix }}}}"
        "/{{ .ResourceKind }}{{ .KindSuffix }}.json"
    )
    crd_location = (
        f"{tools_dir() / 'crd-json-schema'}"
        "/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"
    )
    return _run(
        [
            tools_dir() / "bin" / "kubeconform",
            "-strict",
            "-summary",
            "-kubernetes-version",
            kube_version,
            "-schema-location",
            location,
            "-schema-location",
            crd_location,
            "-",
        ],
        stdin=manifests,
    )


def load_manifests(text: str) -> list[Manifest]:
    """The non-empty YAML documents of ``text``."""
    return [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict)]


def ci_values_files() -> list[Path]:
    """The chart's alternative configurations (helm/baton/ci/*-values.yaml) that
    scripts/deploy-check.sh renders and validates besides the defaults."""
    return sorted((CHART / "ci").glob("*-values.yaml"))


def by_kind(docs: Iterable[Manifest], kind: str) -> dict[str, Manifest]:
    """The documents of one kind, by name."""
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def single_container(doc: Manifest) -> Manifest:
    """The one container of a Deployment's or Job's pod template."""
    containers: list[Manifest] = doc["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_sources(container: Manifest) -> dict[str, Any]:
    """A container's ``env``: name → its value, or where the value comes from (valueFrom)."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def resolved_env(
    doc: Manifest,
    *,
    config_maps: Mapping[str, Mapping[str, str]],
    secrets: Mapping[str, Mapping[str, str]],
    pod_name: str,
) -> dict[str, str]:
    """The environment the container of ``doc`` starts with, as the kubelet builds it:
    ``envFrom`` ConfigMaps, then ``env`` (which wins), with Secret keys looked up in
    ``secrets`` (Secret → key → value) and ``metadata.name`` as ``pod_name``.

    Raises:
        KeyError: a ConfigMap is missing, or a key a non-optional reference names (the pod
            would not start).
    """
    container = single_container(doc)
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]])
    for entry in container.get("env", []):
        name = entry["name"]
        if "value" in entry:
            env[name] = entry["value"]
            continue
        source = entry["valueFrom"]
        if "fieldRef" in source:
            assert source["fieldRef"]["fieldPath"] == "metadata.name", entry
            env[name] = pod_name
            continue
        ref = source["secretKeyRef"]
        data = secrets.get(ref["name"], {})
        if ref["key"] in data:
            env[name] = data[ref["key"]]
        elif not ref.get("optional"):
            raise KeyError(f"{name}: Secret {ref['name']} has no key {ref['key']}")
    return env


# --- Pod Security "restricted" ------------------------------------------------------------


def _pod_spec(doc: Manifest) -> Mapping[str, Any] | None:
    kind = doc.get("kind")
    spec = doc.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind in _POD_KINDS:
        return ((spec.get("template") or {}).get("spec")) or {}
    if kind == "CronJob":
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        return ((job.get("template") or {}).get("spec")) or {}
    return None


def _containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            yield f"{field[:-1]} {container.get('name', '?')}", container


def _effective(container_sc: Mapping[str, Any], pod_sc: Mapping[str, Any], key: str) -> Any:
    return container_sc[key] if container_sc.get(key) is not None else pod_sc.get(key)


def _seccomp_type(sc: Mapping[str, Any]) -> str | None:
    profile = sc.get("seccompProfile") or {}
    value = profile.get("type")
    return value if isinstance(value, str) else None


def _pod_level_violations(spec: Mapping[str, Any], pod_sc: Mapping[str, Any]) -> Iterator[str]:
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            yield f"{field} is true"
    for volume in spec.get("volumes") or []:
        kinds = [k for k in volume if k != "name"]
        for kind in kinds:
            if kind == "hostPath":
                yield f"volume {volume.get('name')}: hostPath"
            elif kind not in _RESTRICTED_VOLUME_TYPES:
                yield f"volume {volume.get('name')}: type {kind} not allowed"
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl.get("name") not in _SAFE_SYSCTLS:
            yield f"unsafe sysctl {sysctl.get('name')}"
    if pod_sc.get("runAsUser") == 0:
        yield "pod runAsUser is 0"
    pod_seccomp = _seccomp_type(pod_sc)
    if pod_seccomp is not None and pod_seccomp not in _SECCOMP_ALLOWED:
        yield f"pod seccompProfile {pod_seccomp}"
    if ((pod_sc.get("appArmorProfile") or {}).get("type")) == "Unconfined":
        yield "pod appArmorProfile Unconfined"
    if ((pod_sc.get("windowsOptions") or {}).get("hostProcess")) is True:
        yield "pod windowsOptions.hostProcess"
    selinux = pod_sc.get("seLinuxOptions") or {}
    if selinux.get("type", "") not in _SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
        yield "pod seLinuxOptions not allowed"


def _container_violations(container: Mapping[str, Any], pod_sc: Mapping[str, Any]) -> Iterator[str]:
    sc: Mapping[str, Any] = container.get("securityContext") or {}
    if sc.get("privileged") is True:
        yield "privileged"
    if sc.get("allowPrivilegeEscalation") is not False:
        yield "allowPrivilegeEscalation is not false"
    if _effective(sc, pod_sc, "runAsNonRoot") is not True:
        yield "runAsNonRoot is not true"
    if sc.get("runAsUser") == 0:
        yield "runAsUser is 0"
    capabilities = sc.get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []):
        yield "capabilities do not drop ALL"
    added = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
    if added:
        yield f"capabilities add {', '.join(sorted(added))}"
    seccomp = _seccomp_type(sc) or _seccomp_type(pod_sc)
    if seccomp not in _SECCOMP_ALLOWED:
        yield f"seccompProfile is {seccomp or 'unset'} (RuntimeDefault or Localhost required)"
    if sc.get("readOnlyRootFilesystem") is not True:
        yield "readOnlyRootFilesystem is not true"
    if sc.get("procMount", "Default") != "Default":
        yield f"procMount {sc.get('procMount')}"
    if ((sc.get("appArmorProfile") or {}).get("type")) == "Unconfined":
        yield "appArmorProfile Unconfined"
    if ((sc.get("windowsOptions") or {}).get("hostProcess")) is True:
        yield "windowsOptions.hostProcess"
    selinux = sc.get("seLinuxOptions") or {}
    if selinux.get("type", "") not in _SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
        yield "seLinuxOptions not allowed"
    for port in container.get("ports") or []:
        if port.get("hostPort"):
            yield f"hostPort {port.get('hostPort')}"


def pod_security_violations(docs: Iterable[Manifest]) -> list[str]:
    """Every way the pod templates in ``docs`` break Pod Security "restricted"."""
    found: list[str] = []
    for doc in docs:
        spec = _pod_spec(doc)
        if spec is None:
            continue
        where = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name', '?')}"
        pod_sc: Mapping[str, Any] = spec.get("securityContext") or {}
        found += [f"{where}: {v}" for v in _pod_level_violations(spec, pod_sc)]
        containers = list(_containers(spec))
        if not containers:
            found.append(f"{where}: no containers")
        for label, container in containers:
            found += [f"{where}: {label}: {v}" for v in _container_violations(container, pod_sc)]
    return found


def pod_templates(docs: Iterable[Manifest]) -> list[Manifest]:
    """The documents of ``docs`` that hold a pod template (or are Pods)."""
    return [doc for doc in docs if _pod_spec(doc) is not None]


# --- docker-compose.yml -------------------------------------------------------------------

_BATON_ONE_SHOTS = {"topics": ["topics", "create"], "migrate": ["db", "migrate"]}
_REQUIRED = {"kafka", "postgres", "otel-collector", "jaeger", *_BATON_ONE_SHOTS, *BATON_SERVICES}
_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


def compose_schema() -> dict[str, Any]:
    """The Compose Specification's JSON schema that scripts/deploy-tools.sh fetched."""
    schema: dict[str, Any] = json.loads((tools_dir() / "compose-spec.json").read_text("utf-8"))
    return schema


def _depends_on(service: Mapping[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state and (found := visit(node)):
            return found
    return None


def _env(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _baton_service_problems(name: str, service: Mapping[str, Any]) -> Iterator[str]:
    port = BATON_SERVICES[name]
    if service.get("command") != ["serve", name]:
        yield f"{name}: command is {service.get('command')!r}, not ['serve', '{name}']"
    env = _env(service)
    if env.get("BATON_HTTP_HOST") != "0.0.0.0":
        yield f"{name}: BATON_HTTP_HOST must be 0.0.0.0 in a container"
    if env.get("BATON_HTTP_PORT", str(port)) != str(port):
        yield f"{name}: BATON_HTTP_PORT {env.get('BATON_HTTP_PORT')} is not {port}"
    for var in ("BATON_KAFKA_BOOTSTRAP", "BATON_PG_DSN"):
        if not env.get(var):
            yield f"{name}: {var} is not set"
    test = (service.get("healthcheck") or {}).get("test") or []
    text = " ".join(test) if isinstance(test, list) else str(test)
    if f":{port}/health" not in text or "urllib" not in text:
        yield f"{name}: healthcheck must GET :{port}/health with python's urllib"
    deps = _depends_on(service)
    for dep, condition in {
        "kafka": "service_healthy",
        "postgres": "service_healthy",
        "topics": "service_completed_successfully",
        "migrate": "service_completed_successfully",
    }.items():
        if deps.get(dep) != condition:
            yield f"{name}: depends_on {dep} must be {condition}"
    if service.get("read_only") is not True:
        yield f"{name}: root filesystem not read_only"
    if "ALL" not in (service.get("cap_drop") or []):
        yield f"{name}: cap_drop does not hold ALL"


def compose_problems(path: Path) -> list[str]:
    """What is wrong with the compose file at ``path`` (empty when nothing)."""
    try:
        doc = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        return [f"cannot read {path}: {exc}"]
    return compose_doc_problems(doc, base=path.parent)


def compose_doc_problems(doc: object, *, base: Path) -> list[str]:
    """What is wrong with a loaded compose file whose relative paths start at ``base``."""
    if not isinstance(doc, dict):
        return ["not a mapping"]
    schema = compose_schema()
    validator_cls = jsonschema.validators.validator_for(schema)
    problems = [
        f"schema: {'.'.join(str(p) for p in err.absolute_path) or '(top)'}: {err.message}"
        for err in sorted(validator_cls(schema).iter_errors(doc), key=lambda e: list(e.path))
    ]
    services: Mapping[str, Any] = doc.get("services") or {}
    if not isinstance(services, dict):
        return [*problems, "services is not a mapping"]
    problems += [f"service {name} is missing" for name in sorted(_REQUIRED - set(services))]
    graph: dict[str, list[str]] = {}
    for name, service in services.items():
        deps = _depends_on(service or {})
        graph[name] = list(deps)
        for dep, condition in deps.items():
            if dep not in services:
                problems.append(f"{name}: depends_on {dep}, which is not defined")
            if condition not in _CONDITIONS:
                problems.append(f"{name}: depends_on {dep} with unknown condition {condition}")
            target = services.get(dep) or {}
            if condition == "service_healthy" and not target.get("healthcheck"):
                problems.append(f"{name}: waits for {dep} to be healthy; it has no healthcheck")
        for volume in (service or {}).get("volumes") or []:
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source")
            local = isinstance(source, str) and source.startswith((".", "/"))
            if local and not (base / str(source)).exists():
                problems.append(f"{name}: mounts {source}, which does not exist")
    if cycle := _cycle(graph):
        problems.append(f"depends_on cycle: {' -> '.join(cycle)}")
    for name, command in _BATON_ONE_SHOTS.items():
        service = services.get(name) or {}
        if name in services and service.get("command") != command:
            problems.append(f"{name}: command is {service.get('command')!r}, not {command!r}")
        if name in services and service.get("restart", "no") != "no":
            problems.append(f"{name}: a one-shot job must not restart")
    for name in BATON_SERVICES:
        if name in services:
            problems += _baton_service_problems(name, services[name] or {})
    return problems


# --- command line -------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.deploy.checks", description=__doc__)
    sub = parser.add_subparsers(dest="check", required=True)
    pods = sub.add_parser("pod-security", help="Pod Security 'restricted' of rendered manifests")
    pods.add_argument("files", nargs="+", type=Path)
    compose = sub.add_parser("compose", help="docker-compose.yml: schema and Baton's rules")
    compose.add_argument("file", type=Path)
    args = parser.parse_args(argv)

    if args.check == "pod-security":
        docs = [doc for f in args.files for doc in load_manifests(f.read_text("utf-8"))]
        templates = pod_templates(docs)
        problems = pod_security_violations(docs)
        if not templates:
            problems.append("no pod templates found")
        ok = f"{len(templates)} pod templates meet Pod Security 'restricted'"
    else:
        problems = compose_problems(args.file)
        ok = f"{args.file}: valid (Compose Specification schema and Baton's rules)"
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(ok)
    return 0


if __name__ == "__main__":
    sys.exit(main())
