#!/usr/bin/env bash
# A kind cluster for the smoke tests where a Docker engine exists (containers really run there).
#
# Usage: scripts/kind-cluster.sh [--check] [--name NAME] [--delete] [IMAGE...]
#   --check    only tell whether the kind path can run here (exit 0) or not (exit 3)
#   --name     cluster name (default: qmtl)
#   --delete   delete the cluster and exit
#   IMAGE...   local Docker images to load into the nodes (kind load docker-image)
# Prints the kubeconfig's path on stdout:  export KUBECONFIG="$(scripts/kind-cluster.sh)"
# Exit status 3: no usable Docker engine here, so callers can skip the kind path.
#
# CNI: kind's default, kindnet, which enforces NetworkPolicy since kind v0.24.0 (kubernetes-sigs/kind
# PR #3612: kube-network-policies runs inside kindnetd), so the chart's default-deny policies bite.
# kind is built from sigs.k8s.io/kind at the pin in pyproject.toml [tool.qmtl-stack.cluster].kind;
# the node image is that kind release's default unless QMTL_KIND_NODE_IMAGE is set.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

NAME=qmtl
CHECK=0
DELETE=0
IMAGES=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --check) CHECK=1; shift ;;
    --delete) DELETE=1; shift ;;
    --name) [[ -n ${2:-} ]] || { echo "--name takes a value" >&2; exit 2; }; NAME="$2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "usage: $0 [--check] [--name NAME] [--delete] [IMAGE...]" >&2; exit 2 ;;
    *) IMAGES+=("$1"); shift ;;
  esac
done

if ! command -v docker >/dev/null 2>&1; then
  log "no docker client on PATH: the kind path needs a Docker engine; skipping (exit 3)"
  exit 3
fi
if ! timeout 30 docker info >/dev/null 2>&1; then
  log "the docker client cannot reach a Docker engine ('docker info' fails): the kind path needs one; skipping (exit 3)"
  exit 3
fi
if [[ ${CHECK} == 1 ]]; then log "Docker engine available: the kind path can run"; exit 0; fi

"${QMTL_ROOT}/scripts/cluster/build.sh" kind >&2
KIND="${TOOLS_BIN}/kind"
KUBECONFIG_FILE="${TOOLS}/kind/${NAME}.kubeconfig"
mkdir -p "${TOOLS}/kind"

if [[ ${DELETE} == 1 ]]; then
  "${KIND}" delete cluster --name "${NAME}" >&2
  rm -f "${KUBECONFIG_FILE}"
  exit 0
fi

clusters="$("${KIND}" get clusters 2>/dev/null || true)"
if grep -qx "${NAME}" <<<"${clusters}"; then
  log "kind cluster ${NAME} exists; reusing it"
else
  config="${TOOLS}/kind/${NAME}.yaml"
  cat >"${config}" <<'EOF'
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  # keep kindnet (default CNI): it enforces NetworkPolicy since kind v0.24.0
  disableDefaultCNI: false
nodes:
- role: control-plane
- role: worker
  labels: {topology.kubernetes.io/zone: zone-a}
- role: worker
  labels: {topology.kubernetes.io/zone: zone-b}
- role: worker
  labels: {topology.kubernetes.io/zone: zone-c}
EOF
  image_args=()
  [[ -z ${QMTL_KIND_NODE_IMAGE:-} ]] || image_args=(--image "${QMTL_KIND_NODE_IMAGE}")
  "${KIND}" create cluster --name "${NAME}" --config "${config}" "${image_args[@]}" --wait 180s >&2
fi

"${KIND}" get kubeconfig --name "${NAME}" >"${KUBECONFIG_FILE}"
chmod 600 "${KUBECONFIG_FILE}"

for img in "${IMAGES[@]}"; do
  log "loading image ${img}"
  "${KIND}" load docker-image "${img}" --name "${NAME}" >&2
done

# kindnet must be there: it is what enforces the NetworkPolicies
kubectl_bin="${TOOLS_BIN}/kubectl"
[[ -x ${kubectl_bin} ]] || kubectl_bin="$(command -v kubectl || true)"
if [[ -n ${kubectl_bin} ]]; then
  "${kubectl_bin}" --kubeconfig "${KUBECONFIG_FILE}" -n kube-system rollout status daemonset/kindnet --timeout=120s >&2 \
    || die "daemonset kube-system/kindnet is not ready: NetworkPolicies would not be enforced"
fi
echo "${KUBECONFIG_FILE}"
