#!/usr/bin/env bash
# Brings up a real single-node Kubernetes cluster on this Linux machine, offline:
#   etcd (Debian), kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy (built
#   from the pinned k8s.io/kubernetes module), CoreDNS (Go module proxy), containerd + runc + CNI bridge
#   (Debian). Everything runs inside the network namespace $NETNS (see env.sh): the node is
#   $NODE_IP on a veth pair whose host end is $HOST_IP, and nothing is routed beyond it.
# Needs root. Idempotent: when the cluster is already up it only prints the kubeconfig path.
# --images also builds the project's images from docker/ and imports them (scripts/cluster/images.sh).
# The last line of stdout is the admin kubeconfig path (`export KUBECONFIG=$(scripts/cluster/up.sh | tail -1)`).
# Tear down with scripts/cluster/down.sh (by PID; leaves nothing behind).
# Env: TINYSAVER_CLUSTER_DIR, TINYSAVER_CLUSTER_NETNS, TINYSAVER_CACHE (see env.sh),
#      TINYSAVER_CLUSTER_READY_TIMEOUT (seconds to wait for the node, default 300).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=env.sh
source "$here/env.sh"

ready_timeout="${TINYSAVER_CLUSTER_READY_TIMEOUT:-300}"
with_images=0
case "${1:-}" in
  --images) with_images=1 ;;  # also build the project's images from docker/ and import them (images.sh)
  "") ;;
  *) echo "usage: scripts/cluster/up.sh [--images]" >&2; exit 2 ;;
esac
images_step() {
  (( with_images )) || return 0
  "$here/images.sh" >&2
  clog "images: helm install tinysaver charts/tinysaver-operator -n tinysaver-system --create-namespace \\"
  clog "  --set image.repository=localhost/tinysaver/operator,image.tag=local,operator.defaultRuntimeImage=localhost/tinysaver/runtime:local"
}
t0=$(date +%s)

if [[ $EUID -ne 0 ]]; then
  echo "cluster up: needs root (network namespace, containerd, kubelet)" >&2
  exit 1
