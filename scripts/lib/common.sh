# Shared helpers for the scripts under scripts/. Source it; do not run it.
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck shell=bash

QMTL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS="${QMTL_ROOT}/.tools"
TOOLS_BIN="${TOOLS}/bin"
STAMPS="${TOOLS}/stamps"
export QMTL_ROOT TOOLS TOOLS_BIN

# The real interpreter behind `python3` (resolved once: a pyenv shim costs seconds on a busy machine).
resolve_py() { QMTL_PY="$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || true)"; export QMTL_PY; }
[[ -n ${QMTL_PY:-} && -x ${QMTL_PY:-} ]] || resolve_py

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

# pin KEY: one value from pyproject.toml, e.g. `pin tool.qmtl-stack.helm.helm3`. The [tool.qmtl-stack]
# tables are read once per process tree (QMTL_PIN_* variables, tied to pyproject.toml's content).
load_pins() {
  [[ -n ${QMTL_PY} ]] || die "python3 is required"
  local sig; sig="$(cksum <"${QMTL_ROOT}/pyproject.toml")"
  if [[ ${QMTL_PINS_SIG:-} != "${sig}" ]]; then
    local assignments
    assignments="$("${QMTL_PY}" "${QMTL_ROOT}/scripts/qmtl_stack/pins.py" env tool.qmtl-stack)" \
      || die "cannot read pyproject.toml"
    eval "${assignments}"
    # shellcheck disable=SC2046
    export $(printf '%s\n' "${assignments}" | cut -d= -f1) QMTL_PINS_SIG="${sig}"
  fi
}
pin() {
  local var="QMTL_PIN_${1//[^A-Za-z0-9]/_}"
  [[ -n ${!var:-} ]] || die "pyproject.toml has no value ${1} (or python3 is missing)"
  printf '%s\n' "${!var}"
}
[[ -z ${QMTL_PY} ]] || load_pins
pin_hash() { "${QMTL_PY}" "${QMTL_ROOT}/scripts/qmtl_stack/pins.py" hash "$1"; }

# Stamp files record that a versioned install step finished; their name is the key.
stamp_ok() { [[ -f "${STAMPS}/$1" ]]; }
stamp_set() {
  mkdir -p "${STAMPS}"
  # drop older stamps of the same step (prefix before the first '@')
  rm -f "${STAMPS}/${1%%@*}@"*
  date -u +%Y-%m-%dT%H:%M:%SZ >"${STAMPS}/$1"
}

# now_s: seconds since the epoch with decimals, for phase timings.
now_s() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }'; }

# sha_of FILE...: short content hash, used in stamp keys.
sha_of() { cat "$@" | sha256sum | cut -c1-12; }

need_go() {
  command -v go >/dev/null 2>&1 || die "Go is required (go.mod files ask for go 1.26); install it first"
}

# go_build_env: what every Go build here uses (static, reproducible paths).
go_build_env() {
  export CGO_ENABLED=0
  # A machine may export GOFLAGS (e.g. -mod=vendor); builds here decide their own flags.
  export GOFLAGS="-buildvcs=false"
}
