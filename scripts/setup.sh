#!/usr/bin/env bash
# One set-up command: installs everything the test suite needs, at the versions pinned in
# pyproject.toml, into .tools/ and .venv/ (both git-ignored). Idempotent: a second run takes seconds.
#
# Usage: scripts/setup.sh [--no-cluster] [--no-engines] [--no-scanners] [--no-images] [--no-test-venv]
#                         [--helm helm3|helm4] [--only-helm helm3|helm4] [--qmtl-source SRC]
#   --no-cluster   skip the local cluster (control plane, real node, their Debian packages); only kubectl
#                  is built (a no-op when the whole Kubernetes build is cached)
#   --no-engines   do not call scripts/engines/install.sh
#   --no-scanners  do not call scripts/scanners/install.sh (scripts/up.sh needs neither)
#   --no-images    do not install the image tools (podman, runc, mmdebstrap, CNI plugins, iptables)
#   --no-test-venv skip what only the tests use: .venv, the CRDs, .tools/qmtl/venv
#   --helm NAME    set up this Helm only (default: both)
#   --only-helm NAME  that Helm and kubectl, nothing else (scripts/up.sh on a cluster of your own)
#   --qmtl-source SRC  QMTL for .tools/qmtl/venv: a git+URL@commit, a source tarball or a folder
#                  (default: env QMTL_SOURCE, else pyproject.toml [tool.qmtl-stack.qmtl].source)
# Environment:
#   QMTL_BUILD_HELM=1  always build the pinned Helm versions, even if a `helm` on PATH is in range
#   QMTL_SOURCE        as --qmtl-source
#
# Installs:
#   .tools/bin/helm3, .tools/bin/helm4   Helm 3 and 4 built from helm.sh/helm/v3|v4 with upstream's ldflags
#                                        (or a symlink to a `helm` on PATH whose version is in range)
#   .tools/bin/kubectl                   at the local cluster's Kubernetes version (scripts/cluster/kube)
#   .tools/bin/{etcd,kube-apiserver,kube-controller-manager,kube-scheduler,kwok}  (scripts/cluster/build.sh)
#   .tools/bin/{kubelet,kube-proxy,coredns,kube-router,pause,netcheck,nsforward} and
#   .tools/cluster-images/  the local cluster's real node (scripts/cluster/build.sh node), plus its Debian
#                        packages when missing ([tool.qmtl-stack.node]: containerd, runc, CNI plugins,
#                        iptables, ipset; gcc for the pause binary)
#   .venv/                               Python 3.11 with pyproject.toml's `test` extra, the Seamless
#                                        coordinator (editable) with images/seamless-coordinator/requirements.lock,
#                                        and this project's Python (editable: scripts/qmtl_stack, qmtl_validate,
#                                        schemas/, tests/; pyproject.toml [tool.setuptools])
#   .tools/crds/                         the ServiceMonitor CRD (prometheus-operator's Go module) and the
#                                        HTTPRoute CRD (the Gateway API's Go module, sigs.k8s.io/gateway-api),
#                                        with the other standard Gateway API CRDs a controller watches
#   .tools/qmtl/venv/                    QMTL (with images/qmtl/patches/) and images/qmtl/requirements.lock:
#                                        the interpreter tests use to run QMTL's own code (env QMTL_PYTHON
#                                        overrides it); its wheels are the qmtl image's (scripts/images.sh)
#   podman, runc, mmdebstrap             Debian packages, when missing (scripts/images.sh; tests/images), and the
#                                        CNI plugins and iptables (the tests' podman service, tests/engines)
# and runs, when present, scripts/engines/install.sh (real dependency servers) and
# scripts/scanners/install.sh (checkov, kube-score, pss-check), owned by their own authors.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# shellcheck source=lib/qmtl.sh
source "${QMTL_ROOT}/scripts/lib/qmtl.sh"

