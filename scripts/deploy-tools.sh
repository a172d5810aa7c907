#!/usr/bin/env bash
# Installs the tools that scripts/deploy-check.sh and tests/deploy use, into a cache that
# later runs reuse: ${BATON_HOME:-$HOME/.cache/baton}/tools.
#
#   bin/helm, bin/kubeconform   built with `go install` from the Go module proxy at the
#                               pinned versions below (a binary of another version is
#                               rebuilt; the first build takes a few minutes, later runs
#                               reuse it).
#   kubernetes-json-schema/     Kubernetes JSON schemas for kubeconform. kubeconform's
#                               default schema location is on GitHub; these come instead
#                               from the PyPI package kubernetes-validate (a dev dependency
#                               pinned in uv.lock, so already in .venv). Its "local-strict"
#                               schemas are rewritten so that their references to the
#                               shared definitions resolve from files (see below), in the
#                               layout kubeconform's -schema-location template expects:
#                               v<version>-standalone-strict/<kind>-<group>-<version>.json.
#   compose-spec.json           the Compose Specification's JSON schema, as the Go module
#                               github.com/compose-spec/compose-go/v2 (the library docker
#                               compose itself loads files with) embeds it, fetched with
#                               `go mod download` from the Go module proxy.
#   crd-json-schema/            JSON schemas of the custom resources the chart can render
#                               (the Prometheus Operator's ServiceMonitor), made from the
#                               CustomResourceDefinition the Go module
#                               github.com/prometheus-operator/prometheus-operator ships
#                               (fetched the same way), in the layout
#                               <group>/<kind>_<version>.json, strict like the others.
#
# Needs Go (1.26+, as the pinned helm requires) and .venv (scripts/bootstrap.sh).
# Prints nothing on success when everything was already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0
COMPOSE_GO_VERSION=v2.16.2
PROMETHEUS_OPERATOR_VERSION=v0.85.0
# Kubernetes versions the chart is validated against (the oldest it supports and a recent
# one); each must be a version kubernetes-validate ships schemas for.
KUBE_VERSIONS="${BATON_KUBE_VERSIONS:-1.29.0 1.34.0}"

TOOLS="${BATON_HOME:-$HOME/.cache/baton}/tools"
BIN="$TOOLS/bin"
SCHEMAS="$TOOLS/kubernetes-json-schema"
mkdir -p "$BIN" "$SCHEMAS"

log() { echo "deploy-tools: $*" >&2; }

# Go's usual install location, when it is not on PATH already.
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="$PATH:/usr/local/go/bin"
fi

# The module version a go-installed binary was built from ("" when it is missing or was not
# built by `go install`).
built_version() {
  [ -x "$1" ] || return 0
  go version -m "$1" 2>/dev/null | awk -v mod="$2" '$1 == "mod" && $2 == mod { print $3 }'
}

go_install() { # binary module package version
  local have
  have="$(built_version "$BIN/$1" "$2")"
  if [ "$have" = "$4" ]; then
    return 0
  fi
  log "installing $1 $4 (go install $3@$4${have:+, replacing $have})"
  local started=$SECONDS
  GOBIN="$BIN" GOFLAGS="-buildvcs=false -trimpath" CGO_ENABLED=0 go install "$3@$4"
  log "$1 $4 installed in $((SECONDS - started)) s"
}

if ! command -v go >/dev/null 2>&1; then
  log "Go 1.26+ is needed to build helm and kubeconform and to fetch the compose schema"
  exit 1
fi
go_install helm helm.sh/helm/v3 helm.sh/helm/v3/cmd/helm "$HELM_VERSION"
go_install kubeconform github.com/yannh/kubeconform \
  github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"

