#!/usr/bin/env bash
# Install (or upgrade) the QMTL stack: the project's main job.
#
# Usage: scripts/up.sh [dev|prod] [--local] [--release NAME] [--namespace NS] [--helm helm3|helm4]
#                      [-- HELM_ARGS...]
#   dev|prod          the profile: values/dev.yaml (default) or values/prod.yaml
#   --local           use the local control plane even when the current kube context answers
#   --release NAME    Helm release name (default: qmtl)
#   --namespace NS    namespace (default: qmtl); created if missing, labelled Pod Security "restricted"
#   --helm NAME       which Helm to use (default: helm3; both are installed by scripts/setup.sh)
#   HELM_ARGS         passed to `helm upgrade --install`, e.g. -f values/s3.yaml, --set ..., --timeout 20m
#
# Where it installs: the current kube context (KUBECONFIG or ~/.kube/config) when its API answers;
# otherwise the local cluster (scripts/local-cluster.sh: a control plane and a real node running
# containers with containerd, plus kwok fake nodes, all inside a network namespace of its own; started
# if it is not running). Images reach the local node only by import (scripts/local-cluster.sh import
# ARCHIVE.tar). QMTL publishes no images: set global.qmtlImage (and seamless-coordinator.image) to
# images you built.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

PROFILE=dev
LOCAL=0
RELEASE=qmtl
NAMESPACE=qmtl
HELM_NAME=helm3
HELM_ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    dev|prod) PROFILE="$1"; shift ;;
    --local) LOCAL=1; shift ;;
    --release) RELEASE="${2:?--release needs a name}"; shift 2 ;;
    --namespace) NAMESPACE="${2:?--namespace needs a name}"; shift 2 ;;
    --helm)
      [[ ${2:-} == helm3 || ${2:-} == helm4 ]] || die "--helm takes helm3 or helm4"
      HELM_NAME="$2"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    --) shift; HELM_ARGS+=("$@"); break ;;
    *) die "unknown argument $1 (see $0 --help)" ;;
  esac
done

cd "${QMTL_ROOT}"
# Helm, kubectl and the venv first: a cluster of your own needs nothing more (no local-cluster builds)
"${QMTL_ROOT}/scripts/setup.sh" --no-cluster --no-engines --no-scanners >/dev/null
HELM="${TOOLS_BIN}/${HELM_NAME}"
KUBECTL="${TOOLS_BIN}/kubectl"

api_answers() { "${KUBECTL}" version --request-timeout=5s >/dev/null 2>&1; }

if [[ ${LOCAL} == 0 ]] && api_answers; then
  log "installing on the current kube context: $("${KUBECTL}" config current-context 2>/dev/null || echo "${KUBECONFIG:-}")"
else
  if ! "${QMTL_ROOT}/scripts/local-cluster.sh" status >/dev/null 2>&1; then
    log "no reachable cluster: setting up and starting the local cluster with its real node (scripts/local-cluster.sh start)"
    "${QMTL_ROOT}/scripts/setup.sh" --no-engines --no-scanners >/dev/null
    "${QMTL_ROOT}/scripts/local-cluster.sh" start
  fi
  KUBECONFIG="$("${QMTL_ROOT}/scripts/local-cluster.sh" kubeconfig)"
  export KUBECONFIG
  log "installing on the local cluster (KUBECONFIG=${KUBECONFIG}; stop it with scripts/local-cluster.sh stop)"
fi

"${KUBECTL}" create namespace "${NAMESPACE}" --dry-run=client -o yaml | "${KUBECTL}" apply -f - >/dev/null
"${KUBECTL}" label namespace "${NAMESPACE}" --overwrite \
  pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/warn=restricted >/dev/null

log "helm upgrade --install ${RELEASE} . -n ${NAMESPACE} -f values/${PROFILE}.yaml --wait ${HELM_ARGS[*]}"
"${HELM}" upgrade --install "${RELEASE}" "${QMTL_ROOT}" --namespace "${NAMESPACE}" \
  -f "${QMTL_ROOT}/values/${PROFILE}.yaml" --wait --wait-for-jobs --timeout 15m "${HELM_ARGS[@]}"

"${KUBECTL}" get pods,pvc -n "${NAMESPACE}"
cat <<EOT

Installed release ${RELEASE} (profile ${PROFILE}) in namespace ${NAMESPACE}.
  helm test ${RELEASE} -n ${NAMESPACE}        # the chart's own checks (they really run on a real cluster)
  helm uninstall ${RELEASE} -n ${NAMESPACE}   # PVCs and data Secrets are kept unless you delete them
EOT
