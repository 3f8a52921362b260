#!/usr/bin/env bash
# The local Kubernetes cluster without Docker: a control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler), one REAL node on which containers run (containerd + runc +
# bridge CNI, kubelet, kube-proxy, CoreDNS, kube-router's NetworkPolicy enforcer) and kwok's fake nodes
# for what cannot run here. Every binary is built from its Go module (scripts/cluster/build.sh).
#
# Usage: scripts/local-cluster.sh COMMAND
#   build               build the binaries and images (no-op when cached; scripts/cluster/build.sh)
#   start [--kwok-only] [--fresh]
#                       build if needed, stop a running cluster, start, and wait until the API answers,
#                       every node is Ready and (real node) CoreDNS is Ready. The cluster's state (etcd's
#                       data, the certificates, the PersistentVolumes' data: .tools/cluster-state/) is kept
#                       across stop/start, so what was installed comes back, its pods restarted on the node;
#                       --fresh (or a start in the other mode) begins with an empty cluster instead.
#                       --kwok-only: no real node; the kwok nodes take every pod (no container runs)
#   stop                stop everything this script started and remove what it made (namespaces,
#                       mounts, cgroups, pod sandboxes); safe to repeat, and after a crash. The state stays.
#   restart             stop, then start again in the same mode, with the same state
#   status              processes, API health and nodes; exit 0 only when the cluster is up
#   kubeconfig          print the admin kubeconfig's path:  export KUBECONFIG="$(scripts/local-cluster.sh kubeconfig)"
#   import ARCHIVE.tar  load a docker-archive (`podman save --format docker-archive`) into the real node's
#                       containerd (namespace k8s.io); imported images survive stop/start
#   exec CMD [ARG...]   run CMD in the cluster's network namespace (pods reach it at the node IP, 10.0.0.1)
#   ctr ARG...          containerd's ctr against the real node (namespace k8s.io), e.g. `ctr images ls`
#   info                the cluster's addresses and paths as KEY=VALUE lines
#   reset               stop, then delete the cluster's state and the node's image store (.tools/cluster-store)
#
# Where things run (details: scripts/cluster/README.md): everything, control plane included, runs in a
# network namespace and a mount namespace of its own, made by `start` and gone after `stop`. Nothing in
# it routes or NATs anywhere else: it has no route but its own bridge and addresses. The only bridge to
# the host is nsforward on 127.0.0.1:QMTL_CLUSTER_API_PORT (16443) -> the API server inside, for kubectl,
# helm and `kubectl port-forward`. QMTL_CLUSTER_ETCD_PORT is no longer used (etcd listens inside).
# Needs root (namespaces, mounts, cgroups, iptables inside the namespace).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() { sed -n '7,28s/^# \{0,1\}//p' "$0" >&2; exit 2; }

DIR="${TOOLS}/cluster"                 # one run: wiped by every start
STATE="${TOOLS}/cluster-state"         # kept across stop/start (start --fresh and reset wipe it): etcd's data,
                                       # the certificates, the PersistentVolumes' directories
STORE="${TOOLS}/cluster-store"         # kept across runs: the real node's containerd root (images)
IMAGES_DIR="${TOOLS}/cluster-images"   # the cluster's own images (scripts/cluster/build.sh images)
PKI="${STATE}/pki"
RUN="${DIR}/run"
LOGS="${DIR}/logs"
KUBECONFIG_FILE="${DIR}/kubeconfig"
API_PORT="${QMTL_CLUSTER_API_PORT:-16443}"
# names what this cluster makes outside its directories (cgroups, mount sources): the port and the
# checkout, so two checkouts never touch each other's cluster
INSTANCE="qmtl-${API_PORT}-$(printf '%s' "${DIR}" | sha256sum | cut -c1-8)"
KCTL="${TOOLS_BIN}/kubectl"

# Inside the namespace (nothing of this exists outside it)
INNER_API_PORT=6443
ETCD_CLIENT="127.0.0.1:2379"
ETCD_PEER="127.0.0.1:2380"
NODE_NAME="qmtl-node"
NODE_IP="10.0.0.1"                     # on the namespace's loopback: the API server, kubelet, NodePorts
KWOK_NODE_IP="10.0.0.2"                # the kwok nodes' advertised IP: nothing answers there
SERVICE_CIDR="10.96.0.0/16"
SERVICE_IP="10.96.0.1"
DNS_IP="10.96.0.10"
CLUSTER_CIDR="10.244.0.0/16"
NODE_POD_CIDR="10.244.0.0/24"          # the real node's pods (bridge cni0, gateway 10.244.0.1)
KWOK_POD_CIDR="10.244.128.0/17"        # addresses kwok writes into fake pods' status; nothing has them
CLUSTER_DOMAIN="cluster.local"

CONTAINERD_SOCK="${DIR}/containerd/containerd.sock"
CGROUP_ROOT="/${INSTANCE}"
CONTROL_PLANE=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok local-volumes)
NODE_PROCS=(containerd kubelet kube-proxy kube-router)

# --- processes ------------------------------------------------------------------------------------------
# Each started process has RUN/NAME.pid: "PID EXE". pid_of NAME prints PID if that process is alive and
# still runs EXE (a recycled PID is not ours), also when EXE was rebuilt meanwhile ("EXE (deleted)").
pid_of() {
  local f="${RUN}/$1.pid" pid exe running
  [[ -f ${f} ]] || return 0
  read -r pid exe <"${f}" || true
  [[ -n ${exe} ]] || exe="${TOOLS_BIN}/$1"   # a pid file of the script before the real node: "PID" only
  [[ -n ${pid} ]] && alive "${pid}" || return 0
  running="$(readlink "/proc/${pid}/exe" 2>/dev/null)" || return 0
  if [[ ${running} == "${exe}" || ${running} == "${exe} (deleted)" ]]; then echo "${pid}"; fi
}

