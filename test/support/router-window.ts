// Synthetic router telemetry for the policy and audit-plan tests: the counters a router at threshold
// `t` with audit rate `a` would report for `rows` rows spread over confidence points, with saver/base
// disagreement at rate `dis(c)`. Deterministic (rounded counts), so tests can reason about exact values.
import { bucketIndex } from '../../core/cascade/buckets.js';
import { type RouterCounters, zeroCounters } from '../../operator/telemetry/counters.js';

/** [confidence, share of rows] pairs. */
export type ConfidenceMass = readonly (readonly [number, number])[];

export function routerWindowCounters(
  points: ConfidenceMass,
  t: number,
  a: number,
  rows: number,
  dis: (c: number) => number,
): RouterCounters {
  const c = zeroCounters();
  for (const [conf, w] of points) {
    const b = bucketIndex(conf);
    const n = Math.round(rows * w);
    const k = Math.round(n * dis(conf));
    c.all[b] += n;
    if (conf < t) {
      c.escalatedDisagree[b] += k;
      c.escalatedAgree[b] += n - k;
      c.rowsBase += n;
    } else {
      const audited = Math.round(n * a);
      const ak = Math.round(audited * dis(conf));
      c.auditDisagree[b] += ak;
      c.auditAgree[b] += audited - ak;
      c.rowsSaver += n;
    }
  }
  return c;
}