WITH_CLUSTER=1
WITH_ENGINES=1
WITH_SCANNERS=1
WITH_IMAGES=1
WITH_TEST_VENV=1
HELMS=(3 4)
QMTL_SOURCE_ARG=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-cluster) WITH_CLUSTER=0; shift ;;
    --no-engines) WITH_ENGINES=0; shift ;;
    --no-scanners) WITH_SCANNERS=0; shift ;;
    --no-images) WITH_IMAGES=0; shift ;;
    --no-test-venv) WITH_TEST_VENV=0; shift ;;
    --helm|--only-helm)
      [[ ${2:-} == helm3 || ${2:-} == helm4 ]] || die "$1 takes helm3 or helm4"
      HELMS=("${2#helm}")
      if [[ $1 == --only-helm ]]; then WITH_CLUSTER=0; WITH_ENGINES=0; WITH_SCANNERS=0; WITH_IMAGES=0; WITH_TEST_VENV=0; fi
      shift 2 ;;
    --qmtl-source)
      [[ -n ${2:-} ]] || die "--qmtl-source needs a git+URL@commit, a source tarball or a folder"
      QMTL_SOURCE_ARG="$2"; shift 2 ;;
    --qmtl-source=*) QMTL_SOURCE_ARG="${1#--qmtl-source=}"; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "usage: $0 [--no-cluster] [--no-engines] [--no-scanners] [--no-images] [--no-test-venv] [--helm|--only-helm helm3|helm4] [--qmtl-source SRC]" >&2; exit 2 ;;
  esac
done

T_START="$(now_s)"
SUMMARY=()
note() { SUMMARY+=("$1"); }

mkdir -p "${TOOLS_BIN}" "${TOOLS}/build"

# --- prerequisites from Debian (only when missing) ----------------------------------------------
apt_install() { # [--no-install-recommends] PACKAGE...
  local names="${*/--no-install-recommends/}"; names="${names# }"
  command -v apt-get >/dev/null 2>&1 || die "missing ${names}; no apt-get to install it"
  [[ ${EUID} == 0 ]] || die "missing ${names}; run as root or install: apt-get install ${names}"
  log "apt-get install $*"
  # another apt (unattended upgrades, a second set-up) may hold dpkg's lock: wait for it, not fail at once
  local wait=(-o DPkg::Lock::Timeout=600)
  if [[ ! -f "${STAMPS}/apt-updated" ]]; then
    apt-get "${wait[@]}" update -qq && mkdir -p "${STAMPS}" && touch "${STAMPS}/apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get "${wait[@]}" install -y -qq "$@" >/dev/null
}
command -v python3 >/dev/null 2>&1 || { apt_install python3; resolve_py; load_pins; }
command -v openssl >/dev/null 2>&1 || apt_install openssl
need_go

PY=""
for cand in python3.11 python3; do
  if command -v "${cand}" >/dev/null 2>&1 \
     && "${cand}" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
    PY="$("${cand}" -c 'import sys; print(sys.executable)')"; break
  fi
done
if [[ -z ${PY} ]]; then apt_install python3.11 python3.11-venv; PY="$(command -v python3.11)"; fi
"${PY}" -c 'import venv, ensurepip' 2>/dev/null || apt_install python3.11-venv

# --- Helm 3 and Helm 4 -----------------------------------------------------------------------------
# version_in_range VERSION MIN: MIN <= VERSION < (major of MIN)+1
version_in_range() {
  "${QMTL_PY}" - "$1" "$2" <<'EOF'
import re, sys
def parse(v):
    m = re.match(r"v?(\d+)\.(\d+)\.(\d+)", v)
    return tuple(int(x) for x in m.groups()) if m else None
have, low = parse(sys.argv[1]), parse(sys.argv[2])
sys.exit(0 if have and low and low <= have < (low[0] + 1, 0, 0) else 1)
EOF
}

