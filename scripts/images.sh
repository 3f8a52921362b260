#!/usr/bin/env bash
# Build, load and push the container images this repository makes: one per images/<name>/Containerfile.
# Its own services: qmtl (gateway, dagmanager, worldservice) and seamless-coordinator, tagged with Chart.yaml's
# appVersion. The chart's dependencies, built from the engines the tests run (scripts/engines/install.sh):
# redis, questdb, minio and mc (values/local-dependency-images.yaml points the chart at them) and postgres
# (for the tests' container backend only: the chart's PostgreSQL needs the official image's entrypoint),
# each tagged with its engine's pinned version (pyproject.toml [tool.qmtl-stack.engines]).
#
# Usage: scripts/images.sh [build] [--load] [--push REGISTRY] [--base local|IMAGE] [--qmtl-source SRC]
#                          [--refresh-base] [NAME...]
#        scripts/images.sh lock [NAME...]
#        scripts/images.sh compare-upstream [--qmtl-source SRC]
#        scripts/images.sh list [NAME...]
#        scripts/images.sh list-names
#        scripts/images.sh podman ARGS...
#
#   build              (the default) build NAME... (default: this repository's own images, qmtl and
#                      seamless-coordinator; `dependencies` names every dependency image), tagged
#                      localhost/qmtl-stack/<name>:<version>, and print each image's size
#   --load             then load them into the local cluster's container runtime
#                      (podman save, then `scripts/local-cluster.sh import ARCHIVE.tar`)
#   --push REGISTRY    then tag them REGISTRY/qmtl-stack/<name>:<version> and push (log in first:
#                      `scripts/images.sh podman login REGISTRY`; REGISTRY_AUTH_FILE is honoured)
#   --base local       (default) the base image is made here from Debian packages: mmdebstrap of Debian
#                      bookworm with python3, python3-venv, ca-certificates and libstdc++6 (a dependency
#                      image: Debian's Essential set plus its engine's packages), then `podman import`
#                      (cached under .tools/images/base/; --refresh-base makes it again, e.g. for updates)
#   --base IMAGE       any other base for the qmtl and seamless-coordinator images, e.g.
#                      docker.io/library/python:3.11-slim-bookworm (the Containerfiles' own default),
#                      pulled when missing (the dependency images always use their local base)
#   --qmtl-source SRC  QMTL to install: a git+URL@commit, a source tarball or a folder (default: env
#                      QMTL_SOURCE, else pyproject.toml [tool.qmtl-stack.qmtl].source)
#   lock               regenerate images/NAME/requirements.lock from images/NAME/requirements.in (PyPI;
#                      default: every image that has a requirements.in)
#   compare-upstream   build QMTL's own Dockerfile recipe for the same source on the same base (needs
#                      PyPI: --network=host) and print its size beside the qmtl image's
#   list               print the reference of NAME... (default: every image), one per line
#   list-names         print the names of this repository's own images (the QMTL services' and the
#                      coordinator's; not the dependency images)
#   podman ARGS        run podman with this project's private configuration (.tools/podman/)
#
# How an image is built: the Python packages come from a wheelhouse prepared on this host
# (images/<name>/requirements.lock, every package pinned; QMTL's wheel from its source with
# images/qmtl/patches/ applied), passed in the build context as wheels/, so the build runs with
# --network=none. The build context is images/<name>/ plus wheels/; the script passes
# --build-arg BASE_IMAGE, and QMTL_WHEEL (the wheel's file name) to a Containerfile that declares it.
# A dependency image's context is images/<name>/ plus engine/ (the engine's jar or binary from
# .tools/engines/, installed there when missing); its Debian packages are in its base; the script passes
# BASE_IMAGE and UPSTREAM_VERSION (the pinned version the Containerfile checks). `podman build --layers`
# reuses every step whose inputs did not change, so a second build takes seconds.
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
  cat >"${PODMAN_DIR}/containers.conf.tmp.$$" <<EOF
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
  cat >"${PODMAN_DIR}/storage.conf.tmp.$$" <<EOF