fi
# Debian packages the cluster and the image builds use; missing ones are installed (root, apt-get).
pkgs=(containerd runc containernetworking-plugins iptables conntrack buildah busybox-static etcd-server gcc libc6-dev openssl)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if (( ${#missing[@]} > 0 )) && command -v apt-get >/dev/null; then
  clog "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for cmd in containerd containerd-shim-runc-v2 runc ctr iptables conntrack nsenter ip openssl gcc buildah; do
  command -v "$cmd" >/dev/null || {
    echo "cluster up: '$cmd' not found. Debian: apt-get install ${pkgs[*]}" >&2
    exit 1
  }
done
[[ -x /usr/lib/cni/bridge ]] || { echo "cluster up: /usr/lib/cni/bridge missing (apt-get install containernetworking-plugins)" >&2; exit 1; }

alive() { local f="$CLUSTER_DIR/pids/$1.pid"; [[ -f "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null; }

if [[ -f "$CLUSTER_DIR/up" ]] && alive kube-apiserver && alive kubelet; then
  clog "already up ($CLUSTER_DIR)"
  images_step
  echo "$KUBECONFIG_PATH"
  exit 0
fi
if [[ -e "$CLUSTER_DIR" || -e "$NETNS_PATH" ]]; then
  clog "leftovers of an earlier cluster found; tearing them down first"
  "$here/down.sh" >&2
fi

# --- binaries ---------------------------------------------------------------------------------------
eval "$("$here/assets.sh")"   # KUBE_DIR, COREDNS, PAUSE
t_assets=$(date +%s)

mkdir -p "$CLUSTER_DIR"/{pids,logs,pki,etc,cni/net.d,kubelet,pod-logs,containerd/root,containerd/state,etcd}
chmod 700 "$CLUSTER_DIR/pki" "$CLUSTER_DIR/etcd"

# --- PKI (openssl, EC P-256) --------------------------------------------------------------------------
pki="$CLUSTER_DIR/pki"
openssl ecparam -name prime256v1 -genkey -noout -out "$pki/ca.key" 2>/dev/null
openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=tinysaver-cluster-ca" -days 3650 -out "$pki/ca.crt" 2>/dev/null
# mkcert NAME SUBJECT [SAN] : a cert signed by the cluster CA; client certs without SAN.
mkcert() {
  local name=$1 subj=$2 san=${3:-} ext="$pki/$1.ext"
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/$name.key" 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  if [[ -n "$san" ]]; then
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n' "$san" >"$ext"
  else
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >"$ext"
  fi
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -extfile "$ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$ext"
}
mkcert apiserver "/CN=kube-apiserver" \
  "IP:$NODE_IP,IP:127.0.0.1,IP:$KUBERNETES_SVC_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
mkcert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
mkcert admin "/O=system:masters/CN=admin"
mkcert node "/O=system:nodes/CN=system:node:$NODE_NAME"
mkcert controller-manager "/CN=system:kube-controller-manager"
mkcert scheduler "/CN=system:kube-scheduler"
mkcert kube-proxy "/CN=system:kube-proxy"
# CoreDNS only reads Services/EndpointSlices/Namespaces; a view-everything identity keeps this short.
mkcert coredns "/O=system:masters/CN=coredns"
openssl ecparam -name prime256v1 -genkey -noout -out "$pki/sa.key" 2>/dev/null
openssl ec -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null

# kubeconfig NAME FILE SERVER
kubeconfig() {
  cat >"$2" <<KC
apiVersion: v1
kind: Config
clusters:
- name: tinysaver
  cluster:
    server: $3
    certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
- name: $1
  user:
    client-certificate-data: $(base64 -w0 "$pki/$1.crt")
    client-key-data: $(base64 -w0 "$pki/$1.key")
contexts:
- name: tinysaver
  context: {cluster: tinysaver, user: $1, namespace: default}
current-context: tinysaver
KC
  chmod 600 "$2"
}
server="https://$NODE_IP:$API_PORT"
for who in admin node controller-manager scheduler kube-proxy coredns; do
  kubeconfig "$who" "$CLUSTER_DIR/etc/$who.kubeconfig" "$server"
done
cp "$CLUSTER_DIR/etc/admin.kubeconfig" "$KUBECONFIG_PATH"

# --- network namespace ----------------------------------------------------------------------------------
ip netns add "$NETNS"
ip link add "$VETH_HOST" type veth peer name "$VETH_NODE" netns "$NETNS"
ip addr add "$HOST_IP/24" dev "$VETH_HOST"
ip link set "$VETH_HOST" up
in_ns ip link set lo up
in_ns ip addr add "$NODE_IP/24" dev "$VETH_NODE"
in_ns ip link set "$VETH_NODE" up
# A default route is needed inside for ClusterIPs to be routable at all; the host does not forward
# (its ip_forward is left alone), so nothing leaves through it.
in_ns ip route add default via "$HOST_IP"
# The host reaches ClusterIPs through the node, where kube-proxy's rules translate them; this route
# leaves with the veth at tear-down.
ip route add "$SERVICE_CIDR" via "$NODE_IP" dev "$VETH_HOST"
in_ns sysctl -qw net.ipv4.ip_forward=1
# Pod -> Service -> pod on the same bridge needs the bridge to pass through iptables (per namespace).
in_ns sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || clog "warning: net.bridge.bridge-nf-call-iptables not settable"

# start NAME BIN ARGS... : a daemon in the namespace, detached from this script, PID recorded.
# nsenter execs the binary (no fork for a network namespace alone), so $! is the daemon's PID.
start() {
  local name=$1; shift
  setsid nsenter --net="$NETNS_PATH" -- "$@" >>"$CLUSTER_DIR/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$CLUSTER_DIR/pids/$name.pid"
}
fail() {
  echo "cluster up: $1" >&2
  [[ -n "${2:-}" && -f "$CLUSTER_DIR/logs/$2.log" ]] && tail -n 25 "$CLUSTER_DIR/logs/$2.log" >&2
  echo "cluster up: logs in $CLUSTER_DIR/logs; tear down with scripts/cluster/down.sh" >&2
  exit 1
}
wait_for() { # SECONDS DAEMON DESCRIPTION CMD... : poll CMD until it succeeds; fail when DAEMON died
  local secs=$1 daemon=$2 what=$3; shift 3
  local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    alive "$daemon" || fail "$daemon exited while waiting for $what" "$daemon"
    (( $(date +%s) < deadline )) || fail "$what not ready after ${secs}s" "$daemon"
    sleep 0.5
  done
}

# --- containerd -------------------------------------------------------------------------------------------
sock="$CLUSTER_DIR/containerd/containerd.sock"
containerd config default | sed \
  -e "s|^root = .*|root = \"$CLUSTER_DIR/containerd/root\"|" \
  -e "s|^state = .*|state = \"$CLUSTER_DIR/containerd/state\"|" \
  -e "/^\[grpc\]/,/^\[/ s|^  address = .*|  address = \"$sock\"|" \
  -e "s|restrict_oom_score_adj = false|restrict_oom_score_adj = true|" \
  -e "s|netns_mounts_under_state_dir = false|netns_mounts_under_state_dir = true|" \
  -e "s|sandbox_image = .*|sandbox_image = \"$PAUSE_IMAGE\"|" \
  -e "s|bin_dir = \"/opt/cni/bin\"|bin_dir = \"/usr/lib/cni\"|" \
  -e "s|conf_dir = \"/etc/cni/net.d\"|conf_dir = \"$CLUSTER_DIR/cni/net.d\"|" \
  -e "s|path = \"/opt/containerd\"|path = \"$CLUSTER_DIR/containerd/opt\"|" \
  -e "s|SystemdCgroup = true|SystemdCgroup = false|" \
  >"$CLUSTER_DIR/etc/containerd.toml"
grep -q "address = \"$sock\"" "$CLUSTER_DIR/etc/containerd.toml" || fail "could not set containerd's socket in its config"
cat >"$CLUSTER_DIR/cni/net.d/10-tinysaver.conflist" <<CNI
{
  "cniVersion": "1.0.0",
  "name": "tinysaver",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}],
              "dataDir": "$CLUSTER_DIR/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
CNI
start containerd containerd --config "$CLUSTER_DIR/etc/containerd.toml"
wait_for 60 containerd "containerd socket" ctr --address "$sock" version

# The sandbox (pause) image; the project's images come from scripts/cluster/images.sh.
PAUSE="$PAUSE" "$here/images.sh" --pause-only --address "$sock" >&2

# --- etcd + kube-apiserver --------------------------------------------------------------------------
etcd_bin="$KUBE_DIR/etcd"
start etcd "$etcd_bin" --name node --data-dir "$CLUSTER_DIR/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster node=http://127.0.0.1:2380 --log-level warn
start kube-apiserver "$KUBE_DIR/kube-apiserver" \
  --etcd-servers=http://127.0.0.1:2379 \
  --bind-address=0.0.0.0 --secure-port=$API_PORT --advertise-address="$NODE_IP" \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --client-ca-file="$pki/ca.crt" --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
  --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types=InternalIP \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
  --authorization-mode=Node,RBAC --allow-privileged=true \
  --enable-admission-plugins=NodeRestriction \
  --profiling=false --v=1
admin=(--kubeconfig "$KUBECONFIG_PATH")
kctl() { "$KUBE_DIR/kubectl" "${admin[@]}" "$@"; }
wait_for 180 kube-apiserver "kube-apiserver /readyz" kctl get --raw /readyz
t_api=$(date +%s)

# --- controller-manager, scheduler ---------------------------------------------------------------------
start_kcm() {
  start kube-controller-manager "$KUBE_DIR/kube-controller-manager" \
    --kubeconfig="$CLUSTER_DIR/etc/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$CLUSTER_DIR/etc/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$CLUSTER_DIR/etc/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false \
    --allocate-node-cidrs=true --cluster-cidr="$CLUSTER_CIDR" --node-cidr-mask-size=24 \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
    --root-ca-file="$pki/ca.crt" --service-account-private-key-file="$pki/sa.key" \
    --use-service-account-credentials=true --controllers='*' --v=1
}
# The controller-manager can exit right after apiserver readiness while RBAC is still bootstrapping
# ("extension-apiserver-authentication is forbidden"): wait for its bootstrap role first.
wait_for 60 kube-apiserver "RBAC bootstrap" kctl get clusterrolebinding system:kube-controller-manager
start_kcm
start kube-scheduler "$KUBE_DIR/kube-scheduler" \
  --kubeconfig="$CLUSTER_DIR/etc/scheduler.kubeconfig" \
  --authentication-kubeconfig="$CLUSTER_DIR/etc/scheduler.kubeconfig" \
  --authorization-kubeconfig="$CLUSTER_DIR/etc/scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --leader-elect=false --v=1

# --- kube-proxy ----------------------------------------------------------------------------------------------
cat >"$CLUSTER_DIR/etc/kube-proxy.yaml" <<KP
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $CLUSTER_DIR/etc/kube-proxy.kubeconfig
mode: iptables
clusterCIDR: $CLUSTER_CIDR
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
# It cannot write the conntrack sysctls here (read-only in a namespace): zero means leave them.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
  udpTimeout: 0s
  udpStreamTimeout: 0s
KP
start kube-proxy "$KUBE_DIR/kube-proxy" --config="$CLUSTER_DIR/etc/kube-proxy.yaml" --v=1

# --- CoreDNS (a process on the node, answering on the node IP) -------------------------------------------
cat >"$CLUSTER_DIR/etc/Corefile" <<CF
.:53 {
    bind $DNS_IP
    errors
    ready 127.0.0.1:8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $CLUSTER_DIR/etc/coredns.kubeconfig tinysaver
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
}
CF
start coredns "$COREDNS" -conf "$CLUSTER_DIR/etc/Corefile"

# --- kubelet ---------------------------------------------------------------------------------------------------
# Pods get only the cluster DNS server and search path; nothing from the host's resolv.conf.
echo "# tinysaver cluster: no upstream resolvers (offline)" >"$CLUSTER_DIR/etc/resolv.conf"
cat >"$CLUSTER_DIR/etc/kubelet.yaml" <<KL
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://$sock
address: $NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization:
  mode: Webhook
clusterDomain: cluster.local
clusterDNS: [$DNS_IP]
resolvConf: $CLUSTER_DIR/etc/resolv.conf
podCIDR: $POD_CIDR
podLogsDir: $CLUSTER_DIR/pod-logs
# The disk may be small and shared: evict only when it is really full.
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
KL
# The kubelet sets a few kernel tunables (vm.overcommit_memory, kernel.panic, ...) for the whole
# machine; keep the old values so down.sh puts them back.
for k in vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes; do
  echo "$k=$(sysctl -n "$k")"
done >"$CLUSTER_DIR/sysctl.saved"
start kubelet "$KUBE_DIR/kubelet" \
  --config="$CLUSTER_DIR/etc/kubelet.yaml" \
  --kubeconfig="$CLUSTER_DIR/etc/node.kubeconfig" \
  --root-dir="$CLUSTER_DIR/kubelet" --cert-dir="$CLUSTER_DIR/kubelet/pki" \
  --node-ip="$NODE_IP" --hostname-override="$NODE_NAME" --v=1
t_kubelet=$(date +%s)

node_ready() {
  [[ "$(kctl get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}
deadline=$(( $(date +%s) + ready_timeout ))
kcm_restarts=0
until node_ready; do
  for d in containerd etcd kube-apiserver kube-scheduler kube-proxy coredns kubelet; do
    alive "$d" || fail "$d exited while waiting for the node" "$d"
  done
  if ! alive kube-controller-manager; then
    (( kcm_restarts < 3 )) || fail "kube-controller-manager keeps exiting" kube-controller-manager
    kcm_restarts=$((kcm_restarts + 1))
    clog "kube-controller-manager exited; restarting it ($kcm_restarts)"
    start_kcm
  fi
  (( $(date +%s) < deadline )) || fail "node $NODE_NAME not Ready after ${ready_timeout}s" kubelet
  sleep 1
done
wait_for 60 coredns "CoreDNS ready" in_ns bash -c "exec 3<>/dev/tcp/127.0.0.1/8181 && printf 'GET /ready HTTP/1.0\r\n\r\n' >&3 && grep -q '200 OK' <&3"
# The default ServiceAccount must exist before pods can be created in a namespace.
wait_for 60 kube-controller-manager "default ServiceAccount" kctl get serviceaccount default
touch "$CLUSTER_DIR/up"
t_end=$(date +%s)
clog "node $NODE_NAME Ready: $(( t_end - t0 ))s in all (binaries $(( t_assets - t0 ))s, apiserver ready +$(( t_api - t_assets ))s, node Ready $(( t_end - t_kubelet ))s after kubelet start)"
printf 'assets_s=%s apiserver_s=%s node_ready_s=%s total_s=%s\n' $(( t_assets - t0 )) $(( t_api - t_assets )) $(( t_end - t_kubelet )) $(( t_end - t0 )) >"$CLUSTER_DIR/timings"
images_step
clog "kubectl --kubeconfig $KUBECONFIG_PATH get nodes    # tear down: scripts/cluster/down.sh"
echo "$KUBECONFIG_PATH"