holder_pid() { pid_of netns-holder; }

# alive PID: the process exists and has not exited (this machine's init reaps zombies only about once a
# second, so "/proc/PID exists" is not enough).
alive() {
  local stat
  read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
  stat="${stat##*) }"
  [[ ${stat%% *} != Z ]]
}

# in_ns CMD...: run CMD in the cluster's network and mount namespaces.
in_ns() {
  local h; h="$(holder_pid)"
  [[ -n ${h} ]] || die "the cluster's namespaces are gone (not started, or crashed): $0 start"
  nsenter --target "${h}" --net --mount -- "$@"
}

# launch_host NAME EXE ARGS...: start EXE on the host, detached, logging to LOGS/NAME.log.
launch_host() {
  local name="$1" exe="$2"; shift 2
  setsid "${exe}" "$@" >"${LOGS}/${name}.log" 2>&1 </dev/null 9>&- &
  echo "$! $(readlink -f "${exe}")" >"${RUN}/${name}.pid"
}

# launch NAME EXE ARGS...: start EXE inside the namespaces, detached, logging to LOGS/NAME.log.
launch() {
  local name="$1" exe="$2"; shift 2
  local h; h="$(holder_pid)"
  # nsenter execs EXE (no fork), so $! is EXE's pid once it runs
  PATH="${DIR}/node/bin:${PATH}" setsid nsenter --target "${h}" --net --mount -- "${exe}" "$@" \
    >"${LOGS}/${name}.log" 2>&1 </dev/null 9>&- &
  echo "$! $(readlink -f "${exe}")" >"${RUN}/${name}.pid"
}

