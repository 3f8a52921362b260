#!/usr/bin/env bash
# Build, load and push the container images this repository makes: one per images/<name>/Containerfile
# (qmtl: gateway, dagmanager, worldservice; seamless-coordinator once its Containerfile exists).
#
# Usage: scripts/images.sh [build] [--load] [--push REGISTRY] [--base local|IMAGE] [--qmtl-source SRC]
#                          [--refresh-base] [NAME...]
#        scripts/images.sh lock [NAME...]
#        scripts/images.sh compare-upstream [--qmtl-source SRC]
#        scripts/images.sh list
#        scripts/images.sh list-names
#        scripts/images.sh podman ARGS...
#
#   build              (the default) build NAME... (default: every images/*/Containerfile), tagged
#                      localhost/qmtl-stack/<name>:<Chart.yaml appVersion>, and print each image's size
#   --load             then load them into the local cluster's container runtime
#                      (podman save, then `scripts/local-cluster.sh import ARCHIVE.tar`)
#   --push REGISTRY    then tag them REGISTRY/qmtl-stack/<name>:<appVersion> and push (log in first:
#                      `scripts/images.sh podman login REGISTRY`; REGISTRY_AUTH_FILE is honoured)
#   --base local       (default) the base image is made here from Debian packages: mmdebstrap of Debian
#                      bookworm with python3, python3-venv, ca-certificates and libstdc++6, then `podman import`
#                      (cached under .tools/images/base/; --refresh-base makes it again, e.g. for updates)
#   --base IMAGE       any other base, e.g. docker.io/library/python:3.11-slim-bookworm (the
#                      Containerfiles' own default), pulled when missing
#   --qmtl-source SRC  QMTL to install: a git+URL@commit, a source tarball or a folder (default: env
#                      QMTL_SOURCE, else pyproject.toml [tool.qmtl-stack.qmtl].source)
#   lock               regenerate images/NAME/requirements.lock from images/NAME/requirements.in (PyPI;
#                      default: every image that has a requirements.in)
#   compare-upstream   build QMTL's own Dockerfile recipe for the same source on the same base (needs
#                      PyPI: --network=host) and print its size beside the qmtl image's
#   list               print the image references the chart defaults to
#   list-names         print the names of the images this repository builds (images/<name>/)
#   podman ARGS        run podman with this project's private configuration (.tools/podman/)
#
# How an image is built: the Python packages come from a wheelhouse prepared on this host
# (images/<name>/requirements.lock, every package pinned; QMTL's wheel from its source with
# images/qmtl/patches/ applied), passed in the build context as wheels/, so the build runs with
# --network=none. The build context is images/<name>/ plus wheels/; the script passes
# --build-arg BASE_IMAGE, and QMTL_WHEEL (the wheel's file name) to a Containerfile that declares it.
# podman keeps its storage and configuration under .tools/podman/ (containers.conf sets
# default_ulimits = [], since nothing here may raise an rlimit); the host's own configuration is not read.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/qmtl.sh
source "${QMTL_ROOT}/scripts/lib/qmtl.sh"

IMAGES_TOOLS="${TOOLS}/images"
PODMAN_DIR="${TOOLS}/podman"
REGISTRY_LOCAL="localhost"
usage() { awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit "${1:-0}"; }

