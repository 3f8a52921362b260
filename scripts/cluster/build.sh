#!/usr/bin/env bash
# Build the local control plane's binaries from their Go modules at the pins in pyproject.toml
# [tool.qmtl-stack.cluster], into .tools/bin/. A second run with the same pins is a no-op (stamps).
#
# Usage: scripts/cluster/build.sh [kube|etcd|kwok|kind]...   (default: kube etcd kwok)
#   kube: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (wrapper module kube/)
#   etcd: etcd (wrapper module etcd/)      kwok: sigs.k8s.io/kwok/cmd/kwok      kind: sigs.k8s.io/kind
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/..
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

HERE="${QMTL_ROOT}/scripts/cluster"
KUBE="$(pin tool.qmtl-stack.cluster.kubernetes)"
ETCD="$(pin tool.qmtl-stack.cluster.etcd)"
KWOK="$(pin tool.qmtl-stack.cluster.kwok)"
KIND="$(pin tool.qmtl-stack.cluster.kind)"

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(kube etcd kwok)

mkdir -p "${TOOLS_BIN}" "${TOOLS}/build"
need_go
go_build_env

# The Kubernetes version is stamped into the binaries the way hack/lib/version.sh does it; without it
# the apiserver reports v0.0.0-master and charts' kubeVersion constraints cannot match.
kube_ldflags() {
  local minor="${KUBE#*.}"; minor="${minor%%.*}"
  local date
  date="$(cd "${HERE}/kube" && go mod download -json "k8s.io/kubernetes@v${KUBE}" \
    | "${QMTL_PY}" -c 'import json,sys; print(json.load(open(json.load(sys.stdin)["Info"]))["Time"])')"
  [[ -n ${date} ]] || die "no release time for k8s.io/kubernetes@v${KUBE}"
  local flags="-s -w"
  local pkg key val
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    for key in gitVersion gitMajor gitMinor gitTreeState buildDate; do
      case ${key} in
        gitVersion) val="v${KUBE}" ;;
        gitMajor) val="${KUBE%%.*}" ;;
        gitMinor) val="${minor}" ;;
        gitTreeState) val="clean" ;;
        buildDate) val="${date}" ;;
      esac
      flags+=" -X ${pkg}.${key}=${val}"
    done
  done
  echo "${flags}"
}

build_kube() {
  "${HERE}/sync-modules.sh" --check || die "scripts/cluster/kube/go.mod is out of sync with pyproject.toml"
  local key
  key="kube@${KUBE}-$(sha_of "${HERE}/kube/go.mod" "${HERE}/kube/go.sum")"
  local bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  local all=1 b
  for b in "${bins[@]}"; do [[ -x "${TOOLS_BIN}/${b}" ]] || all=0; done
  if stamp_ok "${key}" && [[ ${all} == 1 ]]; then log "kube v${KUBE}: cached"; return; fi
  log "kube v${KUBE}: building ${bins[*]} (cold: ~10-15 min on 2 cores)"
  local t0; t0="$(now_s)"
  local pkgs=() ldflags
  for b in "${bins[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/${b}"); done
  ldflags="$(kube_ldflags)"
  (cd "${HERE}/kube" && go build -mod=readonly -trimpath -ldflags "${ldflags}" -o "${TOOLS_BIN}/" "${pkgs[@]}")
  # (output captured first: `cmd | grep -q` fails under pipefail when grep exits before cmd is done)
  local out; out="$("${TOOLS_BIN}/kubectl" version --client)"
  [[ ${out} == *"v${KUBE}"* ]] || die "kubectl does not report v${KUBE}: ${out}"
  stamp_set "${key}"
  log "kube v${KUBE}: built in $(elapsed "${t0}") s"
}

build_etcd() {
  local key
  key="etcd@${ETCD}-$(sha_of "${HERE}/etcd/go.mod" "${HERE}/etcd/go.sum" "${HERE}/etcd/main.go")"
  if stamp_ok "${key}" && [[ -x "${TOOLS_BIN}/etcd" ]]; then log "etcd v${ETCD}: cached"; return; fi
  log "etcd v${ETCD}: building"
  local t0; t0="$(now_s)"
  (cd "${HERE}/etcd" && go build -mod=readonly -trimpath -ldflags "-s -w" -o "${TOOLS_BIN}/etcd" .)
  local out; out="$("${TOOLS_BIN}/etcd" --version)"
  [[ ${out} == *"etcd Version: ${ETCD}"* ]] || die "etcd does not report ${ETCD}: ${out}"
  stamp_set "${key}"
  log "etcd v${ETCD}: built in $(elapsed "${t0}") s"
}

# go_install_to NAME MODULE_PKG@VERSION: `go install` into a private GOBIN, then move into .tools/bin.
go_install_to() {
  local name="$1" ref="$2" gobin="${TOOLS}/build/gobin-$1"
  rm -rf "${gobin}"; mkdir -p "${gobin}"
  GOBIN="${gobin}" go install -trimpath -ldflags "-s -w" "${ref}"
  mv -f "${gobin}/$(basename "${ref%@*}")" "${TOOLS_BIN}/${name}"
  rm -rf "${gobin}"
}

build_kwok() {
  local key="kwok@${KWOK}"
  if stamp_ok "${key}" && [[ -x "${TOOLS_BIN}/kwok" && -f "${TOOLS}/kwok/stages-${KWOK}.yaml" ]]; then log "kwok v${KWOK}: cached"; return; fi
  log "kwok v${KWOK}: building"
  local t0; t0="$(now_s)"
  go_install_to kwok "sigs.k8s.io/kwok/cmd/kwok@v${KWOK}"
  # kwok's own "fast" stages (what kwokctl configures by default), copied from the same module
  # version: the standalone kwok binary starts with no stages at all.
  local dir stages="${TOOLS}/kwok/stages-${KWOK}.yaml" f
  dir="$(cd "${TOOLS}/build" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kwok@v${KWOK}" \
    | "${QMTL_PY}" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  mkdir -p "${TOOLS}/kwok"
  : >"${stages}"
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    [[ -f "${dir}/kustomize/stage/${f}" ]] || die "kwok v${KWOK} has no kustomize/stage/${f}"
    { echo "---"; echo "# from sigs.k8s.io/kwok@v${KWOK} kustomize/stage/${f}"; cat "${dir}/kustomize/stage/${f}"; } >>"${stages}"
  done
  stamp_set "${key}"
  log "kwok v${KWOK}: built in $(elapsed "${t0}") s"
}

build_kind() {
  local key="kind@${KIND}"
  if stamp_ok "${key}" && [[ -x "${TOOLS_BIN}/kind" ]]; then log "kind v${KIND}: cached"; return; fi
  log "kind v${KIND}: building"
  local t0; t0="$(now_s)"
  go_install_to kind "sigs.k8s.io/kind@v${KIND}"
  stamp_set "${key}"
  log "kind v${KIND}: built in $(elapsed "${t0}") s"
}

for t in "${targets[@]}"; do
  case "${t}" in
    kube|etcd|kwok|kind) "build_${t}" ;;
    *) echo "usage: $0 [kube|etcd|kwok|kind]..." >&2; exit 2 ;;
  esac
done
