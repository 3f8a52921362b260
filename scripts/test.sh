#!/usr/bin/env bash
# The one test command: set-up (fast when done), lint, the render tests under Helm 3 and Helm 4, then ONE local
# cluster with its real node for everything that needs a cluster: this repository's images built and loaded
# onto the node, the smoke tests once per Helm (the chart's pods really run there), the real node's own tests,
# and last the cluster's lifecycle tests.
#
# Usage: scripts/test.sh [--no-smoke|--smoke-only] [--no-node] [--helm helm3|helm4] [--] [PYTEST_ARGS...]
#   --no-smoke        skip the cluster phases (and the local cluster in set-up)
#   --smoke-only      skip ruff and the render phase
#   --no-node         skip the node phases (tests/cluster)
#   --helm NAME       run one Helm version only (default: helm3 then helm4)
#   PYTEST_ARGS       passed to every pytest run (e.g. -k schema, -x, tests/test_chart_package.py)
#
# Phases (each timed; any nonzero exit fails the script, pytest's 5 = "no tests collected" included):
#   setup         scripts/setup.sh
#   ruff          ruff check .
#   ruff-format   ruff format --check .
#   render/H      QMTL_HELM=H pytest -n auto -m "not smoke"                  for H in helm3 helm4
#   cluster-start scripts/local-cluster.sh start --fresh   (control plane, real node, kwok nodes)
#   images        scripts/images.sh build --load   (onto the real node: qmtl, seamless-coordinator and the
#                 dependency images values/local-dependency-images.yaml names)
#   smoke/H       KUBECONFIG=...; QMTL_HELM=H pytest -n 0 -m "smoke and not node and not node_lifecycle"
#                 (dev, dev + coordinator and prod installed with their pods running on the real node; Redis,
#                 QuestDB and MinIO bundled, the other dependencies as managed services:
#                 tests/smoke/real-node.yaml)                                         for H in helm3 helm4
#                 (the runtime guard, SDK worker, NetworkPolicy matrix, broken-credential and restart checks do
#                 not depend on the Helm: they run under the first one only, QMTL_SMOKE_CLUSTER_CHECKS=0 after)
#   node          pytest -n 0 -m node (tests/cluster: pods, logs, exec, port-forward, Services, DNS,
#                 NetworkPolicies, image import on the real node)
#   node-lifecycle  QMTL_CLUSTER_LIFECYCLE=1 pytest -n 0 -m node_lifecycle (crashes, stop, restart, scripts/up.sh
#                 with no cluster); it stops the cluster
#   cluster-stop  scripts/local-cluster.sh stop  (also on failure or Ctrl-C)
# Each phase's output is also kept in .cache/test-logs/PHASE.log; at the end, after the phase times, the
# FAILED/ERROR lines of pytest's summary are repeated for every phase that failed (a long log's tail is often
# all a CI report shows).
# Environment passed through: QMTL_REQUIRE_ENGINES (1: tests needing real servers fail, not skip).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

SMOKE=1
RENDER=1
NODE=1
HELMS=(helm3 helm4)
PYTEST_ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-smoke) SMOKE=0; shift ;;
    --smoke-only) RENDER=0; shift ;;
    --no-node) NODE=0; shift ;;
    --helm)
      [[ ${2:-} == helm3 || ${2:-} == helm4 ]] || { echo "--helm takes helm3 or helm4" >&2; exit 2; }
      HELMS=("$2"); shift 2 ;;
    -h|--help) sed -n '2,34p' "$0"; exit 0 ;;
    --) shift; PYTEST_ARGS+=("$@"); break ;;
    *) PYTEST_ARGS+=("$1"); shift ;;
  esac
done

cd "${QMTL_ROOT}"
PHASES=()
FAILED=0
CLUSTER_UP=0
LOG_DIR="${QMTL_ROOT}/.cache/test-logs"
FAILED_LOGS=()

