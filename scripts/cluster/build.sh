#!/usr/bin/env bash
# Build the local cluster's binaries and images from their Go modules (and one C file) at the pins in
# pyproject.toml [tool.qmtl-stack.cluster], into .tools/bin/ and .tools/cluster-images/. A second run with
# the same pins is a no-op (stamps).
#
# Usage: scripts/cluster/build.sh [TARGET]...   (default: kube etcd kwok node)
#   kube         kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy and
#                the cluster's storage provisioner local-volumes (kube/local-volumes, client-go): one
#                `go build` of the wrapper module kube/, so the packages they share compile once
#   kubectl      kubectl alone (for a cluster of your own; a no-op when `kube` is built)
#   etcd         etcd (wrapper module etcd/)        kwok: sigs.k8s.io/kwok/cmd/kwok
#   kind         sigs.k8s.io/kind
#   coredns      CoreDNS with the plugins the cluster uses (wrapper module coredns/)
#   kube-router  github.com/cloudnativelabs/kube-router/v2/cmd/kube-router (NetworkPolicy enforcer)
#   traefik      github.com/traefik/traefik/v3/cmd/traefik: the ingress controller the exposure smoke test runs
#                on the real node (its go.mod has replace directives, so it builds inside a copy of the module)
#   tools        netcheck (the test image's probe) and nsforward (host loopback -> cluster netns), module tools/
#   pause        the pod sandbox's pause binary: build/pause/linux/pause.c of k8s.io/kubernetes, gcc -static
#   images       docker-archives of pause, coredns, netcheck and traefik in .tools/cluster-images/ (+ images.json)
#   node         kube coredns kube-router tools pause traefik images: everything the real node needs
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/..
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

HERE="${QMTL_ROOT}/scripts/cluster"
KUBE="$(pin tool.qmtl-stack.cluster.kubernetes)"
ETCD="$(pin tool.qmtl-stack.cluster.etcd)"
KWOK="$(pin tool.qmtl-stack.cluster.kwok)"
KIND="$(pin tool.qmtl-stack.cluster.kind)"
COREDNS="$(pin tool.qmtl-stack.cluster.coredns)"
KUBE_ROUTER="$(pin tool.qmtl-stack.cluster.kube_router)"
TRAEFIK="$(pin tool.qmtl-stack.cluster.traefik)"
IMAGES_DIR="${TOOLS}/cluster-images"

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(kube etcd kwok node)

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

# install_bins DIR NAME...: move freshly built binaries into .tools/bin. A rename gives each a new inode:
# writing over the old file instead would fail while it runs ("text file busy") and would change every
# hard link of it (other checkouts' .tools may link to these files).
install_bins() {
  local dir="$1" name; shift
  for name in "$@"; do mv -f "${dir}/${name}" "${TOOLS_BIN}/${name}"; done
  rm -rf "${dir}"
}

KUBE_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy local-volumes)

kube_key() {
  "${HERE}/sync-modules.sh" --check || die "scripts/cluster/kube/go.mod is out of sync with pyproject.toml"
  echo "kube@${KUBE}-$(sha_of "${HERE}/kube/go.mod" "${HERE}/kube/go.sum" "${HERE}/kube/local-volumes/main.go")"
}

# go_build_kube BIN...: one `go build` of k8s.io/kubernetes/cmd/BIN... (or ./BIN, the module's own
# commands) into .tools/bin, version-stamped.
go_build_kube() {
  local pkgs=() b ldflags
  for b in "$@"; do
    if [[ -d "${HERE}/kube/${b}" ]]; then pkgs+=("./${b}"); else pkgs+=("k8s.io/kubernetes/cmd/${b}"); fi
  done
  ldflags="$(kube_ldflags)"
  local out_dir="${TOOLS}/build/kube-out"
  rm -rf "${out_dir}"; mkdir -p "${out_dir}"
  (cd "${HERE}/kube" && go build -mod=readonly -trimpath -ldflags "${ldflags}" -o "${out_dir}/" "${pkgs[@]}")
  install_bins "${out_dir}" "$@"
  # (output captured first: `cmd | grep -q` fails under pipefail when grep exits before cmd is done)
  local out; out="$("${TOOLS_BIN}/kubectl" version --client)"
  [[ ${out} == *"v${KUBE}"* ]] || die "kubectl does not report v${KUBE}: ${out}"
}

