# Shared settings of the local single-node cluster (sourced by up.sh, down.sh, images.sh).
# Every name and address here can be overridden from the environment; the defaults keep one cluster
# per machine in /tmp/tinysaver-cluster, inside its own network namespace "tinysaver".
# shellcheck shell=bash
CLUSTER_DIR="${TINYSAVER_CLUSTER_DIR:-/tmp/tinysaver-cluster}"
NETNS="${TINYSAVER_CLUSTER_NETNS:-tinysaver}"
NETNS_PATH="/run/netns/$NETNS"
# veth pair: the host end keeps HOST_IP, the namespace end (the node) NODE_IP. Nothing routes beyond it.
VETH_HOST="${TINYSAVER_CLUSTER_VETH:-ts-host0}"
VETH_NODE="ts-node0"
HOST_IP="${TINYSAVER_CLUSTER_HOST_IP:-10.99.0.1}"
NODE_IP="${TINYSAVER_CLUSTER_NODE_IP:-10.99.0.2}"
NODE_NAME="${TINYSAVER_CLUSTER_NODE:-tinysaver-node}"
POD_CIDR="10.244.0.0/24"
CLUSTER_CIDR="10.244.0.0/16"
SERVICE_CIDR="10.96.0.0/16"
KUBERNETES_SVC_IP="10.96.0.1"
# CoreDNS runs on the node (a process in the namespace, not a pod) and answers on the node IP.
DNS_IP="$NODE_IP"
API_PORT=6443
PAUSE_IMAGE="localhost/pause:local"
KUBECONFIG_PATH="$CLUSTER_DIR/kubeconfig"
CACHE_ROOT="${TINYSAVER_CACHE:-$HOME/.cache/tinysaver}"

clog() { echo "[cluster $(date -u +%H:%M:%S)] $*" >&2; }
# Runs a command inside the cluster's network namespace. nsenter, not `ip netns exec`: the latter
# remounts /sys, which hides /sys/fs/cgroup from kubelet and runc.
in_ns() { nsenter --net="$NETNS_PATH" -- "$@"; }
