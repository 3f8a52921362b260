# QMTL from its source, and the wheelhouses of images/*/requirements.lock: what scripts/setup.sh (the
# host venv .tools/qmtl/venv) and scripts/images.sh (the images) share. Source it after lib/common.sh.
#
#   qmtl_source [SOURCE]     resolve the QMTL source (argument, else $QMTL_SOURCE, else pyproject.toml
#                            [tool.qmtl-stack.qmtl].source): sets QMTL_SRC and QMTL_SRC_KEY
#   qmtl_wheel               QMTL's wheel built from QMTL_SRC with images/qmtl/patches/*.patch applied
#                            (cached per source and patches when the source is immutable); prints its path
#   lock_wheelhouse NAME     every wheel images/NAME/requirements.lock pins, for this machine's architecture,
#                            Python 3.11 and glibc <= the base image's (cached per lock); prints the folder
#   lock_check LOCK          refuses a lock with a line that is not `name==version`
#   qmtl_pip_check PYTHON    pip check in a venv: only QMTL's deliberately omitted dependencies may be missing
# shellcheck shell=bash

QMTL_IMAGE_DIR="${QMTL_ROOT}/images/qmtl"
QMTL_PATCHES_DIR="${QMTL_IMAGE_DIR}/patches"
QMTL_CACHE="${TOOLS}/qmtl"        # dist/ (QMTL wheels), build-venv/ (builds them), venv/ (setup.sh)
WHEELHOUSE="${TOOLS}/wheelhouse"  # one folder per lock content and architecture
# The newest glibc the wheels may need: Debian bookworm's (the local base and python:3.11-slim-bookworm).
WHEEL_GLIBC_MINOR=36

# find_python311: an interpreter for the build venv (setup.sh's PY when set).
find_python311() {
  local cand
  for cand in "${PY:-}" python3.11 python3; do
    [[ -n ${cand} ]] || continue
    if command -v "${cand}" >/dev/null 2>&1 \
       && "${cand}" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      "${cand}" -c 'import sys; print(sys.executable)'; return 0
    fi
  done
  die "Python 3.11 is required (run scripts/setup.sh)"
}

qmtl_source() {
  local src="${1:-${QMTL_SOURCE:-}}"
  [[ -n ${src} ]] || src="$(pin tool.qmtl-stack.qmtl.source)"
  QMTL_SRC_KEY=""
  case "${src}" in
    git+*)
      QMTL_SRC="${src}"
      # only a full commit id is immutable
      if [[ ${src} =~ @[0-9a-f]{40}$ ]]; then QMTL_SRC_KEY="git-$(printf %s "${src}" | sha256sum | cut -c1-16)"; fi
      ;;
    *)
      [[ -e ${src} ]] || die "QMTL source '${src}' does not exist: give a git+URL@commit, a source tarball or a directory (--qmtl-source or QMTL_SOURCE)"
      QMTL_SRC="$(cd "$(dirname "${src}")" && pwd)/$(basename "${src}")"
      if [[ -f ${QMTL_SRC} ]]; then QMTL_SRC_KEY="file-$(sha256sum "${QMTL_SRC}" | cut -c1-16)"; fi
      ;;
  esac
  export QMTL_SRC QMTL_SRC_KEY
}

qmtl_patches() { compgen -G "${QMTL_PATCHES_DIR}/*.patch" | LC_ALL=C sort || true; }