build_kube() {
  local key all=1 b t0
  key="$(kube_key)"
  for b in "${KUBE_CMDS[@]}"; do [[ -x "${TOOLS_BIN}/${b}" ]] || all=0; done
  if stamp_ok "${key}" && [[ ${all} == 1 ]]; then log "kube v${KUBE}: cached"; return; fi
  log "kube v${KUBE}: building ${KUBE_CMDS[*]} (cold: ~15-20 min on 2 cores)"
  t0="$(now_s)"
  go_build_kube "${KUBE_CMDS[@]}"
  local out; out="$("${TOOLS_BIN}/kubelet" --version)"
  [[ ${out} == "Kubernetes v${KUBE}" ]] || die "kubelet does not report v${KUBE}: ${out}"
  stamp_set "${key}"
  log "kube v${KUBE}: built in $(elapsed "${t0}") s"
}

build_kubectl() {
  local key t0
  key="$(kube_key)"
  if stamp_ok "${key}" && [[ -x "${TOOLS_BIN}/kubectl" ]]; then log "kubectl v${KUBE}: cached (kube)"; return; fi
  if stamp_ok "kubectl@${key#kube@}" && [[ -x "${TOOLS_BIN}/kubectl" ]]; then log "kubectl v${KUBE}: cached"; return; fi
  log "kubectl v${KUBE}: building"
  t0="$(now_s)"
  go_build_kube kubectl
  stamp_set "kubectl@${key#kube@}"
  log "kubectl v${KUBE}: built in $(elapsed "${t0}") s"
}