# --- podman with a private configuration ---------------------------------------------------------------
# Storage under .tools/podman/storage; run state on a per-checkout folder in /tmp (podman wants it cleared
# at boot). Only these files are read: CONTAINERS_CONF, CONTAINERS_STORAGE_CONF, CONTAINERS_REGISTRIES_CONF.
podman_env() {
  command -v podman >/dev/null 2>&1 || die "podman is not installed: run scripts/setup.sh (Debian package podman)"
  local run="/tmp/qmtl-stack-podman-$(printf %s "${QMTL_ROOT}" | sha256sum | cut -c1-12)"
  mkdir -p "${PODMAN_DIR}/storage" "${PODMAN_DIR}/networks" "${run}"
  cat >"${PODMAN_DIR}/containers.conf.tmp" <<EOF
# Written by scripts/images.sh; podman reads it through CONTAINERS_CONF.
[containers]
default_ulimits = []
log_driver = "k8s-file"
[engine]
# crun 1.8 (Debian) refuses hybrid cgroup v1/v2 hosts such as this one; runc runs there
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "${run}/events.log"
tmp_dir = "${run}/libpod"
volume_path = "${PODMAN_DIR}/storage/volumes"
[network]
network_config_dir = "${PODMAN_DIR}/networks"
EOF
  cat >"${PODMAN_DIR}/storage.conf.tmp" <<EOF
# Written by scripts/images.sh; podman reads it through CONTAINERS_STORAGE_CONF.
[storage]
driver = "overlay"
graphroot = "${PODMAN_DIR}/storage"
runroot = "${run}/storage"
EOF
  cat >"${PODMAN_DIR}/registries.conf.tmp" <<'EOF'
# Written by scripts/images.sh; podman reads it through CONTAINERS_REGISTRIES_CONF. Image names are
# always fully qualified here.
unqualified-search-registries = []
short-name-mode = "enforcing"
EOF
  local f
  for f in containers storage registries; do
    if cmp -s "${PODMAN_DIR}/${f}.conf.tmp" "${PODMAN_DIR}/${f}.conf"; then rm -f "${PODMAN_DIR}/${f}.conf.tmp"
    else mv "${PODMAN_DIR}/${f}.conf.tmp" "${PODMAN_DIR}/${f}.conf"; fi
  done
  export CONTAINERS_CONF="${PODMAN_DIR}/containers.conf"
  export CONTAINERS_STORAGE_CONF="${PODMAN_DIR}/storage.conf"
  export CONTAINERS_REGISTRIES_CONF="${PODMAN_DIR}/registries.conf"
  # for tests and humans: the same environment, one VAR=value a line
  printf '%s\n' "CONTAINERS_CONF=${CONTAINERS_CONF}" "CONTAINERS_STORAGE_CONF=${CONTAINERS_STORAGE_CONF}" \
    "CONTAINERS_REGISTRIES_CONF=${CONTAINERS_REGISTRIES_CONF}" >"${PODMAN_DIR}/podman.env"
}

