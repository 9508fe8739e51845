#!/usr/bin/env bash
# Builds (once, cached outside the repo) everything the local cluster runs that Debian does not ship:
#   - kube-apiserver, kubectl, kubelet, kube-controller-manager, kube-scheduler, kube-proxy from the
#     pinned k8s.io/kubernetes module (scripts/build-kube-assets.sh --cluster)
#   - CoreDNS from the Go module proxy (github.com/coredns/coredns at COREDNS_VERSION)
#   - the pause binary, compiled with gcc -static from the same k8s.io/kubernetes module's
#     build/pause/linux/pause.c (the sandbox image is made from it by scripts/cluster/images.sh)
# Prints "KEY=path" lines (KUBE_DIR, COREDNS, PAUSE) on stdout; progress goes to stderr.
# Env: TINYSAVER_CACHE, GO, KUBE_ASSETS_JOBS.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=env.sh
source "$here/env.sh"

COREDNS_VERSION=v1.15.0
go_bin="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"

kube_dir="$("$here/../build-kube-assets.sh" --cluster | tail -1)"

coredns_dir="$CACHE_ROOT/coredns/$COREDNS_VERSION"
if [[ ! -x "$coredns_dir/coredns" ]]; then
  clog "building CoreDNS $COREDNS_VERSION from the Go module proxy (a few minutes on 2 cores)"
  start=$(date +%s)
  mkdir -p "$coredns_dir"
  tmp="$(mktemp -d "$coredns_dir/.build-XXXXXX")"
  # `go install pkg@version` builds with CoreDNS's own go.mod (no replace directives), so the result is
  # the release's dependency set; CGO off gives a static binary.
  if ! GOBIN="$tmp" GOFLAGS="-trimpath" CGO_ENABLED=0 nice -n 5 "$go_bin" install -ldflags="-s -w" \
      "github.com/coredns/coredns@$COREDNS_VERSION" >"$tmp.log" 2>&1; then
    tail -n 30 "$tmp.log" >&2
    echo "cluster assets: building CoreDNS failed (log above)" >&2
    exit 1
  fi
  mv -f "$tmp/coredns" "$coredns_dir/coredns"
  rm -rf "$tmp" "$tmp.log"
  clog "CoreDNS built in $(( $(date +%s) - start ))s"
fi

version="$(basename "$kube_dir")"; version="${version%-stamped}"
pause_dir="$CACHE_ROOT/pause/$version"
if [[ ! -x "$pause_dir/pause" ]]; then
  src="$(cd "$here/../kube-assets" && GOFLAGS=-mod=readonly "$go_bin" list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c"
  [[ -f "$src" ]] || { echo "cluster assets: $src not found (go mod download in scripts/kube-assets)" >&2; exit 1; }
  mkdir -p "$pause_dir"
  gcc -Os -static -DVERSION="$version" -o "$pause_dir/pause.tmp" "$src"
  strip "$pause_dir/pause.tmp"
  mv -f "$pause_dir/pause.tmp" "$pause_dir/pause"
  clog "pause compiled from $src"
fi

echo "KUBE_DIR=$kube_dir"
echo "COREDNS=$coredns_dir/coredns"
echo "PAUSE=$pause_dir/pause"