# Upstream's Makefile stamps the version (and, for v3, the default Kubernetes version of `helm
# template` and `helm lint`, taken from the k8s.io/client-go in helm's go.mod: v0.37 -> 1.37).
# Helm 4's Makefile sets no k8s ldflags: v4 reads client-go's version from the binary's build info.
build_helm() {
  local major="$1" version="$2" module="helm.sh/helm/v$1"
  local info gomod cg kmaj kmin ldflags
  info="$(cd "${TOOLS}/build" && GOFLAGS=-mod=mod go mod download -json "${module}@v${version}")"
  gomod="$("${QMTL_PY}" -c 'import json,sys; print(json.loads(sys.argv[1])["GoMod"])' "${info}")"
  cg="$(sed -n 's#^[[:space:]]*k8s.io/client-go v\([0-9.]*\).*#\1#p;T;q' "${gomod}")"
  [[ -n ${cg} ]] || die "no k8s.io/client-go in ${module}@v${version}'s go.mod"
  kmaj=$(( ${cg%%.*} + 1 )); kmin="${cg#*.}"; kmin="${kmin%%.*}"
  ldflags="-w -s -X ${module}/internal/version.version=v${version} -X ${module}/internal/version.metadata="
  if [[ ${major} == 3 ]]; then
    local pkg
    for pkg in pkg/lint/rules pkg/chartutil; do
      ldflags+=" -X ${module}/${pkg}.k8sVersionMajor=${kmaj} -X ${module}/${pkg}.k8sVersionMinor=${kmin}"
    done
  fi
  local gobin="${TOOLS}/build/gobin-helm${major}"
  rm -rf "${gobin}"; mkdir -p "${gobin}"
  # (a command substitution runs this: set -e does not reach in, so every step says when it fails)
  (cd "${TOOLS}/build" && go_build_env && GOBIN="${gobin}" \
    go install -trimpath -ldflags "${ldflags}" "${module}/cmd/helm@v${version}") \
    || die "building ${module}@v${version} failed (go install's messages are above)"
  rm -f "${TOOLS_BIN}/helm${major}"
  mv "${gobin}/helm" "${TOOLS_BIN}/helm${major}" || die "go install left no helm binary in ${gobin}"
  rm -rf "${gobin}"
  echo "client-go v${cg} -> default Kubernetes ${kmaj}.${kmin}"
}