app_version() {
  local v
  v="$(sed -n 's/^appVersion:[[:space:]]*"\{0,1\}\([^"[:space:]]*\)"\{0,1\}[[:space:]]*$/\1/p' "${QMTL_ROOT}/Chart.yaml")"
  [[ -n ${v} ]] || die "Chart.yaml has no appVersion"
  echo "${v}"
}

image_names() { # every images/<name>/ with a Containerfile
  local f
  for f in "${QMTL_ROOT}"/images/*/Containerfile; do [[ -f ${f} ]] && basename "$(dirname "${f}")"; done
}

mb() { awk -v b="$1" 'BEGIN { printf "%.0f MB", b / 1000000 }'; }
image_size() { podman image inspect --format '{{.Size}}' "$1"; }

# --- the base image from Debian packages ----------------------------------------------------------------
# libstdc++6: manylinux wheels (grpcio, polars, ...) expect it, as every manylinux policy does; Debian's
# slim images (and python:3.11-slim-bookworm) carry it because apt needs it, the Essential set does not.
BASE_PACKAGES="python3,python3-venv,ca-certificates,libstdc++6"
local_base() {
  local suite mirror security key ref tar t0
  suite="$(pin tool.qmtl-stack.images.debian_suite)"
  mirror="$(pin tool.qmtl-stack.images.debian_mirror)"
  security="$(pin tool.qmtl-stack.images.debian_security_mirror)"
  key="$(printf '%s\n' "${suite}" "${mirror}" "${security}" "${BASE_PACKAGES}" "$(declare -f _mmdebstrap)" | sha256sum | cut -c1-12)"
  ref="${REGISTRY_LOCAL}/qmtl-stack/base:${suite}-${key}"
  tar="${IMAGES_TOOLS}/base/${suite}-${key}.tar"
  if [[ ${REFRESH_BASE} == 1 ]]; then rm -f "${tar}"; podman image rm -f "${ref}" >/dev/null 2>&1 || true; fi
  if podman image exists "${ref}"; then echo "${ref}"; return; fi
  if [[ ! -s ${tar} ]]; then
    command -v mmdebstrap >/dev/null 2>&1 || die "mmdebstrap is not installed: run scripts/setup.sh, or pass --base docker.io/library/python:3.11-slim-bookworm"
    t0="$(now_s)"
    log "base image: mmdebstrap ${suite} (${BASE_PACKAGES})"
    mkdir -p "${IMAGES_TOOLS}/base"
    _mmdebstrap "${suite}" "${mirror}" "${security}" "${tar}.tmp" >"${IMAGES_TOOLS}/base/mmdebstrap.log" 2>&1 \
      || die "mmdebstrap failed; see ${IMAGES_TOOLS}/base/mmdebstrap.log"
    mv "${tar}.tmp" "${tar}"
    find "${IMAGES_TOOLS}/base" -mindepth 1 -maxdepth 1 -name '*.tar' ! -name "${tar##*/}" -exec rm -rf {} +
    log "base image: made in $(elapsed "${t0}") s"
  fi
  podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
    "${tar}" "${ref}" >/dev/null || die "podman import of ${tar} failed"
  echo "${ref}"
}

# Debian's Essential set plus python3 (no apt, no docs, man pages or locales; merged /usr without the
# usrmerge package), with the suite's updates and security updates.
_mmdebstrap() {
  local suite="$1" mirror="$2" security="$3" out="$4"
  mmdebstrap --variant=essential --format=tar --include="${BASE_PACKAGES}" \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*' \
    "${suite}" "${out}" \
    "deb ${mirror} ${suite} main" "deb ${mirror} ${suite}-updates main" "deb ${security} ${suite}-security main"
}

# --- build -------------------------------------------------------------------------------------------------
# build_one NAME BASE: stage the context (images/NAME/ + wheels/) and build localhost/qmtl-stack/NAME:VERSION.
build_one() {
  local name="$1" base="$2" version ref ctx wheels wheel t0 args=()
  version="$(app_version)"
  ref="${REGISTRY_LOCAL}/qmtl-stack/${name}:${version}"
  ctx="${IMAGES_TOOLS}/context/${name}"
  t0="$(now_s)"
  wheels="$(lock_wheelhouse "${name}")"
  rm -rf "${ctx}"; mkdir -p "${ctx%/*}"
  cp -a "${QMTL_ROOT}/images/${name}" "${ctx}"
  rm -rf "${ctx}/wheels"; mkdir -p "${ctx}/wheels"
  cp -al "${wheels}"/*.whl "${ctx}/wheels/" 2>/dev/null || cp -a "${wheels}"/*.whl "${ctx}/wheels/"
  args=(--build-arg "BASE_IMAGE=${base}" --label "org.opencontainers.image.version=${version}"
        --label "org.opencontainers.image.title=qmtl-stack/${name}")
  if grep -qE '^[[:space:]]*ARG[[:space:]]+QMTL_WHEEL\b' "${ctx}/Containerfile"; then
    wheel="$(qmtl_wheel)"
    cp -a "${wheel}" "${ctx}/wheels/"
    args+=(--build-arg "QMTL_WHEEL=${wheel##*/}" --label "io.qmtl-stack.qmtl.source=${QMTL_SRC}"
           --label "io.qmtl-stack.qmtl.patches=$(qmtl_patches | xargs -r -n1 basename | paste -sd, -)")
  fi
  [[ ${base} == "${REGISTRY_LOCAL}/"* ]] && args+=(--pull=never)
  log "${name}: podman build --network=none -> ${ref}"
  podman build --network=none --layers "${args[@]}" -t "${ref}" -f "${ctx}/Containerfile" "${ctx}" \
    >"${IMAGES_TOOLS}/build-${name}.log" 2>&1 \
    || { tail -n 40 "${IMAGES_TOOLS}/build-${name}.log" >&2; die "building ${name} failed; log: ${IMAGES_TOOLS}/build-${name}.log"; }
  BUILT+=("${name}")
  REPORT+=("$(printf '%-22s %8s  %s  (built in %s s)' "${name}" "$(mb "$(image_size "${ref}")")" "${ref}" "$(elapsed "${t0}")")")
}