summary() {
  local rc=$?
  if [[ ${CLUSTER_UP} == 1 ]]; then
    scripts/local-cluster.sh stop || true
    CLUSTER_UP=0
  fi
  if [[ ${#PHASES[@]} -gt 0 ]]; then
    echo "== test.sh phases (wall time) =="
    printf '  %s\n' "${PHASES[@]}"
  fi
  local log
  for log in "${FAILED_LOGS[@]}"; do
    echo "== failures in ${log#"${QMTL_ROOT}/"}"
    grep -E '^(FAILED|ERROR) ' "${log}" | cut -c1-400 || echo "  (no pytest FAILED/ERROR line: see the log)"
  done
  if [[ ${rc} == 0 && ${FAILED} != 0 ]]; then rc=1; fi
  [[ ${rc} == 0 ]] && echo "test.sh: all phases passed" || echo "test.sh: FAILED"
  exit "${rc}"
}
# A signal stops the running phase's command (bash would otherwise wait for it), then EXIT stops the
# cluster and prints the phases.
CHILD=""
on_signal() {
  if [[ -n ${CHILD} ]]; then kill -TERM "${CHILD}" 2>/dev/null || true; wait "${CHILD}" 2>/dev/null || true; fi
  exit 130
}
trap summary EXIT
trap on_signal INT TERM

# phase NAME COMMAND...: run, time and record; a failure is remembered, the next phases still run.
phase() {
  local name="$1"; shift
  local t0 rc=0
  t0="$(now_s)"
  local log="${LOG_DIR}/${name//\//-}.log"
  mkdir -p "${LOG_DIR}"
  echo "== ${name}: $*"
  "$@" > >(tee "${log}") 2>&1 &
  CHILD=$!
  wait "${CHILD}" || rc=$?
  CHILD=""
  local msg
  msg="${name}: $(elapsed "${t0}") s"
  if [[ ${rc} != 0 ]]; then
    FAILED=1
    FAILED_LOGS+=("${log}")
    if [[ ${rc} == 5 ]]; then msg+="  FAILED (pytest exit 5: no tests collected)"; else msg+="  FAILED (exit ${rc})"; fi
  fi
  PHASES+=("${msg}")
  return "${rc}"
}

setup_args=()
[[ ${SMOKE} == 1 ]] || setup_args+=(--no-cluster)
phase setup scripts/setup.sh "${setup_args[@]}" || exit 1

export PATH="${TOOLS_BIN}:${QMTL_ROOT}/.venv/bin:${PATH}"
PYTEST="${QMTL_ROOT}/.venv/bin/pytest"

if [[ ${RENDER} == 1 ]]; then
  phase ruff "${QMTL_ROOT}/.venv/bin/ruff" check . || true
  phase ruff-format "${QMTL_ROOT}/.venv/bin/ruff" format --check . || true
  for h in "${HELMS[@]}"; do
    QMTL_HELM="${h}" phase "render/${h}" "${PYTEST}" -n auto -m "not smoke" "${PYTEST_ARGS[@]}" || true
  done
fi

if [[ ${SMOKE} == 1 ]]; then
  CLUSTER_UP=1
  # The images the smoke installs run on the real node: this repository's own, and the dependency images
  # values/local-dependency-images.yaml names (the dependencies tests/smoke/real-node.yaml bundles).
  mapfile -t NODE_IMAGES < <(
    "${QMTL_ROOT}/scripts/images.sh" list-names
    grep -o 'localhost/qmtl-stack/[a-z]*' "${QMTL_ROOT}/values/local-dependency-images.yaml" | sed 's#.*/##' | sort -u
  )
  if phase cluster-start scripts/local-cluster.sh start --fresh \
     && phase images scripts/images.sh build --load "${NODE_IMAGES[@]}"; then
    export KUBECONFIG
    KUBECONFIG="$(scripts/local-cluster.sh kubeconfig)"
    # the checks of the cluster's treatment of a running release do not depend on the Helm: the first one only
    checks=1
    for h in "${HELMS[@]}"; do
      QMTL_SMOKE_CLUSTER_CHECKS="${checks}" QMTL_HELM="${h}" phase "smoke/${h}" "${PYTEST}" -n 0 \
        -m "smoke and not node and not node_lifecycle" "${PYTEST_ARGS[@]}" || true
      checks=0
    done
    if [[ ${NODE} == 1 ]]; then
      phase node "${PYTEST}" -n 0 -m node "${PYTEST_ARGS[@]}" || true
      # starts, crashes and stops the cluster itself, beginning with the one the phases above used
      QMTL_CLUSTER_LIFECYCLE=1 phase node-lifecycle "${PYTEST}" -n 0 -m node_lifecycle "${PYTEST_ARGS[@]}" || true
    fi
  fi
  phase cluster-stop scripts/local-cluster.sh stop || true
  CLUSTER_UP=0
fi
