#!/usr/bin/env bash
# Installs the independent manifest scanners used by tests/security, at the versions pinned in
# pyproject.toml [tool.qmtl-stack.scanners], into .tools/ (git-ignored). Idempotent: a second run
# takes a second.
#
#   .tools/scanners/checkov/   checkov's OWN virtualenv (its dependency tree is large and must not
#                              meet the test venv's pins); entry point .tools/bin/checkov
#   .tools/bin/kube-score      built from its Go module (github.com/zegl/kube-score)
#   .tools/bin/pss-check       scripts/scanners/pss: Kubernetes' own Pod Security Standards checks
#                              (k8s.io/pod-security-admission) over rendered manifests
#
# Usage: scripts/scanners/install.sh [checkov|kube-score|pss-check ...]   (default: all)
# Exit status is nonzero when a requested scanner could not be installed.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

mkdir -p "${TOOLS_BIN}" "${TOOLS}/build" "${TOOLS}/scanners"

find_python311() {
  local cand
  for cand in python3.11 python3; do
    if command -v "${cand}" >/dev/null 2>&1 \
       && "${cand}" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      command -v "${cand}"; return 0
    fi
  done
  return 1
}

# built KEY BINARY LABEL: KEY's stamp is there and .tools/bin/BINARY is executable (logs "LABEL: cached")
built() { stamp_ok "$1" && [[ -x "${TOOLS_BIN}/$2" ]] && log "$3: cached"; }

install_checkov() {
  local version venv key py
  version="$(pin tool.qmtl-stack.scanners.checkov)"
  venv="${TOOLS}/scanners/checkov"
  key="checkov@${version}"
  if ! stamp_ok "${key}" || [[ ! -x "${venv}/bin/checkov" ]]; then
    py="$(find_python311)" || die "checkov needs Python 3.11 (python3.11 not found; run scripts/setup.sh first)"
    log "checkov ${version}: installing into its own venv ${venv#"${QMTL_ROOT}/"}"
    rm -rf "${venv}"
    "${py}" -m venv "${venv}"
    "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "checkov==${version}"
  fi
  # The entry point keeps checkov offline: no PyPI version check, no platform run config or policy
  # mapping downloads (--skip-download). Without an API key checkov scans locally only.
  cat >"${TOOLS_BIN}/checkov" <<WRAP
#!/usr/bin/env bash
# checkov ${version} from ${venv#"${QMTL_ROOT}/"}, offline (written by scripts/scanners/install.sh)
export CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE BC_SKIP_MAPPING=TRUE ANSI_COLORS_DISABLED=TRUE
export LOG_LEVEL=\${LOG_LEVEL:-WARNING}
unset BC_API_KEY PRISMA_API_URL
exec "${venv}/bin/checkov" --skip-download "\$@"
WRAP
  chmod +x "${TOOLS_BIN}/checkov"
  local have
  have="$("${TOOLS_BIN}/checkov" --version 2>/dev/null | tail -1)"
  [[ ${have} == "${version}" ]] || die "installed checkov reports ${have:-nothing}, expected ${version}"
  stamp_ok "${key}" && { log "checkov ${version}: cached"; return 0; }
  stamp_set "${key}"
  log "checkov ${version}: ok"
}

install_kube_score() {
  local version key gobin
  version="$(pin tool.qmtl-stack.scanners.kube_score)"
  key="kube-score@${version}"
  built "${key}" kube-score "kube-score ${version}" && return 0
  need_go
  log "kube-score ${version}: building from github.com/zegl/kube-score's Go module"
  gobin="${TOOLS}/build/gobin-kube-score"
  rm -rf "${gobin}"; mkdir -p "${gobin}"
  (cd "${TOOLS}/build" && go_build_env && GOBIN="${gobin}" \
    go install -trimpath -ldflags "-s -w -X main.version=${version}" \
      "github.com/zegl/kube-score/cmd/kube-score@v${version}")
  mv "${gobin}/kube-score" "${TOOLS_BIN}/kube-score"
  rm -rf "${gobin}"
  "${TOOLS_BIN}/kube-score" version >/dev/null || die "the built kube-score does not run"
  stamp_set "${key}"
  log "kube-score ${version}: ok ($("${TOOLS_BIN}/kube-score" version | head -1))"
}

# pss-check: scripts/scanners/pss/main.go against k8s.io/pod-security-admission at the version of the
# local control plane's Kubernetes (tool.qmtl-stack.cluster.kubernetes 1.N.P -> v0.N.P), i.e. the same
# PodSecurity code the API server runs.
install_pss_check() {
  local kube version key src build
  kube="$(pin tool.qmtl-stack.cluster.kubernetes)"
  version="v0.${kube#*.}"
  src="${QMTL_ROOT}/scripts/scanners/pss/main.go"
  key="pss-check@${version}-$(sha_of "${src}")"
  built "${key}" pss-check "pss-check (pod-security-admission ${version})" && return 0
  need_go
  log "pss-check: building against k8s.io/pod-security-admission ${version}"
  build="${TOOLS}/build/pss-check"
  rm -rf "${build}"; mkdir -p "${build}"
  cp "${src}" "${build}/main.go"
  (cd "${build}" && go_build_env \
    && go mod init qmtl-stack/pss-check >/dev/null 2>&1 \
    && GOFLAGS=-mod=mod go get "k8s.io/pod-security-admission@${version}" "k8s.io/api@${version}" \
         "k8s.io/apimachinery@${version}" \
    && GOFLAGS=-mod=mod go mod tidy \
    && go build -trimpath -ldflags "-s -w" -o "${TOOLS_BIN}/pss-check" .)
  printf 'kind: Pod\napiVersion: v1\nmetadata: {name: probe}\nspec: {containers: [{name: c, image: x:1}]}\n' \
    >"${build}/probe.yaml"
  "${TOOLS_BIN}/pss-check" "${build}/probe.yaml" | grep -q '"allowed": false' \
    || die "the built pss-check does not flag a pod without a security context"
  stamp_set "${key}"
  log "pss-check (pod-security-admission ${version}): ok"
}

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(checkov kube-score pss-check)
for target in "${targets[@]}"; do
  case "${target}" in
    checkov) install_checkov ;;
    kube-score) install_kube_score ;;
    pss-check) install_pss_check ;;
    *) die "unknown scanner ${target} (known: checkov, kube-score, pss-check)" ;;
  esac
done
