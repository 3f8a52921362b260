#!/usr/bin/env bash
# A local Kubernetes control plane without Docker: etcd, kube-apiserver, kube-controller-manager and
# kube-scheduler built from their Go modules, plus kwok, which fakes the nodes and the pods' status.
#
# Usage: scripts/local-cluster.sh build|start|stop|status|kubeconfig
#   build       build the binaries into .tools/bin (no-op when cached; scripts/cluster/build.sh)
#   start       build if needed, wipe .tools/cluster/, start everything, wait for the API and for
#               Ready nodes (a running cluster is stopped first: every start is a fresh cluster)
#   stop        stop every process this script started (TERM, then KILL after 15 s)
#   status      show processes, API health and nodes; exit 0 only when the cluster is up
#   kubeconfig  print the admin kubeconfig's path:  export KUBECONFIG="$(scripts/local-cluster.sh kubeconfig)"
#
# What the cluster is: RBAC and the default admission plugins (PodSecurity included, so a namespace
# labelled pod-security.kubernetes.io/enforce=restricted is really enforced); controller-manager with
# all default controllers; the scheduler binds pods to N kwok nodes (pyproject.toml
# [tool.qmtl-stack.cluster].nodes), one per zone (topology.kubernetes.io/zone=zone-a, zone-b, ...);
# kwok marks scheduled pods Running and Ready, completes Job pods and helm test pods (simulated, see
# scripts/cluster/kwok-stages.yaml); a default StorageClass `standard` provisions hostPath PVs.
# No container runs: no logs/exec/port-forward, no Service traffic, NetworkPolicies are stored, not
# enforced. Ports (127.0.0.1 only): QMTL_CLUSTER_API_PORT (16443), QMTL_CLUSTER_ETCD_PORT (23790).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() { echo "usage: $0 build|start|stop|status|kubeconfig" >&2; exit 2; }
[[ $# == 1 ]] || usage

DIR="${TOOLS}/cluster"
PKI="${DIR}/pki"
RUN="${DIR}/run"
LOGS="${DIR}/logs"
KUBECONFIG_FILE="${DIR}/kubeconfig"
API_PORT="${QMTL_CLUSTER_API_PORT:-16443}"
ETCD_PORT="${QMTL_CLUSTER_ETCD_PORT:-23790}"
ETCD_PEER_PORT=$(( ETCD_PORT + 10 ))
SERVICE_CIDR="10.96.0.0/16"
SERVICE_IP="10.96.0.1"
POD_CIDR="10.244.0.0/16"
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
KCTL="${TOOLS_BIN}/kubectl"

# --- processes ---------------------------------------------------------------------------------------
# pid_of NAME: the pid recorded for NAME if that process is alive and is our binary, else nothing.
pid_of() {
  local f="${RUN}/$1.pid" pid
  [[ -f ${f} ]] || return 0
  pid="$(<"${f}")"
  if [[ -n ${pid} && -d /proc/${pid} && "$(readlink -f "/proc/${pid}/exe" 2>/dev/null)" == "${TOOLS_BIN}/$1" ]]; then
    echo "${pid}"
  fi
}

launch() {
  local name="$1"; shift
  setsid "${TOOLS_BIN}/${name}" "$@" >"${LOGS}/${name}.log" 2>&1 </dev/null &
  echo $! >"${RUN}/${name}.pid"
}

# stop_group NAME...: TERM them together, wait up to 15 s, then KILL what is left.
stop_group() {
  local name pid pids=() waited=0
  for name in "$@"; do
    pid="$(pid_of "${name}")"
    [[ -n ${pid} ]] && { kill -TERM "${pid}" 2>/dev/null || true; pids+=("${name}:${pid}"); }
  done
  while (( waited < 150 )); do
    local alive=0 p
    for p in "${pids[@]}"; do [[ -d /proc/${p#*:} ]] && alive=1; done
    [[ ${alive} == 1 ]] || break
    sleep 0.1; waited=$(( waited + 1 ))
  done
  for p in "${pids[@]}"; do
    if [[ -d /proc/${p#*:} ]]; then log "${p%%:*} (${p#*:}) ignored TERM; killing"; kill -KILL "${p#*:}" 2>/dev/null || true; fi
  done
  for name in "$@"; do rm -f "${RUN}/${name}.pid"; done
  STOPPED=$(( STOPPED + ${#pids[@]} ))
}

do_stop() {
  STOPPED=0
  # clients of the API first, then the API, then its store
  stop_group kwok kube-scheduler kube-controller-manager
  stop_group kube-apiserver
  stop_group etcd
  if [[ ${STOPPED} -gt 0 ]]; then log "stopped ${STOPPED} processes"; else log "not running"; fi
}

port_free() {
  "${QMTL_PY}" - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}

fail_start() {
  local name
  log "start failed: $*"
  for name in "${COMPONENTS[@]}"; do
    [[ -f "${LOGS}/${name}.log" ]] || continue
    echo "---- last lines of ${LOGS}/${name}.log" >&2
    tail -n 15 "${LOGS}/${name}.log" >&2
  done
  do_stop
  exit 1
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll until COMMAND succeeds; the component that must stay
# alive meanwhile is checked through ALIVE (names, space separated).
wait_for() {
  local timeout="$1" what="$2"; shift 2
  local deadline=$(( SECONDS + timeout )) name
  until "$@" >/dev/null 2>&1; do
    for name in ${ALIVE:-}; do
      [[ -n "$(pid_of "${name}")" ]] || fail_start "${name} exited while waiting for ${what}"
    done
    (( SECONDS < deadline )) || fail_start "timed out after ${timeout} s waiting for ${what}"
    sleep 0.3
  done
}

# --- certificates and kubeconfigs ----------------------------------------------------------------------
gen_pki() {
  mkdir -p "${PKI}"
  # ECDSA P-256 keys: generated in milliseconds (RSA takes seconds on a busy machine)
  local o=(-days 3650 -sha256) ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1)
  openssl req -x509 -new -nodes "${ec[@]}" -keyout "${PKI}/ca.key" -out "${PKI}/ca.crt" \
    "${o[@]}" -subj "/CN=qmtl-local-ca" 2>/dev/null
  # service-account token signing key pair (ES256)
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "${PKI}/sa.key" 2>/dev/null
  openssl pkey -in "${PKI}/sa.key" -pubout -out "${PKI}/sa.pub" 2>/dev/null
  # leaf NAME SUBJECT EXTENSIONS
  leaf() {
    printf '%s\n' "$3" >"${PKI}/$1.ext"
    openssl req -new -nodes "${ec[@]}" -keyout "${PKI}/$1.key" -out "${PKI}/$1.csr" -subj "$2" 2>/dev/null
    openssl x509 -req -in "${PKI}/$1.csr" -CA "${PKI}/ca.crt" -CAkey "${PKI}/ca.key" -CAcreateserial \
      "${o[@]}" -extfile "${PKI}/$1.ext" -out "${PKI}/$1.crt" 2>/dev/null
    rm -f "${PKI}/$1.csr" "${PKI}/$1.ext"
  }
  local client="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
  leaf apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:${SERVICE_IP},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  leaf admin "/O=system:masters/CN=qmtl-admin" "${client}"
  leaf controller-manager "/CN=system:kube-controller-manager" "${client}"
  leaf scheduler "/CN=system:kube-scheduler" "${client}"
  # kwok writes node and pod status for every node it manages: cluster-admin like a node agent fleet
  leaf kwok "/O=system:masters/CN=system:kwok" "${client}"
}

write_kubeconfig() { # FILE USER
  local b64="base64 -w0"
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: qmtl-local
  cluster:
    server: https://127.0.0.1:${API_PORT}
    certificate-authority-data: $(${b64} <"${PKI}/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(${b64} <"${PKI}/$2.crt")
    client-key-data: $(${b64} <"${PKI}/$2.key")
contexts:
- name: qmtl-local
  context:
    cluster: qmtl-local
    user: $2
current-context: qmtl-local
EOF
  chmod 600 "$1"
}

# --- kwok configuration -----------------------------------------------------------------------------
kwok_config() {
  local upstream
  upstream="${TOOLS}/kwok/stages-$(pin tool.qmtl-stack.cluster.kwok).yaml"
  [[ -f ${upstream} ]] || die "missing ${upstream}; run: $0 build"
  { cat "${upstream}"; echo "---"; cat "${QMTL_ROOT}/scripts/cluster/kwok-stages.yaml"; } >"${DIR}/kwok.yaml"
}

nodes_manifest() {
  local n="$1" i zones=(a b c d e f g h)
  for (( i = 0; i < n; i++ )); do
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-${i}
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: kwok-node-${i}
    kubernetes.io/os: linux
    kubernetes.io/role: agent
    node-role.kubernetes.io/agent: ""
    type: kwok
    topology.kubernetes.io/region: local
    topology.kubernetes.io/zone: zone-${zones[i % 8]}
status:
  allocatable: {cpu: "16", memory: 64Gi, pods: "110", ephemeral-storage: 200Gi}
  capacity: {cpu: "16", memory: 64Gi, pods: "110", ephemeral-storage: 200Gi}
EOF
  done
}

# --- start ------------------------------------------------------------------------------------------
nodes_ready() {
  local want="$1" ready
  ready="$("${KCTL}" --kubeconfig "${KUBECONFIG_FILE}" get nodes \
    -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$')"
  [[ ${ready} -ge ${want} ]]
}

do_start() {
  local t0 n k
  t0="$(now_s)"
  "${QMTL_ROOT}/scripts/cluster/build.sh" kube etcd kwok
  do_stop >/dev/null 2>&1 || true
  for p in "${API_PORT}" "${ETCD_PORT}" "${ETCD_PEER_PORT}"; do
    port_free "${p}" || die "127.0.0.1:${p} is in use (set QMTL_CLUSTER_API_PORT / QMTL_CLUSTER_ETCD_PORT)"
  done
  rm -rf "${DIR}"
  mkdir -p "${DIR}" "${RUN}" "${LOGS}"
  gen_pki
  write_kubeconfig "${KUBECONFIG_FILE}" admin
  write_kubeconfig "${DIR}/controller-manager.kubeconfig" controller-manager
  write_kubeconfig "${DIR}/scheduler.kubeconfig" scheduler
  write_kubeconfig "${DIR}/kwok.kubeconfig" kwok
  kwok_config
  n="$(pin tool.qmtl-stack.cluster.nodes)"
  k=(--kubeconfig "${KUBECONFIG_FILE}")

  launch etcd --name=qmtl-local --data-dir="${DIR}/etcd" \
    --listen-client-urls="http://127.0.0.1:${ETCD_PORT}" --advertise-client-urls="http://127.0.0.1:${ETCD_PORT}" \
    --listen-peer-urls="http://127.0.0.1:${ETCD_PEER_PORT}" --initial-advertise-peer-urls="http://127.0.0.1:${ETCD_PEER_PORT}" \
    --initial-cluster="qmtl-local=http://127.0.0.1:${ETCD_PEER_PORT}" \
    --unsafe-no-fsync --quota-backend-bytes=2147483648 --log-level=warn
  log "$(elapsed "${t0}") s: certificates and kubeconfigs written; etcd starting"
  ALIVE="etcd" wait_for 30 "etcd" "${QMTL_PY}" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${ETCD_PORT}/health', timeout=1)"

  launch kube-apiserver \
    --etcd-servers="http://127.0.0.1:${ETCD_PORT}" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="${API_PORT}" \
    --tls-cert-file="${PKI}/apiserver.crt" --tls-private-key-file="${PKI}/apiserver.key" \
    --client-ca-file="${PKI}/ca.crt" \
    --authorization-mode=Node,RBAC \
    --enable-admission-plugins=NodeRestriction \
    --allow-privileged=true \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="${PKI}/sa.pub" --service-account-signing-key-file="${PKI}/sa.key" \
    --service-cluster-ip-range="${SERVICE_CIDR}" \
    --endpoint-reconciler-type=none \
    --profiling=false
  ALIVE="etcd kube-apiserver" wait_for 90 "kube-apiserver /readyz" "${KCTL}" "${k[@]}" get --raw /readyz
  log "$(elapsed "${t0}") s: kube-apiserver ready"

  launch kube-controller-manager \
    --kubeconfig="${DIR}/controller-manager.kubeconfig" \
    --authentication-kubeconfig="${DIR}/controller-manager.kubeconfig" \
    --authorization-kubeconfig="${DIR}/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=0 \
    --leader-elect=false \
    --use-service-account-credentials=true \
    --service-account-private-key-file="${PKI}/sa.key" --root-ca-file="${PKI}/ca.crt" \
    --cluster-signing-cert-file="${PKI}/ca.crt" --cluster-signing-key-file="${PKI}/ca.key" \
    --enable-hostpath-provisioner=true \
    --kube-api-qps=100 --kube-api-burst=200 \
    --profiling=false
  launch kube-scheduler \
    --kubeconfig="${DIR}/scheduler.kubeconfig" \
    --authentication-kubeconfig="${DIR}/scheduler.kubeconfig" \
    --authorization-kubeconfig="${DIR}/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=0 \
    --leader-elect=false --kube-api-qps=100 --kube-api-burst=200 --profiling=false
  launch kwok --kubeconfig="${DIR}/kwok.kubeconfig" --config="${DIR}/kwok.yaml" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --manage-nodes-with-label-selector= --manage-single-node= \
    --cidr="${POD_CIDR}" --node-ip=10.0.0.1 --node-lease-duration-seconds=40

  "${KCTL}" "${k[@]}" apply -f "${QMTL_ROOT}/scripts/cluster/bootstrap.yaml" >/dev/null
  nodes_manifest "${n}" | "${KCTL}" "${k[@]}" apply -f - >/dev/null
  local all="etcd kube-apiserver kube-controller-manager kube-scheduler kwok"
  ALIVE="${all}" wait_for 60 "${n} Ready kwok nodes" nodes_ready "${n}"
  log "$(elapsed "${t0}") s: ${n} kwok nodes Ready"
  # the controllers are up once the service-account and root-CA controllers have done their work
  ALIVE="${all}" wait_for 60 "the default ServiceAccount" "${KCTL}" "${k[@]}" -n default get serviceaccount default
  ALIVE="${all}" wait_for 60 "the kube-root-ca.crt ConfigMap" "${KCTL}" "${k[@]}" -n default get configmap kube-root-ca.crt
  log "up in $(elapsed "${t0}") s: Kubernetes $(pin tool.qmtl-stack.cluster.kubernetes), ${n} kwok nodes"
  log "export KUBECONFIG=${KUBECONFIG_FILE}"
}

do_status() {
  local name pid rc=0
  for name in etcd kube-apiserver kube-controller-manager kube-scheduler kwok; do
    pid="$(pid_of "${name}")"
    if [[ -n ${pid} ]]; then printf '  %-24s running (pid %s)\n' "${name}" "${pid}"
    else printf '  %-24s stopped\n' "${name}"; rc=1; fi
  done
  if [[ ${rc} == 0 ]] && "${KCTL}" --kubeconfig "${KUBECONFIG_FILE}" get --raw /readyz >/dev/null 2>&1; then
    echo "  API https://127.0.0.1:${API_PORT} ready; KUBECONFIG=${KUBECONFIG_FILE}"
    "${KCTL}" --kubeconfig "${KUBECONFIG_FILE}" get nodes -L topology.kubernetes.io/zone
  else
    echo "  API not ready"; rc=1
  fi
  return "${rc}"
}

case "$1" in
  build) "${QMTL_ROOT}/scripts/cluster/build.sh" kube etcd kwok ;;
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  kubeconfig) [[ -f ${KUBECONFIG_FILE} ]] || die "no cluster started yet: $0 start"; echo "${KUBECONFIG_FILE}" ;;
  *) usage ;;
esac
