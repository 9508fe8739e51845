#!/usr/bin/env bash
# Least-privilege evidence for the chart's RBAC: for every verb the chart grants (the workload rules and
# the leader-election rules in templates/_helpers.tpl), render a copy of the chart without just that verb
# and run the cluster-wide helm e2e (test/e2e/helm-install.test.ts) against it. A verb the operator
# really needs makes the run fail; a verb whose removal goes unnoticed is either unused (drop it from
# the chart) or used only on a path the e2e does not exercise (extend the e2e).
#
# Slow: one apiserver start per verb, up to ~80 s each (failing runs wait out their timeouts).
# Usage: scripts/helm-rbac-sweep.sh [pattern]   (pattern filters "resources|verb" lines, e.g. 'leases')
set -euo pipefail
cd "$(dirname "$0")/.."
helpers=charts/tinysaver-operator/templates/_helpers.tpl
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# "resources|verb" for every verb of every rule.
python3 - "$helpers" > "$work/verbs" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
for m in re.finditer(r'resources: \[([^\]]*)\]\n  verbs: \[([^\]]*)\]', s):
    for v in m.group(2).split(','):
        print(f"{m.group(1)}|{v.strip().strip(chr(34))}")
PY

printf '%-45s %-8s %-12s %s\n' "resources" "verb" "result" "failed tests"
grep -E -- "${1:-.}" "$work/verbs" > "$work/selected" || { echo "no verb matches ${1:-.}" >&2; exit 2; }
while IFS='|' read -r res verb; do
  rm -rf "$work/chart" && cp -r charts/tinysaver-operator "$work/chart"
  RES="$res" VERB="$verb" python3 - "$work/chart/templates/_helpers.tpl" <<'PY'
import os, re, sys
p = sys.argv[1]
s = open(p).read()
def drop(m):
    if m.group(2) != os.environ['RES']:
        return m.group(0)
    verbs = [v.strip() for v in m.group(3).split(',') if v.strip().strip('"') != os.environ['VERB']]
    if not verbs:  # RBAC rejects a rule without verbs: drop the whole rule
        return ''
    return f'{m.group(1)}resources: [{m.group(2)}]\n  verbs: [{", ".join(verbs)}]\n'
open(p, 'w').write(re.sub(r'(- apiGroups: \[[^\]]*\]\n  )resources: \[([^\]]*)\]\n  verbs: \[([^\]]*)\]\n', drop, s))
PY
  if cmp -s "$helpers" "$work/chart/templates/_helpers.tpl"; then echo "mutation of $res $verb changed nothing" >&2; exit 1; fi
  if TINYSAVER_CHART_DIR="$work/chart" timeout 600 npx vitest run test/e2e/helm-install.test.ts -t "cluster-wide" \
       --reporter=json --outputFile="$work/result.json" </dev/null >"$work/run.log" 2>&1; then
    result=unnoticed
  else
    result=needed
  fi
  failed=$(node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const f = r.testResults.flatMap((t) => t.assertionResults).filter((a) => a.status === "failed").map((a) => a.title.slice(0, 40));
    console.log(f.join("; "));' "$work/result.json" 2>/dev/null || echo "?")
  printf '%-45s %-8s %-12s %s\n' "$res" "$verb" "$result" "$failed"
done < "$work/selected"