setup_helm() {
  local major="$1" version min key path have t0 detail
  version="$(pin "tool.qmtl-stack.helm.helm${major}")"
  min="$(pin "tool.qmtl-stack.helm.helm${major}_min")"
  key="helm${major}@${version}"
  if stamp_ok "${key}" && [[ -x "${TOOLS_BIN}/helm${major}" && ! -L "${TOOLS_BIN}/helm${major}" ]]; then
    note "helm${major}: v${version} (cached build)"; return
  fi
  # an installed helm (not one of ours) whose version is in range may be reused
  path="$(command -v helm 2>/dev/null || true)"
  if [[ -n ${path} && ${QMTL_BUILD_HELM:-0} != 1 && $(readlink -f "${path}") != "${TOOLS}"/* ]]; then
    have="$("${path}" version --template '{{.Version}}' 2>/dev/null || true)"
    if [[ -n ${have} ]] && version_in_range "${have}" "${min}"; then
      ln -sfn "$(readlink -f "${path}")" "${TOOLS_BIN}/helm${major}"
      note "helm${major}: reusing ${path} ${have} (in range >=${min})"; return
    fi
  fi
  log "helm${major}: building v${version} from ${key%@*}'s Go module"
  t0="$(now_s)"
  detail="$(build_helm "${major}" "${version}")"
  have="$("${TOOLS_BIN}/helm${major}" version --template '{{.Version}}')"
  [[ ${have} == "v${version}" ]] || die "built helm${major} reports ${have}, expected v${version}"
  stamp_set "${key}"
  note "helm${major}: v${version} built in $(elapsed "${t0}") s (${detail})"
}

# --- the local cluster's real node: Debian packages, installed only when missing ------------------------
# deb_series PACKAGE SERIES: the installed package provides upstream series SERIES (e.g. 1.6 -> 1.6.20~ds1-1).
deb_series() {
  local v
  v="$(dpkg-query -W -f='${Version}' "$1" 2>/dev/null)" || die "$1 is not installed"
  v="${v#*:}"
  [[ ${v} == "$2" || ${v} == "$2".* ]] || die "$1 ${v} is not the pinned series $2 ([tool.qmtl-stack.node] in pyproject.toml)"
  echo "${v}"
}

setup_node_packages() {
  local missing=() key pkg
  for key in containerd runc cni iptables ipset; do
    pkg="$(pin "tool.qmtl-stack.node.${key}_deb")"
    [[ "$(dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null)" == "install ok installed" ]] || missing+=("${pkg}")
  done
  command -v gcc >/dev/null 2>&1 || missing+=(gcc)
  [[ -f /usr/lib/x86_64-linux-gnu/libc.a || -f /usr/lib/aarch64-linux-gnu/libc.a ]] || missing+=(libc6-dev)
  if [[ ${#missing[@]} -gt 0 ]]; then apt_install "${missing[@]}"; fi
  local versions=()
  for key in containerd runc cni; do
    pkg="$(pin "tool.qmtl-stack.node.${key}_deb")"
    versions+=("${pkg} $(deb_series "${pkg}" "$(pin "tool.qmtl-stack.node.${key}_series")")")
  done
  note "real node packages: ${versions[*]}${missing[*]:+ (installed: ${missing[*]})}"
}

# --- Python virtualenv with the `test` extra --------------------------------------------------------
# The Seamless coordinator (images/seamless-coordinator) is installed too, with its image's lock, so the tests
# import it and run its console script at the versions the image ships (its pins live in that lock only).
COORDINATOR="${QMTL_ROOT}/images/seamless-coordinator"
setup_venv() {
  local venv="${QMTL_ROOT}/.venv" key t0 reqs
  key="venv@$(pin_hash project.optional-dependencies.test)-$(pin_hash tool.setuptools)-$(cat "${COORDINATOR}/requirements.lock" "${COORDINATOR}/pyproject.toml" | sha256sum | cut -c1-12)-$("${PY}" -c 'import platform; print(platform.python_version())')"
  if stamp_ok "${key}" && [[ -x "${venv}/bin/python" ]]; then
    note "venv: .venv (cached, $("${venv}/bin/python" --version))"; return
  fi
  t0="$(now_s)"
  reqs="${TOOLS}/build/requirements-test.txt"
  "${QMTL_PY}" "${QMTL_ROOT}/scripts/qmtl_stack/pins.py" extra test >"${reqs}"
  if [[ ! -x "${venv}/bin/python" ]] || ! "${venv}/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    rm -rf "${venv}"
    "${PY}" -m venv "${venv}"
  fi
  log "venv: installing the test extra ($(wc -l <"${reqs}") pins) and the coordinator with its lock"
  "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "${reqs}" \
    -r "${COORDINATOR}/requirements.lock"
  "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check --no-input --no-deps --no-build-isolation \
    --editable "${COORDINATOR}"
  # this project's own Python (scripts/qmtl_stack, scripts/qmtl_validate, schemas/, tests/): importable in .venv
  "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check --no-input --no-deps --no-build-isolation \
    --editable "${QMTL_ROOT}"
  "${venv}/bin/python" -m pip check >/dev/null || die "the test extra's pins conflict: $("${venv}/bin/python" -m pip check)"
  stamp_set "${key}"
  note "venv: .venv $("${venv}/bin/python" --version) with $(wc -l <"${reqs}") pins in $(elapsed "${t0}") s"
}

# --- CRDs of optional integrations (ServiceMonitor, HTTPRoute) ------------------------------------------
# The module proxy serves a repository's whole tree; the CRD file is copied out of the module's zip.
CRDS="${TOOLS}/crds"
# copy_crd WHAT PIN MODULE FILE STAMP
copy_crd() {
  local what="$1" version module="$3" file="$4" key="$5" info dir
  version="$(pin "$2")"
  key="${key}@${version}"
  if stamp_ok "${key}" && [[ -f "${CRDS}/${file##*/}" ]]; then
    note "crds: ${what} from ${module} v${version} (cached)"; return
  fi
  info="$(cd "${TOOLS}/build" && GOFLAGS=-mod=mod go mod download -json "${module}@v${version}")" \
    || die "cannot download ${module}@v${version} from the Go module proxy"
  dir="$("${QMTL_PY}" -c 'import json,sys; print(json.loads(sys.argv[1])["Dir"])' "${info}")"
  [[ -f "${dir}/${file}" ]] || die "${module}@v${version} has no ${file}"
  mkdir -p "${CRDS}"
  cp "${dir}/${file}" "${CRDS}/${file##*/}"
  chmod u+w "${CRDS}/${file##*/}"
  stamp_set "${key}"
  note "crds: ${what} from ${module} v${version}"
}
setup_crds() {
  copy_crd ServiceMonitor tool.qmtl-stack.crds.prometheus_operator \
    github.com/prometheus-operator/prometheus-operator \
    example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml crds
  # HTTPRoute (the chart's), and what a Gateway API controller watches besides (the smoke suite runs one)
  local kind
  for kind in httproutes gatewayclasses gateways grpcroutes referencegrants backendtlspolicies; do
    copy_crd "Gateway API ${kind}" tool.qmtl-stack.crds.gateway_api \
      sigs.k8s.io/gateway-api "config/crd/standard/gateway.networking.k8s.io_${kind}.yaml" "crds-gateway-api-${kind}"
  done
}

# --- QMTL on the host: .tools/qmtl/venv --------------------------------------------------------------------
# The qmtl image's own wheels (scripts/lib/qmtl.sh): images/qmtl/requirements.lock from the wheelhouse and
# QMTL's wheel built from its source with images/qmtl/patches/. QMTL goes in without its declared
# dependencies, as in the image; pip check may then miss only the ones requirements.in leaves out.
setup_qmtl_venv() {
  local venv="${QMTL_CACHE}/venv" lock="${QMTL_IMAGE_DIR}/requirements.lock" wheels wheel key t0
  qmtl_source "${QMTL_SOURCE_ARG}"
  t0="$(now_s)"
  wheels="$(lock_wheelhouse qmtl)"
  wheel="$(qmtl_wheel)"
  key="qmtl-venv@$(sha_of "${lock}")-$(basename "$(dirname "${wheel}")")-$("${PY}" -c 'import platform; print(platform.python_version())')"
  if [[ -n ${QMTL_SRC_KEY} ]] && stamp_ok "${key}" && [[ -x ${venv}/bin/python ]]; then
    note "qmtl venv: .tools/qmtl/venv (cached; QMTL from ${QMTL_SRC})"; return
  fi
  rm -rf "${venv}"
  "${PY}" -m venv "${venv}"
  "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check --no-input --no-index --no-deps \
    --find-links "${wheels}" -r "${lock}" || die "installing images/qmtl/requirements.lock into ${venv} failed"
  "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check --no-input --no-index --no-deps "${wheel}" \
    || die "installing ${wheel} into ${venv} failed"
  qmtl_pip_check "${venv}/bin/python"
  stamp_set "${key}"
  note "qmtl venv: .tools/qmtl/venv with QMTL from ${QMTL_SRC} ($(qmtl_patches | wc -l) patch(es)) and $(grep -c '==' "${lock}") pins in $(elapsed "${t0}") s"
}

# --- image tools: podman (with runc) and mmdebstrap, from Debian ------------------------------------------
# plus what the tests' podman service (tests/engines/podman_service.py: the testcontainers backend where no
# Docker engine is) needs for its network inside a namespace of its own: the CNI plugins (bridge,
# host-local, portmap) and iptables, the real node's packages ([tool.qmtl-stack.node]).
setup_image_tools() {
  local missing=() cmd key pkg
  for cmd in podman runc mmdebstrap; do command -v "${cmd}" >/dev/null 2>&1 || missing+=("${cmd}"); done
  for key in cni iptables; do
    pkg="$(pin "tool.qmtl-stack.node.${key}_deb")"
    [[ "$(dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null)" == "install ok installed" ]] || missing+=("${pkg}")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then apt_install --no-install-recommends "${missing[@]}"; fi
  note "image tools: $(podman --version), runc $(runc --version | sed -n 's/^runc version //p'), mmdebstrap $(mmdebstrap --version | sed 's/^mmdebstrap //')"
}

# --- run ----------------------------------------------------------------------------------------------
t="$(now_s)"; for major in "${HELMS[@]}"; do setup_helm "${major}"; done
t_helm="$(elapsed "${t}")"

t="$(now_s)"
if [[ ${WITH_CLUSTER} == 1 ]]; then
  setup_node_packages
  "${QMTL_ROOT}/scripts/cluster/build.sh" kube etcd kwok node
else
  "${QMTL_ROOT}/scripts/cluster/build.sh" kubectl   # a cluster of your own needs kubectl only
fi
t_kube="$(elapsed "${t}")"
note "kubectl: $("${TOOLS_BIN}/kubectl" version --client | sed -n 's/^Client Version: //p') (${t_kube} s)"
if [[ ${WITH_CLUSTER} == 1 ]]; then
  note "local cluster: kube-apiserver/-controller-manager/-scheduler, kubelet, kube-proxy v$(pin tool.qmtl-stack.cluster.kubernetes), etcd v$(pin tool.qmtl-stack.cluster.etcd), kwok v$(pin tool.qmtl-stack.cluster.kwok), CoreDNS v$(pin tool.qmtl-stack.cluster.coredns), kube-router v$(pin tool.qmtl-stack.cluster.kube_router), Traefik v$(pin tool.qmtl-stack.cluster.traefik)"
fi

t_venv=0
t="$(now_s)"
if [[ ${WITH_TEST_VENV} == 1 ]]; then
  setup_venv; t_venv="$(elapsed "${t}")"
  setup_crds
  t="$(now_s)"
  setup_qmtl_venv
fi
[[ ${WITH_IMAGES} == 0 ]] || setup_image_tools
t_qmtl="$(elapsed "${t}")"

# Installers owned by other parts of the project: called when present and executable; a failure fails
# set-up. engines: real dependency servers for tests/engines; scanners: checkov (own venv), kube-score,
# pss-check for tests/security.
run_installer() { # NAME: scripts/NAME/install.sh
  local name="$1" script="${QMTL_ROOT}/scripts/$1/install.sh" t0
  [[ -f ${script} ]] || return 0
  if [[ ! -x ${script} ]]; then note "${name}: scripts/${name}/install.sh is not executable; skipped"; return 0; fi
  t0="$(now_s)"
  log "${name}: running scripts/${name}/install.sh"
  "${script}" || die "scripts/${name}/install.sh failed"
  note "${name}: scripts/${name}/install.sh ok in $(elapsed "${t0}") s"
}
t="$(now_s)"
[[ ${WITH_ENGINES} == 0 ]] || run_installer engines
[[ ${WITH_SCANNERS} == 0 ]] || run_installer scanners
t_others="$(elapsed "${t}")"

echo "== setup summary (.tools/bin, .venv) =="
printf '  %s\n' "${SUMMARY[@]}"
echo "  times: helm ${t_helm} s, kube/cluster (+ node packages) ${t_kube} s, venv ${t_venv} s, qmtl venv+image tools ${t_qmtl} s, engines+scanners ${t_others} s; total $(elapsed "${T_START}") s"