# Written by scripts/images.sh; podman reads it through CONTAINERS_STORAGE_CONF.
[storage]
driver = "overlay"
graphroot = "${PODMAN_DIR}/storage"
runroot = "${run}/storage"
EOF
  cat >"${PODMAN_DIR}/registries.conf.tmp.$$" <<'EOF'
# Written by scripts/images.sh; podman reads it through CONTAINERS_REGISTRIES_CONF. Image names are
# always fully qualified here.
unqualified-search-registries = []
short-name-mode = "enforcing"
EOF
  local f
  # (temporary files of this process only: several may write at once, e.g. pytest-xdist workers)
  for f in containers storage registries; do
    if cmp -s "${PODMAN_DIR}/${f}.conf.tmp.$$" "${PODMAN_DIR}/${f}.conf"; then rm -f "${PODMAN_DIR}/${f}.conf.tmp.$$"
    else mv "${PODMAN_DIR}/${f}.conf.tmp.$$" "${PODMAN_DIR}/${f}.conf"; fi
  done
  export CONTAINERS_CONF="${PODMAN_DIR}/containers.conf"
  export CONTAINERS_STORAGE_CONF="${PODMAN_DIR}/storage.conf"
  export CONTAINERS_REGISTRIES_CONF="${PODMAN_DIR}/registries.conf"
  # for tests and humans: the same environment, one VAR=value a line
  printf '%s\n' "CONTAINERS_CONF=${CONTAINERS_CONF}" "CONTAINERS_STORAGE_CONF=${CONTAINERS_STORAGE_CONF}" \
    "CONTAINERS_REGISTRIES_CONF=${CONTAINERS_REGISTRIES_CONF}" >"${PODMAN_DIR}/podman.env.tmp.$$"
  mv "${PODMAN_DIR}/podman.env.tmp.$$" "${PODMAN_DIR}/podman.env"
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

# --- the dependency images --------------------------------------------------------------------------------
# The chart's dependencies, each built from the engine the tests run, so that what the chart runs is what
# the tests proved: the same Debian package (redis-server, postgresql-15) or the same artefact (QuestDB's
# jar from Maven Central, MinIO and mc built from their Go modules) at the same pin.
DEPENDENCY_IMAGES=(redis postgres questdb minio mc)
ENGINES_DIR="${QMTL_ENGINES_DIR:-${TOOLS}/engines}"
is_dependency() { local n; for n in "${DEPENDENCY_IMAGES[@]}"; do [[ $1 == "${n}" ]] && return 0; done; return 1; }
own_image_names() { local n; for n in $(image_names); do is_dependency "${n}" || echo "${n}"; done; }

