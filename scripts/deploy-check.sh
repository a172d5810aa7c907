#!/usr/bin/env bash
# Validates the deployment files without a cluster, a Docker daemon or GitHub:
#   helm/baton          helm lint (plain and --strict); helm template with the default values
#                       and with each helm/baton/ci/*-values.yaml, for each Kubernetes version
#                       below, validated by kubeconform -strict against Kubernetes' JSON
#                       schemas (and the Prometheus Operator's for a ServiceMonitor: none is
#                       skipped) and checked for Pod Security "restricted" on every pod template
#   docker-compose.yml  the Compose Specification's JSON schema and Baton's own rules (all
#                       services present, every depends_on target defined, health checks)
#
# Tools come from scripts/deploy-tools.sh (installed on first use, then reused from
# ${BATON_HOME:-$HOME/.cache/baton}/tools). kubeconform's default schema location is on
# GitHub; the schemas used here come from the PyPI package kubernetes-validate instead, and
# the compose schema from the Go module compose-go (see scripts/deploy-tools.sh).
# Non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBE_VERSIONS="${BATON_KUBE_VERSIONS:-1.29.0 1.34.0}"
export BATON_KUBE_VERSIONS="$KUBE_VERSIONS"
scripts/deploy-tools.sh

TOOLS="${BATON_HOME:-$HOME/.cache/baton}/tools"
HELM="$TOOLS/bin/helm"
KUBECONFORM="$TOOLS/bin/kubeconform"
SCHEMA_LOCATION="$TOOLS/kubernetes-json-schema/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json"
CRD_SCHEMA_LOCATION="$TOOLS/crd-json-schema/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"
# helm's own cache, config and data stay out of the user's home.
export HELM_CACHE_HOME="$TOOLS/helm-home/cache" HELM_CONFIG_HOME="$TOOLS/helm-home/config" \
  HELM_DATA_HOME="$TOOLS/helm-home/data"
CHART=helm/baton
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

echo "== deploy: helm lint $CHART"
newest="${KUBE_VERSIONS##* }"
"$HELM" lint "$CHART" --kube-version "$newest" --quiet
values_files=("")
for f in "$CHART"/ci/*-values.yaml; do
  [ -e "$f" ] && values_files+=("$f")
done
for values in "${values_files[@]}"; do
  "$HELM" lint "$CHART" --strict --kube-version "$newest" --quiet ${values:+--values "$values"}
done

for values in "${values_files[@]}"; do
  label="${values:-default values}"
  for kube in $KUBE_VERSIONS; do
    echo "== deploy: helm template ($label, Kubernetes $kube): kubeconform -strict, pod security"
    rendered="$OUT/rendered.yaml"
    "$HELM" template baton "$CHART" --namespace baton --kube-version "$kube" \
      ${values:+--values "$values"} >"$rendered"
    "$KUBECONFORM" -strict -summary -kubernetes-version "$kube" \
      -schema-location "$SCHEMA_LOCATION" -schema-location "$CRD_SCHEMA_LOCATION" "$rendered"
    .venv/bin/python -m tests.deploy.checks pod-security "$rendered"
  done
done

echo "== deploy: docker-compose.yml"
.venv/bin/python -m tests.deploy.checks compose docker-compose.yml
# The docker CLI's own parser too, where the compose plugin is installed (it needs no daemon).
if docker compose version >/dev/null 2>&1; then
  docker compose --file docker-compose.yml config --quiet
  echo "docker compose config: valid"
fi
echo "== deploy: ok"