build_etcd() {
  local key
  key="etcd@${ETCD}-$(sha_of "${HERE}/etcd/go.mod" "${HERE}/etcd/go.sum" "${HERE}/etcd/main.go")"
  if stamp_ok "${key}" && [[ -x "${TOOLS_BIN}/etcd" ]]; then log "etcd v${ETCD}: cached"; return; fi
  log "etcd v${ETCD}: building"
  local t0; t0="$(now_s)"
  mkdir -p "${TOOLS}/build/etcd-out"
  (cd "${HERE}/etcd" && go build -mod=readonly -trimpath -ldflags "-s -w" -o "${TOOLS}/build/etcd-out/etcd" .)
  install_bins "${TOOLS}/build/etcd-out" etcd
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

build_coredns() {
  "${HERE}/sync-modules.sh" --check || die "scripts/cluster/coredns/go.mod is out of sync with pyproject.toml"
  local key t0 out
  key="coredns@${COREDNS}-$(sha_of "${HERE}/coredns/go.mod" "${HERE}/coredns/go.sum" "${HERE}/coredns/main.go")"
  if stamp_ok "${key}" && [[ -x "${TOOLS_BIN}/coredns" ]]; then log "coredns v${COREDNS}: cached"; return; fi
  log "coredns v${COREDNS}: building"
  t0="$(now_s)"
  mkdir -p "${TOOLS}/build/coredns-out"
  (cd "${HERE}/coredns" && go build -mod=readonly -trimpath -ldflags "-s -w" -o "${TOOLS}/build/coredns-out/coredns" .)
  install_bins "${TOOLS}/build/coredns-out" coredns
  out="$("${TOOLS_BIN}/coredns" -version)"
  [[ ${out} == *"CoreDNS-${COREDNS}"* ]] || die "coredns does not report ${COREDNS}: ${out}"
  stamp_set "${key}"
  log "coredns v${COREDNS}: built in $(elapsed "${t0}") s"
}

build_kube-router() {
  local key="kube-router@${KUBE_ROUTER}" t0
  if stamp_ok "${key}" && [[ -x "${TOOLS_BIN}/kube-router" ]]; then log "kube-router v${KUBE_ROUTER}: cached"; return; fi
  log "kube-router v${KUBE_ROUTER}: building"
  t0="$(now_s)"
  go_install_to kube-router "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@v${KUBE_ROUTER}"
  stamp_set "${key}"
  log "kube-router v${KUBE_ROUTER}: built in $(elapsed "${t0}") s"
}

# `go install module@version` refuses a module whose go.mod has replace directives (Traefik's has): the
# build runs inside a writable copy of the module, where go.mod and go.sum are the main module's own.
build_traefik() {
  local key="traefik@${TRAEFIK}" t0 dir src out
  if stamp_ok "${key}" && [[ -x "${TOOLS_BIN}/traefik" ]]; then log "traefik v${TRAEFIK}: cached"; return; fi
  log "traefik v${TRAEFIK}: building"
  t0="$(now_s)"
  dir="$(cd "${TOOLS}/build" && GOFLAGS=-mod=mod go mod download -json "github.com/traefik/traefik/v3@v${TRAEFIK}" \
    | "${QMTL_PY}" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  [[ -d ${dir} ]] || die "no source for github.com/traefik/traefik/v3@v${TRAEFIK}"
  src="${TOOLS}/build/traefik-src"
  rm -rf "${src}"; cp -r "${dir}" "${src}"; chmod -R u+w "${src}"
  mkdir -p "${TOOLS}/build/traefik-out"
  (cd "${src}" && go build -mod=readonly -trimpath \
    -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=${TRAEFIK}" \
    -o "${TOOLS}/build/traefik-out/traefik" ./cmd/traefik) || die "building traefik v${TRAEFIK} failed"
  rm -rf "${src}"
  install_bins "${TOOLS}/build/traefik-out" traefik
  out="$("${TOOLS_BIN}/traefik" version)"
  [[ ${out} == *"${TRAEFIK}"* ]] || die "traefik does not report ${TRAEFIK}: ${out}"
  stamp_set "${key}"
  log "traefik v${TRAEFIK}: built in $(elapsed "${t0}") s"
}

build_tools() {
  local key t0
  key="cluster-tools@$(cd "${HERE}/tools" && sha_of go.mod $(find . -name '*.go' | sort))"
  if stamp_ok "${key}" && [[ -x "${TOOLS_BIN}/netcheck" && -x "${TOOLS_BIN}/nsforward" ]]; then log "netcheck, nsforward: cached"; return; fi
  t0="$(now_s)"
  mkdir -p "${TOOLS}/build/tools-out"
  (cd "${HERE}/tools" && go build -trimpath -ldflags "-s -w" -o "${TOOLS}/build/tools-out/" ./netcheck ./nsforward)
  install_bins "${TOOLS}/build/tools-out" netcheck nsforward
  stamp_set "${key}"
  log "netcheck, nsforward: built in $(elapsed "${t0}") s"
}

# The pause image's version is build/pause/Makefile's TAG in the Kubernetes module.
kube_module_dir() {
  (cd "${HERE}/kube" && go mod download -json "k8s.io/kubernetes@v${KUBE}" \
    | "${QMTL_PY}" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
}

build_pause() {
  local key="pause@${KUBE}" t0 dir tag
  if stamp_ok "${key}" && [[ -x "${TOOLS_BIN}/pause" && -f "${TOOLS}/build/pause.version" ]]; then log "pause: cached"; return; fi
  command -v gcc >/dev/null 2>&1 || die "gcc is needed for the pause binary (scripts/setup.sh installs gcc and libc6-dev)"
  t0="$(now_s)"
  dir="$(kube_module_dir)"
  tag="$(sed -n 's/^TAG ?= *//p' "${dir}/build/pause/Makefile")"
  [[ ${tag} =~ ^[0-9]+\.[0-9]+(\.[0-9]+)?$ ]] || die "no pause TAG in ${dir}/build/pause/Makefile"
  mkdir -p "${TOOLS}/build/pause-out"
  gcc -Os -Wall -Werror -static -DVERSION="v${tag}-v${KUBE}" -o "${TOOLS}/build/pause-out/pause" "${dir}/build/pause/linux/pause.c"
  install_bins "${TOOLS}/build/pause-out" pause
  local out; out="$("${TOOLS_BIN}/pause" -v)"
  [[ ${out} == *"v${tag}-v${KUBE}"* ]] || die "pause reports ${out}"
  echo "${tag}" >"${TOOLS}/build/pause.version"
  stamp_set "${key}"
  log "pause ${tag}: built in $(elapsed "${t0}") s"
}

# images.json maps each image's role to its reference; local-cluster.sh and tests/cluster read it.
build_images() {
  local pause_tag key t0 refs
  build_pause; build_coredns; build_tools; build_traefik
  pause_tag="$(<"${TOOLS}/build/pause.version")"
  key="cluster-images@$(sha_of "${TOOLS_BIN}/pause" "${TOOLS_BIN}/coredns" "${TOOLS_BIN}/netcheck" \
    "${TOOLS_BIN}/traefik" "${HERE}/image.py")"
  if stamp_ok "${key}" && [[ -f "${IMAGES_DIR}/images.json" ]]; then log "images: cached"; return; fi
  t0="$(now_s)"
  rm -rf "${IMAGES_DIR}"; mkdir -p "${IMAGES_DIR}"
  local img=("${QMTL_PY}" "${HERE}/image.py")
  local pause="localhost/qmtl-local/pause:${pause_tag}"
  local coredns="localhost/qmtl-local/coredns:${COREDNS}"
  local netcheck="localhost/qmtl-local/netcheck:local"
  # pause runs as 65535 (as upstream's image); CoreDNS and netcheck as the project's 10001
  "${img[@]}" --tag "${pause}" --out "${IMAGES_DIR}/pause.tar" --file "/pause=${TOOLS_BIN}/pause" \
    --entrypoint /pause --user 65535:65535
  "${img[@]}" --tag "${coredns}" --out "${IMAGES_DIR}/coredns.tar" --file "/coredns=${TOOLS_BIN}/coredns" \
    --entrypoint /coredns --user 10001:10001
  "${img[@]}" --tag "${netcheck}" --out "${IMAGES_DIR}/netcheck.tar" --file "/netcheck=${TOOLS_BIN}/netcheck" \
    --entrypoint /netcheck --user 10001:10001
  local traefik="localhost/qmtl-local/traefik:${TRAEFIK}"
  "${img[@]}" --tag "${traefik}" --out "${IMAGES_DIR}/traefik.tar" --file "/traefik=${TOOLS_BIN}/traefik" \
    --entrypoint /traefik --user 10001:10001
  refs="$(printf '{"pause": "%s", "coredns": "%s", "netcheck": "%s", "traefik": "%s"}' \
    "${pause}" "${coredns}" "${netcheck}" "${traefik}")"
  echo "${refs}" >"${IMAGES_DIR}/images.json"
  stamp_set "${key}"
  log "images: pause, coredns, netcheck, traefik written to ${IMAGES_DIR} in $(elapsed "${t0}") s"
}

for t in "${targets[@]}"; do
  case "${t}" in
    kube|kubectl|etcd|kwok|kind|coredns|kube-router|traefik|tools|pause|images) "build_${t}" ;;
    node) for n in kube coredns kube-router tools pause traefik images; do "build_${n}"; done ;;
    *) echo "usage: $0 [kube|kubectl|etcd|kwok|kind|coredns|kube-router|traefik|tools|pause|images|node]..." >&2; exit 2 ;;
  esac
done
