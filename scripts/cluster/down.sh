#!/usr/bin/env bash
# Tears down the cluster scripts/cluster/up.sh started, by the PIDs it recorded, and leaves nothing
# behind: containers (killed through their cgroups, then their shims), daemons, mounts under the
# cluster directory, the network namespace and veth pair, the kubepods cgroups, the kernel tunables
# the kubelet changed, and the cluster directory itself. Safe to run when nothing is up.
# Env: TINYSAVER_CLUSTER_KEEP=1 keeps the cluster directory (logs) for a look afterwards.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=env.sh
source "$here/env.sh"

if [[ $EUID -ne 0 ]]; then echo "cluster down: needs root" >&2; exit 1; fi

# stop NAME [GRACE_S]: SIGTERM the recorded PID (if it is still the process we started), SIGKILL after GRACE_S.
stop() {
  local f="$CLUSTER_DIR/pids/$1.pid" pid i
  [[ -f "$f" ]] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for (( i = 0; i < ${2:-10} * 10; i++ )); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$f"
}

# kubepods cgroup directories under every v1 controller (or the v2 root), deepest first; also the
# k8s.io ones containerd makes for containers started outside the kubelet (ctr run).
kubepods_dirs() {
  local root
  for root in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods /sys/fs/cgroup/*/k8s.io /sys/fs/cgroup/k8s.io; do
    [[ -d "$root" ]] && find "$root" -depth -type d
  done
}

if [[ -d "$CLUSTER_DIR/pids" ]]; then
  clog "tearing down the cluster in $CLUSTER_DIR"
  # 1. The kubelet first, so it restarts nothing.
  stop kubelet 15
  # 2. Every process in a pod: they all live in the kubepods cgroups the kubelet made.
  for round in 1 2 3; do
    pids="$(kubepods_dirs | while read -r d; do cat "$d/cgroup.procs" 2>/dev/null; done | sort -u)"
    [[ -z "$pids" ]] && break
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null
    sleep 0.5
  done
  # 3. The containerd shims our containerd started (their command line names our socket), then the daemons.
  sock="$CLUSTER_DIR/containerd/containerd.sock"
  for p in /proc/[0-9]*; do
    { tr '\0' ' ' <"$p/cmdline" | grep -qF -- "-address $sock"; } 2>/dev/null && kill -KILL "${p#/proc/}" 2>/dev/null
  done
  for d in coredns kube-proxy kube-scheduler kube-controller-manager kube-apiserver etcd containerd; do stop "$d" 10; done
fi

# 4. Mounts under the cluster directory (container rootfs, pod volumes, sandbox netns), deepest first.
if [[ -d "$CLUSTER_DIR" ]]; then
  awk -v d="$CLUSTER_DIR/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
  done
fi

# 5. Network namespace (deleting it removes both veth ends, the bridge and its iptables rules).
if [[ -e "$NETNS_PATH" ]]; then ip netns delete "$NETNS" 2>/dev/null; fi
ip link show "$VETH_HOST" >/dev/null 2>&1 && ip link delete "$VETH_HOST"

# 6. cgroups the kubelet created (empty now).
kubepods_dirs | while read -r d; do rmdir "$d" 2>/dev/null; done

# 7. Kernel tunables the kubelet changed, back to what they were.
if [[ -f "$CLUSTER_DIR/sysctl.saved" ]]; then
  while IFS='=' read -r k v; do [[ -n "$k" ]] && sysctl -qw "$k=$v" 2>/dev/null; done <"$CLUSTER_DIR/sysctl.saved"
fi

left=""
[[ -n "$(kubepods_dirs)" ]] && left+=" kubepods-cgroups"
[[ -e "$NETNS_PATH" ]] && left+=" netns"
if [[ -d "$CLUSTER_DIR" ]]; then
  if awk -v d="$CLUSTER_DIR/" 'index($5, d) == 1 { f = 1 } END { exit !f }' /proc/self/mountinfo; then
    left+=" mounts"
  elif [[ -z "${TINYSAVER_CLUSTER_KEEP:-}" ]]; then
    rm -rf "$CLUSTER_DIR"
  fi
fi
if [[ -n "$left" ]]; then
  echo "cluster down: left behind:$left" >&2
  exit 1
fi
clog "cluster down: nothing left behind"