# The source directory of a Go module version (module version), from the Go module proxy.
module_dir() {
  (cd "$TOOLS" && GOFLAGS=-mod=mod go mod download -json "$1@$2" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
}

# The Compose Specification's schema from compose-go's module source.
compose_stamp="compose-go $COMPOSE_GO_VERSION"
if [ ! -f "$TOOLS/compose-spec.json" ] \
  || [ "$(cat "$TOOLS/compose-spec.json.source" 2>/dev/null)" != "$compose_stamp" ]; then
  log "fetching the Compose Specification schema (compose-go $COMPOSE_GO_VERSION)"
  dir="$(module_dir github.com/compose-spec/compose-go/v2 "$COMPOSE_GO_VERSION")"
  if [ -z "$dir" ] || [ ! -f "$dir/schema/compose-spec.json" ]; then
    log "compose-go $COMPOSE_GO_VERSION has no schema/compose-spec.json"
    exit 1
  fi
  cp "$dir/schema/compose-spec.json" "$TOOLS/compose-spec.json.tmp"
  mv "$TOOLS/compose-spec.json.tmp" "$TOOLS/compose-spec.json"
  echo "$compose_stamp" >"$TOOLS/compose-spec.json.source"
fi

if [ ! -x .venv/bin/python ]; then
  log ".venv is missing: run scripts/bootstrap.sh first"
  exit 1
fi

# The ServiceMonitor's schema from the Prometheus Operator's CustomResourceDefinition.
CRD_SCHEMAS="$TOOLS/crd-json-schema"
crd_stamp="prometheus-operator $PROMETHEUS_OPERATOR_VERSION"
if [ "$(cat "$CRD_SCHEMAS/.source" 2>/dev/null)" != "$crd_stamp" ]; then
  log "preparing the ServiceMonitor schema (prometheus-operator $PROMETHEUS_OPERATOR_VERSION)"
  dir="$(module_dir github.com/prometheus-operator/prometheus-operator \
    "$PROMETHEUS_OPERATOR_VERSION")"
  crd="$dir/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"
  if [ -z "$dir" ] || [ ! -f "$crd" ]; then
    log "prometheus-operator $PROMETHEUS_OPERATOR_VERSION has no ServiceMonitor CRD"
    exit 1
  fi
  CRD="$crd" CRD_SCHEMAS="$CRD_SCHEMAS" STAMP="$crd_stamp" .venv/bin/python - <<'PY'
"""Writes a CustomResourceDefinition's schemas in kubeconform's -strict form.

Each served version's openAPIV3Schema becomes <group>/<kind>_<version>.json. As for the
Kubernetes schemas kubeconform -strict uses, an object schema that lists its properties
allows no others, except where the CRD keeps unknown fields.
"""

import json
import os
import pathlib
import shutil
import tempfile

import yaml


def strict(node: object) -> object:
    if isinstance(node, dict):
        out = {key: strict(value) for key, value in node.items()}
        keeps_unknown = node.get("x-kubernetes-preserve-unknown-fields") is True
        if "properties" in node and "additionalProperties" not in node and not keeps_unknown:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [strict(item) for item in node]
    return node


dest = pathlib.Path(os.environ["CRD_SCHEMAS"])
dest.parent.mkdir(parents=True, exist_ok=True)
tmp = pathlib.Path(tempfile.mkdtemp(prefix=".tmp.", dir=dest.parent))
crd = yaml.safe_load(pathlib.Path(os.environ["CRD"]).read_text("utf-8"))
group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"].lower()
for version in crd["spec"]["versions"]:
    if not version.get("served"):
        continue
    schema = strict(version["schema"]["openAPIV3Schema"])
    (tmp / group).mkdir(exist_ok=True)
    (tmp / group / f"{kind}_{version['name']}.json").write_text(json.dumps(schema), "utf-8")
(tmp / ".source").write_text(os.environ["STAMP"] + "\n")
shutil.rmtree(dest, ignore_errors=True)
tmp.rename(dest)
PY
fi

# Kubernetes JSON schemas from the kubernetes-validate package in .venv.
SCHEMAS="$SCHEMAS" KUBE_VERSIONS="$KUBE_VERSIONS" .venv/bin/python - <<'PY'
"""Copies kubernetes-validate's local-strict schemas into kubeconform's layout.

Each schema names itself with an "$id" under https://kubernetes.io/api/ and refers to the
shared definitions as "/api/_definitions.json", resolved against that "$id". kubeconform
loads them from files, so the copies drop the "$id"s and refer to "_definitions.json"
beside them.
"""

import importlib.metadata
import json
import os
import pathlib
import shutil
import sys
import tempfile

import kubernetes_validate

version = importlib.metadata.version("kubernetes-validate")
source = pathlib.Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
schemas = pathlib.Path(os.environ["SCHEMAS"])
stamp = f"kubernetes-validate {version}\n"


def rewrite(node: object) -> object:
    if isinstance(node, dict):
        return {
            key: (
                value.replace("/api/_definitions.json#", "_definitions.json#", 1)
                if key == "$ref" and isinstance(value, str)
                else rewrite(value)
            )
            for key, value in node.items()
            if key != "$id"
        }
    if isinstance(node, list):
        return [rewrite(item) for item in node]
    return node


for kube in os.environ["KUBE_VERSIONS"].split():
    dest = schemas / f"v{kube}-standalone-strict"
    marker = dest / ".source"
    if marker.is_file() and marker.read_text() == stamp:
        continue
    src = source / f"v{kube}-local-strict"
    if not src.is_dir():
        sys.exit(f"deploy-tools: kubernetes-validate {version} has no schemas for Kubernetes {kube}")
    print(
        f"deploy-tools: preparing Kubernetes {kube} schemas from kubernetes-validate {version}",
        file=sys.stderr,
    )
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=".tmp.", dir=schemas))
    for path in src.glob("*.json"):
        if path.name == "all.json":
            continue
        schema = rewrite(json.loads(path.read_text("utf-8")))
        (tmp / path.name).write_text(json.dumps(schema), "utf-8")
    (tmp / ".source").write_text(stamp)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
PY