LOCAL_CLUSTER="${QMTL_ROOT}/scripts/local-cluster.sh"
# --load needs the local cluster's `import` command (a case branch `import)` in scripts/local-cluster.sh)
check_load_support() {
  grep -qE '^[[:space:]]*import\)' "${LOCAL_CLUSTER}" 2>/dev/null \
    || die "--load needs \`scripts/local-cluster.sh import ARCHIVE.tar\` (loading images into the local cluster's real node), which this checkout does not have; build without --load, or push to a registry your cluster pulls from (--push REGISTRY)"
}

load_images() {
  local name ref archive
  mkdir -p "${IMAGES_TOOLS}/archives"
  for name in "${BUILT[@]}"; do
    ref="${REGISTRY_LOCAL}/qmtl-stack/${name}:$(app_version)"
    archive="${IMAGES_TOOLS}/archives/${name}.tar"
    rm -f "${archive}"
    podman save --quiet --format docker-archive -o "${archive}" "${ref}" || die "podman save ${ref} failed"
    log "${name}: scripts/local-cluster.sh import ${archive#"${QMTL_ROOT}"/}"
    "${LOCAL_CLUSTER}" import "${archive}" || die "scripts/local-cluster.sh import ${archive} failed"
    rm -f "${archive}"
  done
}

push_images() {
  local registry="${1%/}" name ref target
  for name in "${BUILT[@]}"; do
    ref="${REGISTRY_LOCAL}/qmtl-stack/${name}:$(app_version)"
    target="${registry}/qmtl-stack/${name}:$(app_version)"
    podman tag "${ref}" "${target}"
    log "${name}: podman push ${target}"
    podman push --quiet "${target}" || die "podman push ${target} failed (logged in? scripts/images.sh podman login ${registry%%/*})"
    PUSHED+=("${target}")
  done
}

# --- lock ----------------------------------------------------------------------------------------------
lock_one() {
  local name="$1" in lock venv py
  in="${QMTL_ROOT}/images/${name}/requirements.in"
  lock="${QMTL_ROOT}/images/${name}/requirements.lock"
  [[ -f ${in} ]] || die "images/${name}/requirements.in is missing"
  py="$(find_python311)"
  venv="$(mktemp -d "${TMPDIR:-/tmp}/qmtl-lock.XXXXXX")"
  "${py}" -m venv "${venv}"
  "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "${in}" \
    || { rm -rf "${venv}"; die "resolving images/${name}/requirements.in failed"; }
  {
    echo "# Generated by \`scripts/images.sh lock ${name}\` from requirements.in: every package the image installs,"
    echo "# pinned (CPython 3.11). Edit requirements.in, then regenerate."
    "${venv}/bin/python" -m pip freeze --all | grep -vE '^(pip|setuptools|wheel)==' | LC_ALL=C sort -f
  } >"${lock}.tmp"
  rm -rf "${venv}"
  mv "${lock}.tmp" "${lock}"
  lock_check "${lock}"
  log "images/${name}/requirements.lock: $(grep -c '==' "${lock}") pins"
}