# stop_group NAME...: TERM them together, wait up to 15 s, then KILL what is left.
stop_group() {
  local name pid pids=() waited=0 p
  for name in "$@"; do
    pid="$(pid_of "${name}")"
    [[ -n ${pid} ]] && { kill -TERM "${pid}" 2>/dev/null || true; pids+=("${name}:${pid}"); }
  done
  while (( waited < 150 )); do
    local any=0
    for p in "${pids[@]}"; do alive "${p#*:}" && any=1; done
    [[ ${any} == 1 ]] || break
    sleep 0.1; waited=$(( waited + 1 ))
  done
  for p in "${pids[@]}"; do
    if alive "${p#*:}"; then log "${p%%:*} (${p#*:}) ignored TERM; killing"; kill -KILL "${p#*:}" 2>/dev/null || true; fi
  done
  for name in "$@"; do rm -f "${RUN}/${name}.pid"; done
  STOPPED=$(( STOPPED + ${#pids[@]} ))
}

# The cgroup directories kubelet made for pods (cgroupRoot /qmtl-PORT) in every hierarchy.
cgroup_dirs() {
  local d
  for d in /sys/fs/cgroup/*"${CGROUP_ROOT}" /sys/fs/cgroup"${CGROUP_ROOT}"; do
    [[ -d ${d} ]] && echo "${d}"
  done
  return 0
}

# kill_cgroups: KILL every process in the pods' cgroups (containers, pause), then remove the cgroups.
kill_cgroups() {
  local d pids tries=0
  while :; do
    pids="$(for d in $(cgroup_dirs); do find "${d}" -name cgroup.procs -exec cat {} + 2>/dev/null; done | sort -u)"
    [[ -n ${pids} ]] || break
    # shellcheck disable=SC2086
    kill -KILL ${pids} 2>/dev/null || true
    (( ++tries < 50 )) || { log "processes survive in ${CGROUP_ROOT}: ${pids//$'\n'/ }"; break; }
    sleep 0.1
  done
  for d in $(cgroup_dirs); do find "${d}" -depth -type d -exec rmdir {} + 2>/dev/null || true; done
}

# Namespace identities ("net:[N]" and "mnt:[N]") are recorded at start, so processes left in them after
# a crash (the holder gone) are still found. The kernel hands a freed namespace's number to the next new
# namespace at once, so the record counts only while the holder, or a process with this cluster's tmpfs
# mounts, is still in them.
#
# ns_members NET MNT: "PID" for each live process (not the holder) in either namespace, "PID ours" for
# one proving the namespaces are this cluster's (it has the cluster's mounts). One scan of /proc.
ns_members() {
  "${QMTL_PY}" - "$1" "$2" "$(holder_pid)" " tmpfs ${INSTANCE} " <<'PYEOF'
import os, sys
net, mnt, holder, marker = sys.argv[1:5]
for pid in os.listdir("/proc"):
    if not pid.isdigit() or pid == holder:
        continue
    try:
        with open(f"/proc/{pid}/stat") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                continue
        in_net = os.readlink(f"/proc/{pid}/ns/net") == net
        in_mnt = os.readlink(f"/proc/{pid}/ns/mnt") == mnt
        if not (in_net or in_mnt):
            continue
        with open(f"/proc/{pid}/mountinfo") as mounts:
            ours = in_net and in_mnt and marker in mounts.read()
    except OSError:
        continue  # gone meanwhile
    print(pid, "ours" if ours else "")
PYEOF
}

# kill_namespace_members: KILL every process in the cluster's namespaces but the holder (stopped last: it
# keeps the numbers this cluster's), checking before each round that they still are.
kill_namespace_members() {
  local f="${RUN}/namespaces" net mnt members h tries=0 pid flag victims
  local -A seen=()
  [[ -f ${f} ]] || return 0
  read -r net mnt <"${f}"
  while :; do
    members="$(ns_members "${net}" "${mnt}")"
    [[ -n ${members} ]] || break
    h="$(holder_pid)"
    if ! [[ -n ${h} && "$(readlink "/proc/${h}/ns/net" 2>/dev/null)" == "${net}" ]] && [[ ${members} != *ours* ]]; then
      log "the recorded namespaces (${net} ${mnt}) are no longer this cluster's: nothing to stop there"
      break
    fi
    victims=()
    while read -r pid flag; do victims+=("${pid}"); seen[${pid}]=1; done <<<"${members}"
    kill -KILL "${victims[@]}" 2>/dev/null || true
    (( ++tries < 50 )) || { log "processes survive in the cluster's namespaces: ${victims[*]}"; break; }
    sleep 0.1
  done
  STOPPED=$(( STOPPED + ${#seen[@]} ))
}

# ctr_node ARGS...: ctr against the real node's containerd, namespace k8s.io.
ctr_node() { ctr --address "${CONTAINERD_SOCK}" --namespace k8s.io "$@"; }

# purge_containers: delete every task and container record (the pods' sandboxes and containers), so the
# next start begins with an empty node while the image store stays.
purge_containers() {
  local id
  for id in $(ctr_node tasks ls -q 2>/dev/null); do ctr_node tasks delete --force "${id}" >/dev/null 2>&1 || true; done
  for id in $(ctr_node containers ls -q 2>/dev/null); do ctr_node containers delete "${id}" >/dev/null 2>&1 || true; done
  [[ -z "$(ctr_node containers ls -q 2>/dev/null)" ]]
}

do_stop() {
  STOPPED=0
  # the node's agents first (nothing restarts pods), then the pods, then containerd's records of them
  stop_group kube-router kube-proxy kubelet
  kill_cgroups
  if [[ -n "$(pid_of containerd)" ]]; then
    if purge_containers; then touch "${STORE}/clean-stop"; else log "containerd kept container records; the next start purges them"; fi
  fi
  stop_group containerd
  # clients of the API, then the API, then its store, then the bridge to the host
  stop_group kwok kube-scheduler kube-controller-manager local-volumes
  stop_group kube-apiserver
  stop_group etcd
  stop_group nsforward
  # whatever is still inside (containerd shims, anything `exec` started), then the namespaces' holder:
  # when the last member is gone the kernel removes the namespaces with every mount, bridge, veth,
  # address and iptables rule in them
  kill_namespace_members
  stop_group netns-holder
  kill_cgroups
  rm -f "${RUN}/namespaces"
  if [[ -f "${RUN}/made-dirs" ]]; then
    # shellcheck disable=SC2046
    rmdir $(<"${RUN}/made-dirs") 2>/dev/null || true
    rm -f "${RUN}/made-dirs"
  fi
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
  local f
  log "start failed: $*"
  [[ ${RESUMED:-0} == 0 ]] || log "it resumed the state kept in ${STATE}: try $0 start --fresh"
  for f in "${LOGS}"/*.log; do
    [[ -f ${f} ]] || continue
    echo "---- last lines of ${f}" >&2
    tail -n 15 "${f}" >&2
  done
  do_stop
  exit 1
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll until COMMAND succeeds; the processes named in ALIVE
# (space separated) must stay alive meanwhile.
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
  local server="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth"
  leaf apiserver "/CN=kube-apiserver" "${server}
subjectAltName=IP:127.0.0.1,IP:${NODE_IP},IP:${SERVICE_IP},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.${CLUSTER_DOMAIN}"
  leaf admin "/O=system:masters/CN=qmtl-admin" "${client}"
  leaf controller-manager "/CN=system:kube-controller-manager" "${client}"
  leaf scheduler "/CN=system:kube-scheduler" "${client}"
  # kwok writes node and pod status for every node it manages: cluster-admin like a node agent fleet
  leaf kwok "/O=system:masters/CN=system:kwok" "${client}"
  # the storage provisioner, bound in scripts/cluster/bootstrap.yaml
  leaf local-volumes "/CN=system:qmtl-local-volumes" "${client}"
  if [[ ${MODE} == node ]]; then
    # the kubelet's identity for the Node authorizer and NodeRestriction, and its serving certificate,
    # which the API server verifies (--kubelet-certificate-authority)
    leaf kubelet "/O=system:nodes/CN=system:node:${NODE_NAME}" "${client}"
    leaf kubelet-serving "/CN=${NODE_NAME}" "${server}
subjectAltName=IP:${NODE_IP},DNS:${NODE_NAME}"
    # the API server's client identity towards kubelets (logs, exec, port-forward)
    leaf apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "${client}"
    # bound to ClusterRole system:node-proxier by Kubernetes' default policy
    leaf kube-proxy "/CN=system:kube-proxy" "${client}"
    # bound in scripts/cluster/node.yaml to a read-only ClusterRole
    leaf kube-router "/CN=system:kube-router" "${client}"
  fi
}

write_kubeconfig() { # FILE USER SERVER
  local b64="base64 -w0"
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: qmtl-local
  cluster:
    server: $3
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

# With a real node the kwok nodes carry kwok's taint: a pod goes there only if it tolerates it (and
# selects type=kwok); everything else runs on the real node.
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
EOF
    if [[ ${MODE} == node ]]; then
      cat <<EOF
spec:
  taints:
  - {key: kwok.x-k8s.io/node, value: fake, effect: NoSchedule}
EOF
    fi
    cat <<EOF
status:
  allocatable: {cpu: "16", memory: 64Gi, pods: "110", ephemeral-storage: 200Gi}
  capacity: {cpu: "16", memory: 64Gi, pods: "110", ephemeral-storage: 200Gi}
EOF
  done
}

# The real node's object is created before its kubelet registers, so its pod CIDR (which the CNI
# configuration needs before the first pod) and its labels are there from the first moment.
real_node_manifest() {
  cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: ${NODE_NAME}
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: ${NODE_NAME}
    kubernetes.io/os: linux
    type: real
    topology.kubernetes.io/region: local
    topology.kubernetes.io/zone: zone-a
spec:
  podCIDR: ${NODE_POD_CIDR}
  podCIDRs: [${NODE_POD_CIDR}]
EOF
}

# --- the namespaces -----------------------------------------------------------------------------------
# A holder process (sleep) anchors a new network namespace and a new private mount namespace; every
# process of the cluster joins both. Inside:
#   lo: 127.0.0.1 and the node IP; the pods' bridge cni0 (10.244.0.1/24, routes to the pod and Service
#   CIDRs) and one veth per pod. No other interface and no other route: nothing can leave.
#   tmpfs over the host paths containerd, CNI and kubelet write regardless of their configuration
#   (/run/containerd, /var/lib/cni, /var/log/containers), so nothing is left on the host.
#   The kubelet sets six kernel-wide sysctls it considers node defaults (vm.overcommit_memory=1,
#   kernel.panic=10, kernel.panic_on_oops=1, ...); in this mount namespace those /proc/sys files show the
#   values it wants, so it changes nothing on the shared machine. Pods get their own /proc.
HOST_PATHS_MASKED=(/run/containerd /var/lib/cni /var/log/containers)
KERNEL_TUNABLES=(vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1
  kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000)

make_namespaces() {
  setsid unshare --net --mount --propagation private -- sleep infinity </dev/null >/dev/null 2>&1 9>&- &
  echo "$! $(readlink -f "$(command -v sleep)")" >"${RUN}/netns-holder.pid"
  local h tries=0
  # unshare execs sleep once the namespaces exist
  until h="$(holder_pid)" && [[ -n ${h} ]]; do
    (( ++tries < 50 )) || die "the namespace holder did not start"
    sleep 0.05
  done
  echo "$(readlink "/proc/${h}/ns/net") $(readlink "/proc/${h}/ns/mnt")" >"${RUN}/namespaces"
  # the same iptables backend (nft) for kube-proxy, kube-router, the kubelet and the CNI plugins,
  # whatever the host's alternatives say
  mkdir -p "${DIR}/node/bin" "${DIR}/node/sysctl"
  local t
  for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -sf "$(command -v "${t/tables/tables-nft}")" "${DIR}/node/bin/${t}"
  done
  # the tmpfs mount points: directories made on the host for this are removed again by stop
  local d
  for d in "${HOST_PATHS_MASKED[@]}"; do [[ -e ${d} ]] || echo "${d}" >>"${RUN}/made-dirs"; done
  local setup="set -e
ip link set lo up
ip addr add ${NODE_IP}/32 dev lo
sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
for d in ${HOST_PATHS_MASKED[*]}; do
  mkdir -p \"\${d}\"
  mount -t tmpfs -o mode=0755,size=64m ${INSTANCE} \"\${d}\"
done"
  if [[ ${MODE} == node ]]; then
    # The pods' bridge exists before the first pod (the bridge plugin adopts it) so that the Service CIDR
    # can be routed onto it: the node's own processes (the API server calling a webhook's Service, a
    # probe run with `exec`) then reach ClusterIPs through kube-proxy's rules like the pods do.
    setup+="
ip link add cni0 type bridge
ip addr add ${NODE_POD_CIDR%.*}.1/${NODE_POD_CIDR#*/} dev cni0
ip link set cni0 up
ip route add ${SERVICE_CIDR} dev cni0"
    local kv key file
    for kv in "${KERNEL_TUNABLES[@]}"; do
      key="${kv%%=*}"; file="${DIR}/node/sysctl/${key//\//.}"
      echo "${kv#*=}" >"${file}"
      setup+="
mount --bind '${file}' '/proc/sys/${key}'"
    done
  fi
  in_ns bash -c "${setup}" || fail_start "setting up the cluster's namespaces failed"
}

# --- the real node ------------------------------------------------------------------------------------
containerd_config() { # FILE [janitor]
  local disabled='"io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"'
  # the janitor run (after a crash) only deletes container records: no CRI, so nothing recovers them
  [[ ${2:-} == janitor ]] && disabled+=', "io.containerd.grpc.v1.cri"'
  cat >"$1" <<EOF
version = 2
root = "${STORE}/containerd"
state = "${DIR}/containerd/state"
disabled_plugins = [${disabled}]

[grpc]
  address = "${CONTAINERD_SOCK}"
[ttrpc]
  address = "${CONTAINERD_SOCK}.ttrpc"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$(image_ref pause)"
  # the CRI asks for oom_score_adj -998 for sandboxes and the kubelet for -997 for Guaranteed pods;
  # lowering it needs CAP_SYS_RESOURCE, which this machine withholds: clamp to containerd's own (0)
  restrict_oom_score_adj = true
  disable_apparmor = true
  # pod network namespaces are mounted under the state directory, not /run/netns
  netns_mounts_under_state_dir = true
  # as containerd 2.x does by default: a pod may bind ports below 1024 and ping without capabilities
  # (CoreDNS answers on 53 as uid 10001 with every capability dropped)
  enable_unprivileged_ports = true
  enable_unprivileged_icmp = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        Root = "${DIR}/containerd/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${CNI_BIN_DIR}"
    conf_dir = "${DIR}/cni/net.d"
    max_conf_num = 1
EOF
}

image_ref() { # ROLE: the reference of one of the cluster's own images (scripts/cluster/build.sh images)
  "${QMTL_PY}" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "${IMAGES_DIR}/images.json" "$1"
}

cni_config() {
  mkdir -p "${DIR}/cni/net.d" "${DIR}/cni/ipam"
  # bridge + host-local for the node's pod CIDR; no ipMasq (nothing is NATed: there is nowhere to go);
  # hairpin so a pod reaches itself through its Service; portmap for hostPort
  cat >"${DIR}/cni/net.d/10-qmtl.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "qmtl",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "${DIR}/cni/ipam",
        "ranges": [[{"subnet": "${NODE_POD_CIDR}", "gateway": "${NODE_POD_CIDR%.*}.1"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

start_containerd() {
  mkdir -p "${STORE}" "${DIR}/containerd"
  containerd_config "${DIR}/containerd/config.toml"
  if [[ -f "${STORE}/containerd/io.containerd.metadata.v1.bolt/meta.db" && ! -f "${STORE}/clean-stop" ]]; then
    # the last run did not stop cleanly: delete its container records with the CRI plugin off
    containerd_config "${DIR}/containerd/janitor.toml" janitor
    launch containerd "$(command -v containerd)" --config "${DIR}/containerd/janitor.toml"
    ALIVE=containerd wait_for 30 "containerd (janitor)" ctr_node version
    purge_containers || fail_start "could not delete the previous run's containers from ${STORE}"
    STOPPED=0; stop_group containerd
    log "deleted the container records an unclean stop left in ${STORE}"
  fi
  rm -f "${STORE}/clean-stop"
  launch containerd "$(command -v containerd)" --config "${DIR}/containerd/config.toml"
}

# import_cluster_images: the cluster's own images (pause, CoreDNS, netcheck) into the node's store.
import_cluster_images() {
  ALIVE=containerd wait_for 30 "containerd" ctr_node version
  local f
  for f in "${IMAGES_DIR}"/*.tar; do
    ctr_node images import "${f}" >/dev/null || fail_start "ctr images import ${f} failed"
  done
}

# The pods' cgroup root in every cgroup v1 hierarchy (the kubelet makes kubepods/ below it and checks that
# it exists). cpuset needs its CPUs and memory nodes copied from the parent before anything can join.
make_cgroup_root() {
  local h d
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    mkdir -p "/sys/fs/cgroup${CGROUP_ROOT}"   # a pure cgroup v2 machine (not verified here: this one is v1)
    return
  fi
  for h in /sys/fs/cgroup/*/; do
    [[ -f ${h}cgroup.procs ]] || continue
    d="${h%/}${CGROUP_ROOT}"
    mkdir -p "${d}"
    if [[ -f ${d}/cpuset.cpus ]]; then
      cat "${h}cpuset.cpus" >"${d}/cpuset.cpus"
      cat "${h}cpuset.mems" >"${d}/cpuset.mems"
    fi
  done
}

kubelet_config() {
  mkdir -p "${DIR}/kubelet"
  # An empty resolvConf: pods get the cluster DNS and search path only, never the host's resolvers.
  # imageGCHighThresholdPercent 100: no image GC (imported images cannot be pulled back).
  # oomScoreAdj 0: the kubelet's default -999 needs CAP_SYS_RESOURCE.
  # evictionHard: the kubelet does see the disk (node and image filesystem stats work here), but its
  # default thresholds (10% / 15% free) would put a node on a shared, busy 250 GB disk under DiskPressure
  # (tainted, pods evicted) with tens of GB still free; 2 GiB free still protects the machine.
  cat >"${DIR}/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: ${CGROUP_ROOT}
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
failSwapOn: false
oomScoreAdj: 0
containerRuntimeEndpoint: unix://${CONTAINERD_SOCK}
podLogsDir: ${DIR}/pod-logs
clusterDNS: [${DNS_IP}]
clusterDomain: ${CLUSTER_DOMAIN}
resolvConf: ""
address: ${NODE_IP}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: ${PKI}/kubelet-serving.crt
tlsPrivateKeyFile: ${PKI}/kubelet-serving.key
rotateCertificates: false
serverTLSBootstrap: false
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: ${PKI}/ca.crt}
authorization:
  mode: Webhook
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 2Gi
  nodefs.inodesFree: 5%
  imagefs.available: 2Gi
  imagefs.inodesFree: 5%
maxPods: 110
registerNode: true
EOF
}

kube_proxy_config() {
  # iptables mode in the namespace; conntrack maxPerCore 0 leaves nf_conntrack_max (kernel-wide, read-only
  # outside the initial namespace) alone; NodePorts answer on the node IP only
  cat >"${DIR}/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: ${DIR}/kube-proxy.kubeconfig
hostnameOverride: ${NODE_NAME}
mode: iptables
clusterCIDR: ${CLUSTER_CIDR}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["${NODE_IP}/32"]
conntrack:
  maxPerCore: 0
  min: 0
iptables:
  localhostNodePorts: false
EOF
}

node_ready() {
  local status
  status="$("${KCTL}" --kubeconfig "${KUBECONFIG_FILE}" get node "${NODE_NAME}" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')"
  [[ ${status} == True ]]
}

http_ok_in_ns() { in_ns "${TOOLS_BIN}/netcheck" get -timeout 2s "$1"; }

start_node() {
  local k=(--kubeconfig "${KUBECONFIG_FILE}")
  make_cgroup_root
  kubelet_config
  kube_proxy_config
  cni_config
  launch kubelet "${TOOLS_BIN}/kubelet" --config="${DIR}/kubelet/config.yaml" \
    --kubeconfig="${DIR}/kubelet.kubeconfig" --root-dir="${DIR}/kubelet" --cert-dir="${DIR}/kubelet/pki" \
    --hostname-override="${NODE_NAME}" --node-ip="${NODE_IP}"
  local all="${CONTROL_PLANE[*]} nsforward containerd kubelet"
  ALIVE="${all}" wait_for 90 "node ${NODE_NAME} Ready" node_ready
  log "$(elapsed "${T0}") s: node ${NODE_NAME} Ready"
  # both read the node's addresses, which the kubelet reports when it registers
  launch kube-proxy "${TOOLS_BIN}/kube-proxy" --config="${DIR}/kube-proxy.yaml"
  launch kube-router "${TOOLS_BIN}/kube-router" --kubeconfig="${DIR}/kube-router.kubeconfig" \
    --hostname-override="${NODE_NAME}" --run-firewall=true --run-router=false --run-service-proxy=false \
    --service-cluster-ip-range="${SERVICE_CIDR}" --enable-ipv4=true --enable-ipv6=false \
    --health-port=20244 --metrics-port=0
  all+=" kube-proxy kube-router"
  ALIVE="${all}" wait_for 60 "kube-proxy /healthz" http_ok_in_ns http://127.0.0.1:10256/healthz
  ALIVE="${all}" wait_for 60 "kube-router /healthz" http_ok_in_ns http://127.0.0.1:20244/healthz
  ALIVE="${all}" wait_for 120 "CoreDNS Ready" "${KCTL}" "${k[@]}" -n kube-system rollout status deployment/coredns --timeout=5s
  log "$(elapsed "${T0}") s: kube-proxy, kube-router and CoreDNS ready"
}

apply_node_objects() {
  sed -e "s#@COREDNS_IMAGE@#$(image_ref coredns)#g" -e "s#@DNS_IP@#${DNS_IP}#g" \
      -e "s#@CLUSTER_DOMAIN@#${CLUSTER_DOMAIN}#g" "${QMTL_ROOT}/scripts/cluster/node.yaml" \
    | "${KCTL}" --kubeconfig "${KUBECONFIG_FILE}" apply -f - >/dev/null
}

# --- start ------------------------------------------------------------------------------------------
nodes_ready() {
  local want="$1" ready
  ready="$("${KCTL}" --kubeconfig "${KUBECONFIG_FILE}" get nodes \
    -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$')"
  [[ ${ready} -ge ${want} ]]
}

check_prerequisites() {
  [[ ${EUID} == 0 ]] || die "the local cluster needs root (network and mount namespaces, cgroups, iptables inside the namespace)"
  local c
  for c in unshare nsenter ip sysctl openssl; do
    command -v "${c}" >/dev/null 2>&1 || die "missing ${c}; run scripts/setup.sh"
  done
  if [[ ${MODE} == node ]]; then
    for c in containerd ctr runc iptables-nft iptables-nft-save iptables-nft-restore ipset; do
      command -v "${c}" >/dev/null 2>&1 || die "missing ${c} for the real node; run scripts/setup.sh (or: $0 start --kwok-only)"
    done
    [[ -x ${CNI_BIN_DIR}/bridge && -x ${CNI_BIN_DIR}/host-local && -x ${CNI_BIN_DIR}/loopback && -x ${CNI_BIN_DIR}/portmap ]] \
      || die "missing CNI plugins in ${CNI_BIN_DIR}; run scripts/setup.sh"
    [[ -f "${IMAGES_DIR}/images.json" ]] || die "missing ${IMAGES_DIR}/images.json; run: $0 build"
    # unix socket paths are limited to 107 bytes (containerd adds .ttrpc)
    (( ${#CONTAINERD_SOCK} + 6 <= 107 )) || die "the checkout's path is too long for containerd's socket ${CONTAINERD_SOCK}"
  fi
}
CNI_BIN_DIR=/usr/lib/cni

do_start() {
  T0="$(now_s)"
  local n k all
  check_prerequisites
  if [[ ${MODE} == node ]]; then "${QMTL_ROOT}/scripts/cluster/build.sh" kube etcd kwok node
  else "${QMTL_ROOT}/scripts/cluster/build.sh" kube etcd kwok; fi
  do_stop >/dev/null 2>&1 || true
  port_free "${API_PORT}" || die "127.0.0.1:${API_PORT} is in use (set QMTL_CLUSTER_API_PORT)"
  rm -rf --one-file-system "${DIR}"
  mkdir -p "${DIR}" "${RUN}" "${LOGS}"
  echo "${MODE}" >"${DIR}/mode"
  # the state of the last run is taken up again when it is complete (a start got that far) and of this mode
  RESUMED=0
  if [[ ${FRESH} == 0 && -f "${STATE}/complete" && "$(cat "${STATE}/mode" 2>/dev/null)" == "${MODE}" ]]; then
    RESUMED=1
    log "resuming the cluster kept in ${STATE#"${QMTL_ROOT}/"} (objects, certificates, volumes; start --fresh for an empty one)"
  else
    rm -rf --one-file-system "${STATE}"
    mkdir -p "${STATE}"
    echo "${MODE}" >"${STATE}/mode"
    gen_pki
  fi
  local inner="https://127.0.0.1:${INNER_API_PORT}"
  write_kubeconfig "${KUBECONFIG_FILE}" admin "https://127.0.0.1:${API_PORT}"
  write_kubeconfig "${DIR}/controller-manager.kubeconfig" controller-manager "${inner}"
  write_kubeconfig "${DIR}/scheduler.kubeconfig" scheduler "${inner}"
  write_kubeconfig "${DIR}/kwok.kubeconfig" kwok "${inner}"
  write_kubeconfig "${DIR}/local-volumes.kubeconfig" local-volumes "${inner}"
  if [[ ${MODE} == node ]]; then
    write_kubeconfig "${DIR}/kubelet.kubeconfig" kubelet "${inner}"
    write_kubeconfig "${DIR}/kube-proxy.kubeconfig" kube-proxy "${inner}"
    write_kubeconfig "${DIR}/kube-router.kubeconfig" kube-router "${inner}"
  fi
  kwok_config
  n="$(pin tool.qmtl-stack.cluster.nodes)"
  k=(--kubeconfig "${KUBECONFIG_FILE}")
  make_namespaces
  log "$(elapsed "${T0}") s: certificates written, namespaces made; etcd starting"

  launch etcd "${TOOLS_BIN}/etcd" --name=qmtl-local --data-dir="${STATE}/etcd" \
    --listen-client-urls="http://${ETCD_CLIENT}" --advertise-client-urls="http://${ETCD_CLIENT}" \
    --listen-peer-urls="http://${ETCD_PEER}" --initial-advertise-peer-urls="http://${ETCD_PEER}" \
    --initial-cluster="qmtl-local=http://${ETCD_PEER}" \
    --unsafe-no-fsync --quota-backend-bytes=2147483648 --log-level=warn
  # containerd and the image imports do not need the API: they run while it comes up
  [[ ${MODE} != node ]] || start_containerd
  ALIVE="etcd" wait_for 30 "etcd" http_ok_in_ns "http://${ETCD_CLIENT}/health"

  local kubelet_flags=()
  if [[ ${MODE} == node ]]; then
    kubelet_flags=(--kubelet-client-certificate="${PKI}/apiserver-kubelet-client.crt"
      --kubelet-client-key="${PKI}/apiserver-kubelet-client.key"
      --kubelet-certificate-authority="${PKI}/ca.crt" --kubelet-preferred-address-types=InternalIP)
  fi
  launch kube-apiserver "${TOOLS_BIN}/kube-apiserver" \
    --etcd-servers="http://${ETCD_CLIENT}" \
    --bind-address=0.0.0.0 --advertise-address="${NODE_IP}" --secure-port="${INNER_API_PORT}" \
    --tls-cert-file="${PKI}/apiserver.crt" --tls-private-key-file="${PKI}/apiserver.key" \
    --client-ca-file="${PKI}/ca.crt" \
    --authorization-mode=Node,RBAC \
    --enable-admission-plugins=NodeRestriction \
    --allow-privileged=true \
    --service-account-issuer="https://kubernetes.default.svc.${CLUSTER_DOMAIN}" \
    --service-account-key-file="${PKI}/sa.pub" --service-account-signing-key-file="${PKI}/sa.key" \
    --service-cluster-ip-range="${SERVICE_CIDR}" \
    "${kubelet_flags[@]}" \
    --profiling=false
  launch_host nsforward "${TOOLS_BIN}/nsforward" -listen "127.0.0.1:${API_PORT}" \
    -netns "/proc/$(holder_pid)/ns/net" -connect "127.0.0.1:${INNER_API_PORT}"
  [[ ${MODE} != node ]] || import_cluster_images
  ALIVE="etcd kube-apiserver nsforward" wait_for 90 "kube-apiserver /readyz" "${KCTL}" "${k[@]}" get --raw /readyz
  log "$(elapsed "${T0}") s: kube-apiserver ready (host 127.0.0.1:${API_PORT} -> namespace ${NODE_IP}:${INNER_API_PORT})"

  launch kube-controller-manager "${TOOLS_BIN}/kube-controller-manager" \
    --kubeconfig="${DIR}/controller-manager.kubeconfig" \
    --authentication-kubeconfig="${DIR}/controller-manager.kubeconfig" \
    --authorization-kubeconfig="${DIR}/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=0 \
    --leader-elect=false \
    --use-service-account-credentials=true \
    --service-account-private-key-file="${PKI}/sa.key" --root-ca-file="${PKI}/ca.crt" \
    --cluster-signing-cert-file="${PKI}/ca.crt" --cluster-signing-key-file="${PKI}/ca.key" \
    --kube-api-qps=100 --kube-api-burst=200 \
    --profiling=false
  launch kube-scheduler "${TOOLS_BIN}/kube-scheduler" \
    --kubeconfig="${DIR}/scheduler.kubeconfig" \
    --authentication-kubeconfig="${DIR}/scheduler.kubeconfig" \
    --authorization-kubeconfig="${DIR}/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=0 \
    --leader-elect=false --kube-api-qps=100 --kube-api-burst=200 --profiling=false
  launch kwok "${TOOLS_BIN}/kwok" --kubeconfig="${DIR}/kwok.kubeconfig" --config="${DIR}/kwok.yaml" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --manage-nodes-with-label-selector= --manage-single-node= \
    --cidr="${KWOK_POD_CIDR}" --node-ip="${KWOK_NODE_IP}" --node-lease-duration-seconds=40

  "${KCTL}" "${k[@]}" apply -f "${QMTL_ROOT}/scripts/cluster/bootstrap.yaml" >/dev/null
  launch local-volumes "${TOOLS_BIN}/local-volumes" -kubeconfig "${DIR}/local-volumes.kubeconfig" -root "${STATE}/volumes"
  nodes_manifest "${n}" | "${KCTL}" "${k[@]}" apply -f - >/dev/null
  all="${CONTROL_PLANE[*]} nsforward"
  if [[ ${MODE} == node ]]; then
    real_node_manifest | "${KCTL}" "${k[@]}" apply -f - >/dev/null
    apply_node_objects
    start_node
    all+=" ${NODE_PROCS[*]}"
    n=$(( n + 1 ))
  fi
  ALIVE="${all}" wait_for 60 "${n} Ready nodes" nodes_ready "${n}"
  log "$(elapsed "${T0}") s: ${n} nodes Ready"
  # the controllers are up once the service-account and root-CA controllers have done their work
  ALIVE="${all}" wait_for 60 "the default ServiceAccount" "${KCTL}" "${k[@]}" -n default get serviceaccount default
  ALIVE="${all}" wait_for 60 "the kube-root-ca.crt ConfigMap" "${KCTL}" "${k[@]}" -n default get configmap kube-root-ca.crt
  touch "${STATE}/complete"
  if [[ ${MODE} == node ]]; then
    log "up in $(elapsed "${T0}") s: Kubernetes $(pin tool.qmtl-stack.cluster.kubernetes), real node ${NODE_NAME} + $(( n - 1 )) kwok nodes (tainted kwok.x-k8s.io/node=fake:NoSchedule)"
  else
    log "up in $(elapsed "${T0}") s: Kubernetes $(pin tool.qmtl-stack.cluster.kubernetes), ${n} kwok nodes (no real node)"
  fi
  log "export KUBECONFIG=${KUBECONFIG_FILE}"
}

running_mode() { [[ -f "${DIR}/mode" ]] && cat "${DIR}/mode" || echo node; }

do_status() {
  local name pid rc=0 names=(netns-holder "${CONTROL_PLANE[@]}" nsforward)
  [[ "$(running_mode)" != node ]] || names+=("${NODE_PROCS[@]}")
  for name in "${names[@]}"; do
    pid="$(pid_of "${name}")"
    if [[ -n ${pid} ]]; then printf '  %-24s running (pid %s)\n' "${name}" "${pid}"
    else printf '  %-24s stopped\n' "${name}"; rc=1; fi
  done
  if [[ ${rc} == 0 ]] && "${KCTL}" --kubeconfig "${KUBECONFIG_FILE}" get --raw /readyz >/dev/null 2>&1; then
    echo "  API https://127.0.0.1:${API_PORT} ready; KUBECONFIG=${KUBECONFIG_FILE}"
    "${KCTL}" --kubeconfig "${KUBECONFIG_FILE}" get nodes -L type,topology.kubernetes.io/zone
  else
    echo "  API not ready"; rc=1
  fi
  return "${rc}"
}

do_import() {
  local archive="${1:-}"
  [[ -n ${archive} && -f ${archive} ]] || die "import: no such file ${archive:-(none given)}; usage: $0 import ARCHIVE.tar"
  [[ -n "$(pid_of containerd)" ]] || die "import: the real node is not running; start it first: $0 start"
  tar -tf "${archive}" manifest.json >/dev/null 2>&1 \
    || die "import: ${archive} is not a docker-archive (no manifest.json); make it with: podman save --format docker-archive -o FILE IMAGE"
  local t0; t0="$(now_s)"
  ctr_node images import "${archive}" || die "import: ctr images import ${archive} failed"
  log "imported ${archive} into ${NODE_NAME}'s containerd (k8s.io) in $(elapsed "${t0}") s"
}

do_info() {
  cat <<EOF
API_SERVER=https://127.0.0.1:${API_PORT}
KUBECONFIG=${KUBECONFIG_FILE}
MODE=$(running_mode)
NODE_NAME=${NODE_NAME}
NODE_IP=${NODE_IP}
NODE_POD_CIDR=${NODE_POD_CIDR}
CLUSTER_CIDR=${CLUSTER_CIDR}
SERVICE_CIDR=${SERVICE_CIDR}
DNS_IP=${DNS_IP}
CLUSTER_DOMAIN=${CLUSTER_DOMAIN}
NETNS=$(h="$(holder_pid)"; [[ -z ${h} ]] || echo "/proc/${h}/ns/net")
CONTAINERD_SOCKET=${CONTAINERD_SOCK}
IMAGE_STORE=${STORE}/containerd
CGROUP_ROOT=${CGROUP_ROOT}
INSTANCE=${INSTANCE}
LOGS=${LOGS}
EOF
}

# One start/stop at a time per checkout (fd 9, waiting up to a minute; the processes a start launches do
# not inherit it).
lock() {
  mkdir -p "${TOOLS}"
  exec 9>"${TOOLS}/cluster.lock"
  flock -w 60 9 || die "another scripts/local-cluster.sh start/stop/restart/reset has been running in this checkout for a minute"
}

[[ $# -ge 1 ]] || usage
cmd="$1"; shift
MODE=node
case "${cmd}" in
  build) [[ $# == 0 ]] || usage; "${QMTL_ROOT}/scripts/cluster/build.sh" kube etcd kwok node ;;
  start|restart)
    if [[ ${cmd} == restart ]]; then MODE="$(running_mode)"; fi
    FRESH=0
    while [[ $# -gt 0 ]]; do
      case "$1" in
        --kwok-only) MODE=kwok; shift ;;
        --fresh) FRESH=1; shift ;;
        *) usage ;;
      esac
    done
    lock; do_start ;;
  stop) [[ $# == 0 ]] || usage; lock; do_stop ;;
  status) [[ $# == 0 ]] || usage; do_status ;;
  kubeconfig) [[ -f ${KUBECONFIG_FILE} ]] || die "no cluster started yet: $0 start"; echo "${KUBECONFIG_FILE}" ;;
  import) [[ $# == 1 ]] || usage; do_import "$1" ;;
  exec)
    [[ $# -ge 1 ]] || usage
    h="$(holder_pid)"; [[ -n ${h} ]] || die "the cluster is not running: $0 start"
    exec nsenter --target "${h}" --net -- "$@" ;;
  ctr) [[ -n "$(pid_of containerd)" ]] || die "the real node is not running: $0 start"; ctr_node "$@" ;;
  info) [[ $# == 0 ]] || usage; do_info ;;
  reset) [[ $# == 0 ]] || usage; lock; do_stop; rm -rf --one-file-system "${DIR}" "${STATE}" "${STORE}"; log "removed ${DIR}, ${STATE} and ${STORE}" ;;
  *) usage ;;
esac