# _qmtl_unpack DEST: QMTL_SRC's tree (the folder holding pyproject.toml) copied to DEST.
_qmtl_unpack() {
  local dest="$1" scratch="$1.unpack" top
  rm -rf "${dest}" "${scratch}"; mkdir -p "${scratch}"
  case "${QMTL_SRC}" in
    git+*)
      command -v git >/dev/null 2>&1 || die "git is needed to fetch ${QMTL_SRC}"
      local url="${QMTL_SRC#git+}" ref=""
      if [[ ${url} =~ ^(.*)@([^/@]+)$ ]]; then url="${BASH_REMATCH[1]}"; ref="${BASH_REMATCH[2]}"; fi
      git -C "${scratch}" init -q
      git -C "${scratch}" fetch -q --depth 1 "${url}" "${ref:-HEAD}" || die "cannot fetch ${ref:-HEAD} from ${url}"
      git -C "${scratch}" checkout -q FETCH_HEAD
      rm -rf "${scratch}/.git"
      ;;
    *.tar.gz|*.tgz|*.tar|*.tar.xz|*.tar.bz2) tar -xf "${QMTL_SRC}" -C "${scratch}" ;;
    *.zip) "${QMTL_PY}" -m zipfile -e "${QMTL_SRC}" "${scratch}" ;;
    *)
      [[ -d ${QMTL_SRC} ]] || die "QMTL source ${QMTL_SRC}: not a folder, a .tar(.gz|.xz|.bz2), .tgz or .zip"
      cp -a "${QMTL_SRC}/." "${scratch}/"; rm -rf "${scratch}/.git"
      ;;
  esac
  top="$(find "${scratch}" -maxdepth 2 -name pyproject.toml -printf '%h\n' | LC_ALL=C sort | head -n1)"
  [[ -n ${top} && -d ${top}/qmtl ]] || die "QMTL source ${QMTL_SRC} has no pyproject.toml beside a qmtl/ package"
  mv "${top}" "${dest}"; rm -rf "${scratch}"
}

# _qmtl_build_venv: a venv with the pinned setuptools that builds QMTL's wheel (and downloads wheels).
_qmtl_build_venv() {
  local venv="${QMTL_CACHE}/build-venv" setuptools py key
  setuptools="$(pin tool.qmtl-stack.qmtl.setuptools)"
  py="$(find_python311)"
  key="qmtl-build-venv@setuptools-${setuptools}-$("${py}" -c 'import platform; print(platform.python_version())')"
  if stamp_ok "${key}" && [[ -x ${venv}/bin/python ]]; then echo "${venv}/bin/python"; return; fi
  rm -rf "${venv}"
  "${py}" -m venv "${venv}" >&2
  "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "setuptools==${setuptools}" >&2 \
    || die "cannot install setuptools==${setuptools} into ${venv}"
  stamp_set "${key}"
  echo "${venv}/bin/python"
}

qmtl_wheel() {
  [[ -n ${QMTL_SRC:-} ]] || qmtl_source
  local patch patches=() patches_key key dir builder work t0
  mapfile -t patches < <(qmtl_patches)
  patches_key="$( (for patch in "${patches[@]}"; do cat "${patch}"; done) | sha256sum | cut -c1-12)"
  key="${QMTL_SRC_KEY:-mutable}-patches-${patches_key}-setuptools-$(pin tool.qmtl-stack.qmtl.setuptools)"
  dir="${QMTL_CACHE}/dist/${key}"
  if [[ -n ${QMTL_SRC_KEY} ]] && compgen -G "${dir}/qmtl-*.whl" >/dev/null; then
    compgen -G "${dir}/qmtl-*.whl" | head -n1; return
  fi
  t0="$(now_s)"
  builder="$(_qmtl_build_venv)"
  work="$(mktemp -d "${TMPDIR:-/tmp}/qmtl-wheel.XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -rf '${work}'" RETURN
  _qmtl_unpack "${work}/src"
  for patch in "${patches[@]}"; do
    # git apply works outside a repository; --check first so that a patch that does not fit this source
    # says so instead of leaving a half-patched tree
    (cd "${work}/src" && git apply --check -p1 "${patch}" 2>&1) >&2 \
      || die "patch images/qmtl/patches/${patch##*/} does not apply to ${QMTL_SRC} (written for the pinned commit in pyproject.toml [tool.qmtl-stack.qmtl])"
    (cd "${work}/src" && git apply -p1 "${patch}")
  done
  rm -rf "${dir}.tmp"; mkdir -p "${dir}.tmp"
  "${builder}" -m pip wheel --quiet --disable-pip-version-check --no-input --no-deps --no-build-isolation \
    -w "${dir}.tmp" "${work}/src" >&2 || die "building QMTL's wheel from ${QMTL_SRC} failed"
  rm -rf "${dir}"; mv "${dir}.tmp" "${dir}"
  log "QMTL wheel from ${QMTL_SRC} with ${#patches[@]} patch(es) in $(elapsed "${t0}") s"
  compgen -G "${dir}/qmtl-*.whl" | head -n1
}

