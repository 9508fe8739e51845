#!/usr/bin/env bash
# Builds the Go command-line tools the tests and benchmarks drive the gRPC edge with, from their pinned
# upstream Go modules (the Go module proxy), into a cache outside the repo, once:
#   grpcurl  an independent gRPC client (test/integration/grpc.test.ts)
#   ghz      a gRPC load generator (bench/grpc.ts)
# Usage: scripts/build-go-tools.sh grpcurl [ghz]   -> prints each binary's path, one per line.
# Cache: ${TINYSAVER_CACHE:-~/.cache/tinysaver}/tools/go (like the kube assets).
set -euo pipefail
dir="${TINYSAVER_CACHE:-$HOME/.cache/tinysaver}/tools/go"
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9 # parallel test workers: one builds, the others wait and reuse it
for tool in "$@"; do
  case "$tool" in
    grpcurl) mod=github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3 ;;
    ghz) mod=github.com/bojand/ghz/cmd/ghz@v0.120.0 ;;
    *) echo "build-go-tools: unknown tool $tool (grpcurl, ghz)" >&2; exit 2 ;;
  esac
  if [ ! -x "$dir/$tool" ]; then
    echo "build-go-tools: building $mod (once; cached in $dir)" >&2
    GOBIN="$dir" GOFLAGS=-mod=mod go install "$mod" >&2
  fi
  echo "$dir/$tool"
done
