#!/usr/bin/env bash
# Installs what `npm test` needs beyond npm packages, so the README's test command passes on a fresh
# Debian machine as typed. Runs as npm's `pretest` hook (and so from .ci/run). Idempotent and quick
# when everything is present: it only checks.
#   Debian packages: dataset-fashion-mnist (the data set), etcd-server (e2e apiserver's etcd),
#                    prometheus (promtool for the metrics/rule checks),
#                    chromium (headless browser test of the live view; scripts/view-screenshot.mjs)
#   Go >= 1.26 is not installed here (Debian's is too old for the pinned Kubernetes module): it must be
#   on PATH or in /usr/local/go; scripts/build-kube-assets.sh says so when it is missing.
# As root it installs missing packages with apt-get and says which; otherwise it prints the command.
# TINYSAVER_SKIP_DEPS=1 skips the check (e.g. when KUBEBUILDER_ASSETS etc. are provided another way).
set -euo pipefail
[[ "${TINYSAVER_SKIP_DEPS:-}" == 1 ]] && exit 0

pkgs=(dataset-fashion-mnist etcd-server prometheus chromium)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: missing ${missing[*]} and no apt-get here; install their equivalents by hand" >&2
  exit 1
fi
if [[ "$(id -u)" != 0 ]]; then
  echo "install-test-deps: the tests need Debian packages that are not installed: ${missing[*]}" >&2
  echo "  run as root:  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "install-test-deps: installing ${missing[*]} (apt-get, as root)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-test-deps: done" >&2