lock_check() {
  local lock="$1" bad
  [[ -f ${lock} ]] || die "${lock#"${QMTL_ROOT}"/} is missing"
  bad="$(grep -vE '^[[:space:]]*(#.*)?$' "${lock}" | grep -vE '^[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9][A-Za-z0-9.+!-]*$' || true)"
  [[ -z ${bad} ]] || die "${lock#"${QMTL_ROOT}"/}: every line must pin one package as name==version; not: ${bad//$'\n'/, }"
}

# _pip_target_args: pip download options for Linux wheels this machine's architecture runs, CPython 3.11,
# glibc up to bookworm's. pip 23 does not widen --platform to older glibc versions by itself.
_pip_target_args() {
  local arch minor
  arch="$(uname -m)"
  printf '%s\n' --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none
  for (( minor = WHEEL_GLIBC_MINOR; minor >= 5; minor-- )); do printf '%s\n' --platform "manylinux_2_${minor}_${arch}"; done
  printf '%s\n' --platform "manylinux2014_${arch}" --platform "manylinux2010_${arch}" --platform "manylinux1_${arch}"
}

lock_wheelhouse() {
  local name="$1" lock key dir builder t0 args=()
  lock="${QMTL_ROOT}/images/${name}/requirements.lock"
  lock_check "${lock}"
  key="${name}-$(sha_of "${lock}")-$(uname -m)"
  dir="${WHEELHOUSE}/${key}"
  if [[ -f ${dir}/.complete ]]; then echo "${dir}"; return; fi
  t0="$(now_s)"
  builder="$(_qmtl_build_venv)"
  mapfile -t args < <(_pip_target_args)
  rm -rf "${dir}.tmp"; mkdir -p "${dir}.tmp"
  "${builder}" -m pip download --quiet --disable-pip-version-check --no-input --no-deps "${args[@]}" \
    -r "${lock}" -d "${dir}.tmp" >&2 \
    || die "cannot download every wheel of images/${name}/requirements.lock (a package without a wheel for Linux $(uname -m), CPython 3.11 and glibc <= 2.${WHEEL_GLIBC_MINOR} cannot be used)"
  touch "${dir}.tmp/.complete"
  rm -rf "${dir}"; mv "${dir}.tmp" "${dir}"
  # keep only the current wheelhouse of each image
  find "${WHEELHOUSE}" -mindepth 1 -maxdepth 1 -name "${name}-*" ! -name "${key}" -exec rm -rf {} +
  log "wheelhouse ${name}: $(find "${dir}" -name '*.whl' | wc -l) wheels, $(du -sm "${dir}" | cut -f1) MB in $(elapsed "${t0}") s"
  echo "${dir}"
}

# qmtl_omitted: the QMTL dependencies images/qmtl/requirements.in leaves out (`# omit: NAME reason`).
qmtl_omitted() { sed -n 's/^#[[:space:]]*omit:[[:space:]]*\([A-Za-z0-9._-]*\).*/\1/p' "${QMTL_IMAGE_DIR}/requirements.in" | LC_ALL=C sort; }

qmtl_pip_check() {
  local python="$1" out missing unexpected
  out="$("${python}" -m pip check 2>&1 || true)"
  missing="$(sed -n 's/^qmtl [^ ]* requires \([A-Za-z0-9._-]*\), which is not installed\.$/\1/p' <<<"${out}" | LC_ALL=C sort)"
  unexpected="$(grep -vE '^(No broken requirements found\.|qmtl [^ ]* requires [A-Za-z0-9._-]*, which is not installed\.)$' <<<"${out}" || true)"
  [[ -z ${unexpected} ]] || die "pip check in ${python%/bin/*}: ${unexpected}"
  [[ ${missing} == "$(qmtl_omitted)" ]] \
    || die "pip check in ${python%/bin/*}: QMTL dependencies missing: [${missing//$'\n'/ }], expected exactly the omitted ones of images/qmtl/requirements.in: [$(qmtl_omitted | tr '\n' ' ')]"
}
