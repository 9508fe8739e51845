#!/usr/bin/env bash
# Builds the binaries the e2e harness (test/e2e/harness) needs: kube-apiserver and kubectl from the
# upstream Go modules at the Kubernetes release pinned in scripts/kube-assets/go.mod, plus etcd
# (Debian's etcd-server when installed, else TEST_ASSET_ETCD). Output is cached outside the repo in
#   ${TINYSAVER_CACHE:-$HOME/.cache/tinysaver}/kube-assets/<version>-stamped/
# and reused when present, so only the first run pays for the build.
#
# With --cluster it also builds the node and control-plane binaries of the local single-node cluster
# (scripts/cluster/): kubelet, kube-controller-manager, kube-scheduler and kube-proxy, from the same
# pinned module, into the same directory (~15 min more cold on 2 cores, kubelet the largest).
#
# Prints the asset directory as the last line of stdout (the harness reads it). Progress goes to stderr.
# Env: TINYSAVER_CACHE, GO (go binary), KUBE_ASSETS_JOBS (parallel compile jobs, default 2).
set -euo pipefail

wanted=(kube-apiserver kubectl)
if [[ "${1:-}" == "--cluster" ]]; then
  wanted+=(kubelet kube-controller-manager kube-scheduler kube-proxy)
elif [[ -n "${1:-}" ]]; then
  echo "build-kube-assets: unknown argument $1 (only --cluster)" >&2
  exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
moddir="$here/kube-assets"
version="$(awk '($1 == "k8s.io/kubernetes" && $2 ~ /^v/) { print $2 } ($1 == "require" && $2 == "k8s.io/kubernetes") { print $3 }' "$moddir/go.mod" | head -1)"
if [[ -z "$version" ]]; then
  echo "build-kube-assets: cannot read the k8s.io/kubernetes version from $moddir/go.mod" >&2
  exit 1
fi
# "-stamped": the binaries carry their release version (see ldflags below); unstamped builds from
# earlier checkouts reported v0.0.0 and are not reused.
cache="${TINYSAVER_CACHE:-$HOME/.cache/tinysaver}/kube-assets/$version-stamped"
jobs="${KUBE_ASSETS_JOBS:-2}"

log() { echo "[kube-assets $(date -u +%H:%M:%S)] $*" >&2; }

missing_bins() {
  local b
  for b in "${wanted[@]}"; do [[ -x "$cache/$b" ]] || echo "$b"; done
}

have_all() {
  [[ -x "$cache/etcd" && -z "$(missing_bins)" ]]
}

if have_all; then
  log "using cached assets in $cache"
  echo "$cache"
  exit 0
fi

mkdir -p "$cache"

# etcd: the harness only needs a single-member etcd 3.4+; Debian's etcd-server package provides one.
if [[ ! -x "$cache/etcd" ]]; then
  etcd_bin="${TEST_ASSET_ETCD:-$(command -v etcd || true)}"
  if [[ -z "$etcd_bin" || ! -x "$etcd_bin" ]]; then
    echo "build-kube-assets: no etcd found. Install it (Debian/Ubuntu: apt-get install etcd-server)" >&2
    echo "  or point TEST_ASSET_ETCD at an etcd 3.4+ binary." >&2
    exit 1
  fi
  ln -sf "$etcd_bin" "$cache/etcd"
  log "etcd: $etcd_bin ($("$etcd_bin" --version 2>/dev/null | head -1))"
fi

mapfile -t todo < <(missing_bins)
if (( ${#todo[@]} > 0 )); then
  go_bin="${GO:-$(command -v go || true)}"
  if [[ -z "$go_bin" && -x /usr/local/go/bin/go ]]; then go_bin=/usr/local/go/bin/go; fi
  if [[ -n "$go_bin" ]] && ! command -v "$go_bin" >/dev/null 2>&1; then
    echo "build-kube-assets: GO=$go_bin is not an executable" >&2
    go_bin=""
  fi
  if [[ -z "$go_bin" ]]; then
    echo "build-kube-assets: Go is not installed, and kube-apiserver/kubectl for the e2e tests are built from source." >&2
    echo "  Install Go >= 1.26 (https://go.dev/dl/), or set KUBEBUILDER_ASSETS to a directory holding" >&2
    echo "  kube-apiserver, etcd and kubectl (e.g. from setup-envtest), or set TEST_ASSET_KUBE_APISERVER," >&2
    echo "  TEST_ASSET_ETCD and TEST_ASSET_KUBECTL." >&2
    exit 1
  fi
  log "building ${todo[*]} $version with $("$go_bin" version | awk '{print $3}') ($jobs jobs)"
  log "first build downloads ~300 modules and compiles ~2500 packages (~2800 with --cluster); about 4 minutes on 2 idle cores for kube-apiserver and kubectl, about 10 on a busy machine"
  start=$(date +%s)
  tmp="$cache/.build-$$"
  mkdir -p "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  # Progress: module download first (quiet on a warm module cache), then the build with -v naming each
  # package as it compiles; a counter line every 100 packages keeps the log short. Full log kept for errors.
  if ! (cd "$moddir" && GOFLAGS="-trimpath -mod=readonly" "$go_bin" mod download) >"$tmp/build.log" 2>&1; then
    tail -n 30 "$tmp/build.log" >&2
    echo "build-kube-assets: go mod download failed (is the Go module proxy reachable?)" >&2
    exit 1
  fi
  # Stamp the release version (what a release build's hack/lib/version.sh does), so the apiserver reports
  # v1.x.y to clients: helm checks a chart's kubeVersion against it, kubectl version shows it.
  minor="${version#v1.}"; minor="${minor%%.*}"
  stamp=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    stamp+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  log "modules ready after $(( $(date +%s) - start ))s; compiling"
  set +e
  (cd "$moddir" && GOFLAGS="-trimpath -mod=readonly" CGO_ENABLED=0 nice -n 5 "$go_bin" build -p "$jobs" -v \
      -ldflags="-s -w $stamp" -o "$tmp/" "${todo[@]/#/k8s.io/kubernetes/cmd/}") 2>&1 |
    tee -a "$tmp/build.log" |
    { n=0; while IFS= read -r _; do n=$((n + 1)); if (( n % 100 == 0 )); then log "compiled $n packages ($(( $(date +%s) - start ))s)"; fi; done; }
  status=${PIPESTATUS[0]}
  set -e
  if (( status != 0 )); then
    tail -n 30 "$tmp/build.log" >&2
    echo "build-kube-assets: go build failed (exit $status); log above" >&2
    exit 1
  fi
  for b in "${todo[@]}"; do
    if [[ ! -x "$tmp/$b" ]]; then
      echo "build-kube-assets: go build failed; rerun with: cd $moddir && go build -o /tmp/ k8s.io/kubernetes/cmd/$b" >&2
      exit 1
    fi
  done
  for b in "${todo[@]}"; do mv -f "$tmp/$b" "$cache/"; done
  log "built in $(( $(date +%s) - start ))s -> $cache"
fi

have_all || { echo "build-kube-assets: assets incomplete in $cache" >&2; exit 1; }
echo "$cache"