# --- QMTL's own Dockerfile recipe, for the size comparison ----------------------------------------------
# The recipe (read from hyophyop/qmtl's Dockerfile, not copied): a python 3.11 base, the source tree
# copied in, uv installed with pip, then QMTL editable with its `dev` extra and every declared dependency.
# Built on the same base as the qmtl image so the figures compare; needs PyPI (host network for the RUN).
compare_upstream() {
  local base ctx ref src_key result ours t0
  base="$1"
  qmtl_source "${QMTL_SOURCE_ARG}"
  src_key="${QMTL_SRC_KEY:-mutable}"
  ref="${REGISTRY_LOCAL}/qmtl-stack/upstream-recipe:${src_key}"
  ctx="${IMAGES_TOOLS}/context/upstream-recipe"
  result="${IMAGES_TOOLS}/upstream-recipe-${src_key}.size"
  if [[ ! -s ${result} ]]; then
    t0="$(now_s)"
    rm -rf "${ctx}"; mkdir -p "${ctx}"
    _qmtl_unpack "${ctx}/src"
    cat >"${ctx}/Containerfile" <<'EOF'
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
# How this host reaches PyPI (the CA bundle of a TLS-inspecting proxy, a mirror): build-time only.
ARG CA_BUNDLE PIP_INDEX_URL UV_INDEX_URL
# python:3.11-slim has pip in its system Python; the Debian base gets the same from a venv on PATH
RUN python3 -m venv /usr/local/upstream && ln -s /usr/local/upstream/bin/pip /usr/local/bin/pip
ENV PATH=/usr/local/upstream/bin:$PATH
WORKDIR /app
COPY src/ /app
RUN if [ -n "${CA_BUNDLE}" ]; then export PIP_CERT="${CA_BUNDLE}" SSL_CERT_FILE="${CA_BUNDLE}"; fi; \
    pip install --no-cache-dir uv && uv pip install --python /usr/local/upstream/bin/python -e ".[dev]"
EOF
    local ca="${PIP_CERT:-${SSL_CERT_FILE:-${REQUESTS_CA_BUNDLE:-}}}" net_args=()
    if [[ -n ${ca} && -f ${ca} ]]; then net_args+=(-v "${ca}:/run/host-ca.pem:ro" --build-arg CA_BUNDLE=/run/host-ca.pem); fi
    [[ -z ${PIP_INDEX_URL:-} ]] || net_args+=(--build-arg "PIP_INDEX_URL=${PIP_INDEX_URL}")
    [[ -z ${UV_INDEX_URL:-${PIP_INDEX_URL:-}} ]] || net_args+=(--build-arg "UV_INDEX_URL=${UV_INDEX_URL:-${PIP_INDEX_URL}}")
    log "upstream recipe: podman build --network=host (PyPI) -> ${ref}"
    podman build --network=host --pull=never --build-arg "BASE_IMAGE=${base}" "${net_args[@]}" -t "${ref}" "${ctx}" \
      >"${IMAGES_TOOLS}/build-upstream-recipe.log" 2>&1 \
      || { tail -n 30 "${IMAGES_TOOLS}/build-upstream-recipe.log" >&2; die "building QMTL's recipe failed"; }
    image_size "${ref}" >"${result}"
    podman image rm -f "${ref}" >/dev/null 2>&1 || true
    rm -rf "${ctx}"
    log "upstream recipe built and measured in $(elapsed "${t0}") s"
  fi
  ours="${REGISTRY_LOCAL}/qmtl-stack/qmtl:$(app_version)"
  echo "== image sizes on the same base (${base}: $(mb "$(image_size "${base}")"))"
  if podman image exists "${ours}"; then
    printf '  %-22s %8s  %s\n' "qmtl" "$(mb "$(image_size "${ours}")")" "${ours}"
  else
    printf '  %-22s %8s  %s\n' "qmtl" "-" "not built (scripts/images.sh build qmtl)"
  fi
  printf '  %-22s %8s  %s\n' "upstream recipe" "$(mb "$(cat "${result}")")" "QMTL's own Dockerfile recipe (qmtl[dev] with uv), same source"
}

# --- main ------------------------------------------------------------------------------------------------
CMD="build"
case "${1:-}" in
  build|lock|compare-upstream|list|list-names|podman) CMD="$1"; shift ;;
  -h|--help) usage 0 ;;
esac

if [[ ${CMD} == podman ]]; then podman_env; exec podman "$@"; fi

LOAD=0
PUSH=""
BASE="local"
REFRESH_BASE=0
QMTL_SOURCE_ARG=""
NAMES=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --load) LOAD=1; shift ;;
    --push) [[ -n ${2:-} ]] || die "--push needs a registry, e.g. --push registry.example.com/team"; PUSH="$2"; shift 2 ;;
    --push=*) PUSH="${1#--push=}"; shift ;;
    --base) [[ -n ${2:-} ]] || die "--base needs 'local' or an image"; BASE="$2"; shift 2 ;;
    --base=*) BASE="${1#--base=}"; shift ;;
    --qmtl-source) [[ -n ${2:-} ]] || die "--qmtl-source needs a git+URL@commit, a tarball or a folder"; QMTL_SOURCE_ARG="$2"; shift 2 ;;
    --qmtl-source=*) QMTL_SOURCE_ARG="${1#--qmtl-source=}"; shift ;;
    --refresh-base) REFRESH_BASE=1; shift ;;
    -h|--help) usage 0 ;;
    -*) echo "unknown option $1" >&2; usage 2 ;;
    *) NAMES+=("$1"); shift ;;
  esac