# dependency_spec NAME sets, from pyproject.toml [tool.qmtl-stack.engines]:
#   DEP_VERSION   the tag: the engine's pin (for a Debian package the pinned series: Debian replaces exact
#                 revisions with security updates; the image's label records what it holds)
#   DEP_PACKAGES  the Debian packages of its base (comma-separated; the Essential set is always there)
#   DEP_HOOKS     extra mmdebstrap options for that base
#   DEP_ENGINE    the scripts/engines/install.sh engine whose file goes into the context, DEP_FILE that file
dependency_spec() {
  local e="tool.qmtl-stack.engines"
  DEP_HOOKS=(); DEP_ENGINE=""; DEP_FILE=""
  case "$1" in
    redis)
      DEP_VERSION="$(pin "${e}.redis_series")"; DEP_PACKAGES="$(pin "${e}.redis_deb")" ;;
    postgres)
      DEP_VERSION="$(pin "${e}.postgres_series")"; DEP_PACKAGES="$(pin "${e}.postgres_deb")"
      # no cluster in the image (postgresql-common creates one at install), no snakeoil key baked in, and
      # no JIT (LLVM is 150 MB; a server without its JIT provider runs every query without JIT)
      DEP_HOOKS=(--dpkgopt='path-exclude=/usr/lib/*/libLLVM*' --dpkgopt='path-exclude=/usr/lib/*/libz3.so*'
                 --dpkgopt='path-exclude=/usr/lib/postgresql/*/lib/llvmjit*'
                 --dpkgopt='path-exclude=/usr/lib/postgresql/*/lib/bitcode/*'
                 --customize-hook='rm -rf "$1"/etc/postgresql/* "$1"/var/lib/postgresql/* "$1"/etc/ssl/private/ssl-cert-snakeoil.key "$1"/etc/ssl/certs/ssl-cert-snakeoil.pem') ;;
    questdb)
      DEP_VERSION="$(pin "${e}.questdb")"; DEP_PACKAGES="$(pin "${e}.jre_deb")"
      # the JRE's postinst registers its man pages with update-alternatives, which needs the folder
      DEP_HOOKS=(--essential-hook='mkdir -p "$1/usr/share/man/man1"')
      DEP_ENGINE=questdb; DEP_FILE="${ENGINES_DIR}/questdb-${DEP_VERSION}/questdb-${DEP_VERSION}.jar" ;;
    minio|mc)
      DEP_VERSION="$(pin "${e}.$1")"; DEP_PACKAGES="ca-certificates"
      DEP_ENGINE="$1"; DEP_FILE="${ENGINES_DIR}/$1-${DEP_VERSION}/bin/$1" ;;
    *) die "no dependency image ${1}" ;;
  esac
}

# image_version NAME: the tag of NAME (appVersion for this repository's own images)
image_version() {
  if is_dependency "$1"; then dependency_spec "$1"; echo "${DEP_VERSION}"; else app_version; fi
}
image_ref() { echo "${REGISTRY_LOCAL}/qmtl-stack/$1:$(image_version "$1")"; }

mb() { awk -v b="$1" 'BEGIN { printf "%.0f MB", b / 1000000 }'; }
image_size() { podman image inspect --format '{{.Size}}' "$1"; }

# --- the base images from Debian packages -------------------------------------------------------------
# libstdc++6: manylinux wheels (grpcio, polars, ...) expect it, as every manylinux policy does; Debian's
# slim images (and python:3.11-slim-bookworm) carry it because apt needs it, the Essential set does not.
BASE_PACKAGES="python3,python3-venv,ca-certificates,libstdc++6"
# local_base [NAME PACKAGES [MMDEBSTRAP-OPTION...]]: the base of the own images (no argument), or the base
# of dependency image NAME (Debian's Essential set plus PACKAGES); made once per content key, cached as a
# tarball under .tools/images/base/ and imported into podman's store. Prints its reference.
local_base() {
  local name="${1:-}" packages="${2:-${BASE_PACKAGES}}" suite mirror security key ref tar prefix t0 cmd
  local hooks=("${@:3}")
  suite="$(pin tool.qmtl-stack.images.debian_suite)"
  mirror="$(pin tool.qmtl-stack.images.debian_mirror)"
  security="$(pin tool.qmtl-stack.images.debian_security_mirror)"
  key="$(printf '%s\n' "${suite}" "${mirror}" "${security}" "${packages}" "${hooks[@]}" "$(declare -f _mmdebstrap)" | sha256sum | cut -c1-12)"
  prefix="${name:+${name}-}${suite}"
  ref="${REGISTRY_LOCAL}/qmtl-stack/base:${prefix}-${key}"
  tar="${IMAGES_TOOLS}/base/${prefix}-${key}.tar"
  cmd='CMD ["python3"]'
  [[ -z ${name} ]] || cmd='CMD ["sh"]'
  if [[ ${REFRESH_BASE} == 1 ]]; then rm -f "${tar}"; podman image rm -f "${ref}" >/dev/null 2>&1 || true; fi
  if podman image exists "${ref}"; then echo "${ref}"; return; fi
  if [[ ! -s ${tar} ]]; then
    command -v mmdebstrap >/dev/null 2>&1 || die "mmdebstrap is not installed: run scripts/setup.sh, or pass --base docker.io/library/python:3.11-slim-bookworm"
    t0="$(now_s)"
    log "base image${name:+ of ${name}}: mmdebstrap ${suite} (${packages})"
    mkdir -p "${IMAGES_TOOLS}/base"
    _mmdebstrap "${suite}" "${mirror}" "${security}" "${tar}.tmp" "${packages}" "${hooks[@]}" \
      >"${IMAGES_TOOLS}/base/mmdebstrap-${prefix}.log" 2>&1 \
      || die "mmdebstrap failed; see ${IMAGES_TOOLS}/base/mmdebstrap-${prefix}.log"
    mv "${tar}.tmp" "${tar}"
    # older tarballs of this same base (the own images' base is <suite>-<key>.tar, a dependency's
    # <name>-<suite>-<key>.tar)
    find "${IMAGES_TOOLS}/base" -mindepth 1 -maxdepth 1 -name "${prefix}-????????????.tar" ! -name "${tar##*/}" -exec rm -f {} +
    log "base image${name:+ of ${name}}: made in $(elapsed "${t0}") s"
  fi
  podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change "${cmd}" \
    "${tar}" "${ref}" >/dev/null || die "podman import of ${tar} failed"
  echo "${ref}"
}

