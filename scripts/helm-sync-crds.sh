#!/usr/bin/env bash
# Copies the single source of truth crds/ into the Helm chart's crds/ (test/unit/chart.test.ts fails
# while they differ). Run after editing crds/modelcascade.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
cp crds/modelcascade.yaml charts/tinysaver-operator/crds/modelcascade.yaml
echo "charts/tinysaver-operator/crds/modelcascade.yaml updated from crds/modelcascade.yaml"
