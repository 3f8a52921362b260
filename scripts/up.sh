#!/usr/bin/env bash
# Install (or upgrade) the QMTL stack: the project's main job.
#
# Usage: scripts/up.sh [dev|prod] [--local] [--build-images] [--release NAME] [--namespace NS]
#                      [--helm helm3|helm4] [-- HELM_ARGS...]
#   dev|prod          the profile: values/dev.yaml (default) or values/prod.yaml
#   --local           use the local cluster even when the current kube context answers
#   --build-images    build this repository's images (scripts/images.sh) even on a cluster of your own (then
#                     push them yourself: scripts/images.sh build --push REGISTRY); on the local cluster they
#                     are built and loaded whenever the node lacks them
#   --release NAME    Helm release name (default: qmtl)
#   --namespace NS    namespace (default: qmtl); created if missing, labelled Pod Security "restricted"
#   --helm NAME       which Helm to use (default: helm3; both are installed by scripts/setup.sh)
#   HELM_ARGS         passed to `helm upgrade --install`, e.g. -f values/s3.yaml, --set ..., --timeout 20m
#
# Where it installs: the current kube context (KUBECONFIG or ~/.kube/config) when its API answers; it then
# sets up only Helm and kubectl (no local cluster, no image builds unless --build-images). QMTL publishes no
# images: set global.qmtlImage (and seamless-coordinator.image) to images your cluster can pull.
#
# Otherwise the local cluster (scripts/local-cluster.sh: a control plane and a REAL node running containers,
# all inside a network namespace of its own; set up and started when it is not running). Nothing can be
# pulled there: this repository's images are built and loaded onto the node when it lacks them
# (scripts/images.sh build --load), and before installing, every image the release needs must be on the
# node (the prod profile's bundled dependencies are not: import them, scripts/local-cluster.sh import, or
# point the dependencies at managed services). prod there also gets values/small-node.yaml (prod's requests
# do not fit a small node).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

PROFILE=dev
LOCAL=0
BUILD_IMAGES=0
RELEASE=qmtl
NAMESPACE=qmtl
HELM_NAME=helm3
HELM_ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    dev|prod) PROFILE="$1"; shift ;;
    --local) LOCAL=1; shift ;;
    --build-images) BUILD_IMAGES=1; shift ;;
    --release) RELEASE="${2:?--release needs a name}"; shift 2 ;;
    --namespace) NAMESPACE="${2:?--namespace needs a name}"; shift 2 ;;
    --helm)
      [[ ${2:-} == helm3 || ${2:-} == helm4 ]] || die "--helm takes helm3 or helm4"
      HELM_NAME="$2"; shift 2 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    --) shift; HELM_ARGS+=("$@"); break ;;
    *) die "unknown argument $1 (see $0 --help)" ;;
  esac
done

cd "${QMTL_ROOT}"
T0="$(now_s)"
# Helm and kubectl first: a cluster of your own needs nothing more (no local-cluster builds, no images)
"${QMTL_ROOT}/scripts/setup.sh" --only-helm "${HELM_NAME}" >/dev/null
HELM="${TOOLS_BIN}/${HELM_NAME}"
KUBECTL="${TOOLS_BIN}/kubectl"
LOCAL_CLUSTER="${QMTL_ROOT}/scripts/local-cluster.sh"
VALUES=(-f "${QMTL_ROOT}/values/${PROFILE}.yaml")

api_answers() { "${KUBECTL}" version --request-timeout=5s >/dev/null 2>&1; }

# images the release's pods use: every `image:` of the render
release_images() {
  "${HELM}" template "${RELEASE}" "${QMTL_ROOT}" --namespace "${NAMESPACE}" "${VALUES[@]}" "${HELM_ARGS[@]}" \
    | sed -n 's/^[[:space:]]*image:[[:space:]]*"\{0,1\}\([^"[:space:]]*\)"\{0,1\}[[:space:]]*$/\1/p' | sort -u
}

# the local node's images; containerd names docker.io images in full
node_has() { # IMAGE
  local have; have="$("${LOCAL_CLUSTER}" ctr images ls -q)"
  grep -qxF "$1" <<<"${have}" || grep -qxF "docker.io/library/$1" <<<"${have}" || grep -qxF "docker.io/$1" <<<"${have}"
}