# Debian's Essential set plus PACKAGES (no apt, no docs, man pages or locales; merged /usr without the
# usrmerge package), with the suite's updates and security updates; then any extra mmdebstrap options.
_mmdebstrap() {
  local suite="$1" mirror="$2" security="$3" out="$4" packages="$5"
  mmdebstrap --variant=essential --format=tar --include="${packages}" \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*' \
    "${@:6}" \
    "${suite}" "${out}" \
    "deb ${mirror} ${suite} main" "deb ${mirror} ${suite}-updates main" "deb ${security} ${suite}-security main"
}

# --- build -------------------------------------------------------------------------------------------------
# build_dependency NAME: its base (Debian packages), its context (images/NAME/ + engine/ with the engine's
# file), then localhost/qmtl-stack/NAME:<engine pin>.
build_dependency() {
  local name="$1" ref ctx base t0 args=()
  t0="$(now_s)"
  dependency_spec "${name}"
  ref="$(image_ref "${name}")"
  base="$(local_base "${name}" "${DEP_PACKAGES}" "${DEP_HOOKS[@]}")"
  ctx="${IMAGES_TOOLS}/context/${name}"
  rm -rf "${ctx}"; mkdir -p "${ctx%/*}"
  cp -a "${QMTL_ROOT}/images/${name}" "${ctx}"
  mkdir -p "${ctx}/engine"
  if [[ -n ${DEP_ENGINE} ]]; then
    if [[ ! -f ${DEP_FILE} ]]; then
      log "${name}: scripts/engines/install.sh ${DEP_ENGINE}"
      QMTL_REQUIRE_ENGINES=1 "${QMTL_ROOT}/scripts/engines/install.sh" "${DEP_ENGINE}" >&2 \
        || die "${name}: the engine ${DEP_ENGINE} did not install (scripts/engines/install.sh ${DEP_ENGINE}; log: ${ENGINES_DIR}/logs/${DEP_ENGINE}.log)"
    fi
    [[ -f ${DEP_FILE} ]] || die "${name}: ${DEP_FILE} is missing after scripts/engines/install.sh ${DEP_ENGINE}"
    cp -al "${DEP_FILE}" "${ctx}/engine/" 2>/dev/null || cp -a "${DEP_FILE}" "${ctx}/engine/"
  fi
  args=(--build-arg "BASE_IMAGE=${base}" --build-arg "UPSTREAM_VERSION=${DEP_VERSION}" --pull=never
        --label "org.opencontainers.image.version=${DEP_VERSION}"
        --label "org.opencontainers.image.title=qmtl-stack/${name}"
        --label "io.qmtl-stack.base=${base}")
  log "${name}: podman build --network=none -> ${ref}"
  podman build --network=none --layers "${args[@]}" -t "${ref}" -f "${ctx}/Containerfile" "${ctx}" \
    >"${IMAGES_TOOLS}/build-${name}.log" 2>&1 \
    || { tail -n 40 "${IMAGES_TOOLS}/build-${name}.log" >&2; die "building ${name} failed; log: ${IMAGES_TOOLS}/build-${name}.log"; }
  BUILT+=("${name}")
  REPORT+=("$(printf '%-22s %8s  %s  (built in %s s)' "${name}" "$(mb "$(image_size "${ref}")")" "${ref}" "$(elapsed "${t0}")")")
}

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
    ref="$(image_ref "${name}")"
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
    ref="$(image_ref "${name}")"
    target="${registry}/qmtl-stack/${name}:$(image_version "${name}")"
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