done

case "${CMD}" in
  list)
    for name in $(image_names); do echo "${REGISTRY_LOCAL}/qmtl-stack/${name}:$(app_version)"; done
    exit 0 ;;
  list-names) image_names; exit 0 ;;
  lock)
    # without names: every image whose lock is generated here (it has a requirements.in)
    if [[ ${#NAMES[@]} -eq 0 ]]; then
      for name in $(image_names); do [[ ! -f ${QMTL_ROOT}/images/${name}/requirements.in ]] || NAMES+=("${name}"); done
    fi
    for name in "${NAMES[@]}"; do lock_one "${name}"; done
    exit 0 ;;
esac

# what can be refused before anything is built
[[ ${LOAD} == 0 ]] || check_load_support
if [[ ${CMD} == build ]]; then
  for name in "${NAMES[@]}"; do
    [[ -f ${QMTL_ROOT}/images/${name}/Containerfile ]] \
      || die "no images/${name}/Containerfile (images here: $(image_names | paste -sd' ' -))"
  done
fi
if [[ -n ${PUSH} && ! ${PUSH} =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9._-]+)*$ ]]; then
  die "--push ${PUSH}: not a registry (host[:port][/path], lower case), e.g. registry.example.com/team"
fi

mkdir -p "${IMAGES_TOOLS}"
# one build at a time per checkout (pytest-xdist workers, a second terminal)
exec 8>"${IMAGES_TOOLS}/.lock"
flock 8
podman_env
T_START="$(now_s)"
if [[ ${BASE} == local ]]; then BASE_REF="$(local_base)"; else
  BASE_REF="${BASE}"
  podman image exists "${BASE_REF}" || podman pull --quiet "${BASE_REF}" >/dev/null || die "cannot pull ${BASE_REF}"
fi

if [[ ${CMD} == compare-upstream ]]; then compare_upstream "${BASE_REF}"; exit 0; fi

qmtl_source "${QMTL_SOURCE_ARG}"
if [[ ${#NAMES[@]} -eq 0 ]]; then
  mapfile -t NAMES < <(image_names)
  [[ ${#NAMES[@]} -gt 0 ]] || die "no images/*/Containerfile"
fi

BUILT=()
REPORT=()
PUSHED=()
for name in "${NAMES[@]}"; do build_one "${name}" "${BASE_REF}"; done

echo "== images (base ${BASE_REF}: $(mb "$(image_size "${BASE_REF}")"))"
printf '  %s\n' "${REPORT[@]}"
upstream="${IMAGES_TOOLS}/upstream-recipe-${QMTL_SRC_KEY:-mutable}.size"
if [[ " ${BUILT[*]} " == *" qmtl "* ]]; then
  if [[ -s ${upstream} ]]; then
    printf '  %-22s %8s  (QMTL'"'"'s own Dockerfile recipe, same source and base: scripts/images.sh compare-upstream)\n' \
      "upstream recipe" "$(mb "$(cat "${upstream}")")"
  else
    echo "  (QMTL's own Dockerfile recipe for comparison: scripts/images.sh compare-upstream, needs PyPI)"
  fi
fi
# the chart's defaults name these images; say which ones are not built here yet
for want in qmtl seamless-coordinator; do
  [[ -f ${QMTL_ROOT}/images/${want}/Containerfile ]] \
    || echo "  note: no images/${want}/Containerfile yet: the chart's default ${REGISTRY_LOCAL}/qmtl-stack/${want}:$(app_version) is not built"
done

[[ ${LOAD} == 0 ]] || load_images
[[ -z ${PUSH} ]] || push_images "${PUSH}"
[[ ${#PUSHED[@]} -eq 0 ]] || { echo "== pushed"; printf '  %s\n' "${PUSHED[@]}"; }
echo "images.sh: done in $(elapsed "${T_START}") s"