if [[ ${LOCAL} == 0 ]] && api_answers; then
  log "installing on the current kube context: $("${KUBECTL}" config current-context 2>/dev/null || echo "${KUBECONFIG:-}")"
  ON_LOCAL=0
  if [[ ${BUILD_IMAGES} == 1 ]]; then
    "${QMTL_ROOT}/scripts/images.sh" build
    log "built; push them where your cluster pulls from: scripts/images.sh build --push REGISTRY, and set global.qmtlImage.repository / seamless-coordinator.image.repository"
  fi
else
  ON_LOCAL=1
  if ! "${LOCAL_CLUSTER}" status >/dev/null 2>&1 || [[ "$("${LOCAL_CLUSTER}" info | sed -n 's/^MODE=//p')" != node ]]; then
    log "no reachable cluster: setting up and starting the local cluster with its real node (scripts/local-cluster.sh start)"
    "${QMTL_ROOT}/scripts/setup.sh" --no-engines --no-scanners --no-test-venv >/dev/null
    "${LOCAL_CLUSTER}" start
  fi
  KUBECONFIG="$("${LOCAL_CLUSTER}" kubeconfig)"
  export KUBECONFIG
  log "installing on the local cluster (KUBECONFIG=${KUBECONFIG}; stop it with scripts/local-cluster.sh stop)"
  if [[ ${PROFILE} == prod ]]; then
    VALUES+=(-f "${QMTL_ROOT}/values/small-node.yaml")
    log "prod on the local cluster's small node: adding values/small-node.yaml (prod's requests do not fit it)"
  fi
  # this repository's images, built and loaded when the node lacks them (or when asked)
  build=()
  for name in $("${QMTL_ROOT}/scripts/images.sh" list-names); do
    ref="$("${QMTL_ROOT}/scripts/images.sh" list "${name}")"
    if [[ ${BUILD_IMAGES} == 1 ]] || ! node_has "${ref}"; then build+=("${name}"); fi
  done
  if [[ ${#build[@]} -gt 0 ]]; then
    log "building and loading ${build[*]} onto the node (scripts/images.sh build --load ${build[*]})"
    "${QMTL_ROOT}/scripts/images.sh" build --load "${build[@]}"
  fi
  missing=()
  for image in $(release_images); do node_has "${image}" || missing+=("${image}"); done
  if [[ ${#missing[@]} -gt 0 ]]; then
    die "the local node cannot pull images and lacks: ${missing[*]}. Import them (podman save --format docker-archive -o X.tar IMAGE; scripts/local-cluster.sh import X.tar), or run those dependencies as managed services (global.<dep>.enabled: false + external; see values/*.yaml). Nothing was installed."
  fi
fi

"${KUBECTL}" create namespace "${NAMESPACE}" --dry-run=client -o yaml | "${KUBECTL}" apply -f - >/dev/null
"${KUBECTL}" label namespace "${NAMESPACE}" --overwrite \
  pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/warn=restricted >/dev/null

log "helm upgrade --install ${RELEASE} . -n ${NAMESPACE} ${VALUES[*]#"${QMTL_ROOT}/"} --wait ${HELM_ARGS[*]}"
"${HELM}" upgrade --install "${RELEASE}" "${QMTL_ROOT}" --namespace "${NAMESPACE}" \
  "${VALUES[@]}" --wait --wait-for-jobs --timeout 15m "${HELM_ARGS[@]}"

"${KUBECTL}" get pods,pvc -n "${NAMESPACE}"
PORT="$("${KUBECTL}" get service gateway -n "${NAMESPACE}" -o jsonpath='{.spec.ports[0].port}' 2>/dev/null || true)"
echo
echo "Installed release ${RELEASE} (profile ${PROFILE}) in namespace ${NAMESPACE} in $(elapsed "${T0}") s."
[[ ${ON_LOCAL} == 0 ]] || echo "  export KUBECONFIG=${KUBECONFIG}"
if [[ -n ${PORT} ]]; then
  cat <<EOT
Reach the gateway:
  kubectl -n ${NAMESPACE} port-forward svc/gateway ${PORT}:${PORT} &
  curl -s http://127.0.0.1:${PORT}/status
EOT
fi
cat <<EOT
  helm test ${RELEASE} -n ${NAMESPACE}        # the chart's own checks, run in the namespace
  helm uninstall ${RELEASE} -n ${NAMESPACE}   # PVCs and data Secrets are kept unless you delete them
EOT