# `dependencies` stands for every dependency image
EXPANDED=()
for name in "${NAMES[@]}"; do
  if [[ ${name} == dependencies ]]; then EXPANDED+=("${DEPENDENCY_IMAGES[@]}"); else EXPANDED+=("${name}"); fi
done
NAMES=("${EXPANDED[@]}")
for name in "${NAMES[@]}"; do
  [[ -f ${QMTL_ROOT}/images/${name}/Containerfile ]] \
    || die "no images/${name}/Containerfile (images here: $(image_names | paste -sd' ' -); 'dependencies' names ${DEPENDENCY_IMAGES[*]})"
done

case "${CMD}" in
  list)
    [[ ${#NAMES[@]} -gt 0 ]] || mapfile -t NAMES < <(image_names)
    for name in "${NAMES[@]}"; do image_ref "${name}"; done
    exit 0 ;;
  list-names) own_image_names; exit 0 ;;
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
if [[ -n ${PUSH} && ! ${PUSH} =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9._-]+)*$ ]]; then
  die "--push ${PUSH}: not a registry (host[:port][/path], lower case), e.g. registry.example.com/team"
fi
if [[ ${CMD} == build && ${#NAMES[@]} -eq 0 ]]; then
  mapfile -t NAMES < <(own_image_names)
  [[ ${#NAMES[@]} -gt 0 ]] || die "no images/*/Containerfile"
fi
OWN=()
for name in "${NAMES[@]}"; do is_dependency "${name}" || OWN+=("${name}"); done

mkdir -p "${IMAGES_TOOLS}"
# one build at a time per checkout (pytest-xdist workers, a second terminal)
exec 8>"${IMAGES_TOOLS}/.lock"
flock 8
podman_env
T_START="$(now_s)"
BASE_REF=""
if [[ ${CMD} == compare-upstream || ${#OWN[@]} -gt 0 ]]; then
  if [[ ${BASE} == local ]]; then BASE_REF="$(local_base)"; else
    BASE_REF="${BASE}"
    podman image exists "${BASE_REF}" || podman pull --quiet "${BASE_REF}" >/dev/null || die "cannot pull ${BASE_REF}"
  fi
fi

if [[ ${CMD} == compare-upstream ]]; then compare_upstream "${BASE_REF}"; exit 0; fi

[[ ${#OWN[@]} -eq 0 ]] || qmtl_source "${QMTL_SOURCE_ARG}"

BUILT=()
REPORT=()
PUSHED=()
for name in "${NAMES[@]}"; do
  if is_dependency "${name}"; then build_dependency "${name}"; else build_one "${name}" "${BASE_REF}"; fi
done

if [[ -n ${BASE_REF} ]]; then echo "== images (base ${BASE_REF}: $(mb "$(image_size "${BASE_REF}")"))"; else echo "== images"; fi
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
