// The audit rate: just enough audits per window for the cheapest operating point, no more.
//
// Audits cost base-model compute: per row the cascade costs s + (1 - r) + a·r (core/cascade/cost.ts),
// so at a fixed saver cost s the controller should maximize r·(1 - a), the fraction of rows that never
// reach the base. A lower threshold raises r but needs more audits: certifying share r at disagreement
// rate p needs n audits with r·CP⁺(p·n, n, δ) <= headroom·ε, and n grows without bound as r·p approaches ε.
// So, per candidate threshold c (the certification grid), from the window's point estimates (no labels):
//   r_c  = rows at or above c / all rows;
//   p_c  = estimated disagreement rate there (escalated rows: observed exactly; saver rows: audited rate,
//          (k + 0.5)/(n + 1) so an unaudited region is not taken for a perfect one);
//   n_c  = neededAudits(r_c, p_c) (0 disagreements, 1 stratum, ε = 1%, δ = 5%: ln δ / ln(1 - ε) ≈ 299);
//   a_c  = n_c / (r_c · window rows), the rate that yields n_c audits per window;
// and pick the c with the largest r_c·(1 - a_c) among those with a_c <= the ceiling. The rate is a_c
// (clamped to [floor, ceiling]); nothing feasible -> the ceiling (learn fast while the picture is unclear).
// The estimates only choose how much to measure; the threshold itself is still moved by the certified
// bound (policy.ts), so an optimistic estimate costs share, never the budget guarantee.

import { clopperPearsonUpper } from '../../core/cascade/bounds.js';
import { CONFIDENCE_BUCKETS } from '../../core/cascade/buckets.js';
import { candidateThresholds, lossUpperBound } from '../../core/cascade/certify.js';
import type { RouterCounters } from '../telemetry/counters.js';

export interface AuditPlanOptions {
  epsilon: number;
  delta: number;
  /** strata of the certification bound (default 1) */
  strata?: number;
  min: number;
  max: number;
  auditRate: { min: number; max: number };
  /** fraction of ε the planned point may use (the rest absorbs estimation noise); default 0.8 */
  headroom?: number;
  edges?: readonly number[];
}

export interface AuditPlan {
  /** the operating point the rate is sized for (NaN when nothing is feasible) */
  threshold: number;
  /** saver share there */
  share: number;
  /** audits per window it needs (Infinity when nothing is feasible) */
  audits: number;
  /** audit rate for the routers, within [floor, ceiling] */
  rate: number;
  /** r·(1 - a): fraction of rows that never reach the base at the planned point */
  avoided: number;
}

/**
 * Audits per window needed to certify ε at saver share `share`, if the audited disagreement rate
 * stays `rate` and the exactly-observed part stays `exact`: the smallest n with
 *   share · CP⁺(rate · n/H, n/H, δ/H) + exact <= headroom · ε   (H strata of equal size).
 * With rate = 0, one stratum, ε = 1%, δ = 5%, share = 1 and headroom 1 this is the textbook
 * ln(δ)/ln(1-ε) ≈ 299. Infinity when even perfect knowledge of the rate cannot fit.
 */
export function neededAudits(
  share: number,
  rate: number,
  exact: number,
  epsilon: number,
  delta: number,
  strata: number,
  headroom = 0.8,
): number {
  const target = headroom * epsilon - exact;
  if (!(share > 0)) return 0;
  if (share * rate >= target) return Infinity;
  const h = Math.max(1, strata);
  const fits = (n: number) => {
    const per = Math.max(1, Math.floor(n / h));
    return share * clopperPearsonUpper(Math.min(per, Math.round(rate * per)), per, delta / h) <= target;
  };
  let hi = h;
  while (!fits(hi)) {
    hi *= 2;
    if (hi > 1e8) return Infinity;
  }
  let lo = Math.max(0, Math.floor(hi / 2));
  while (hi - lo > Math.max(1, h)) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

export function planAudits(c: RouterCounters, rows: number, o: AuditPlanOptions): AuditPlan {
  const edges = o.edges ?? CONFIDENCE_BUCKETS;
  const headroom = o.headroom ?? 0.8;
  const none: AuditPlan = { threshold: NaN, share: NaN, audits: Infinity, rate: o.auditRate.max, avoided: 0 };
  if (!(rows > 0)) return none;
  let best: AuditPlan | undefined;
  for (const t of candidateThresholds(o.min, o.max, edges)) {
    const region = lossUpperBound(c, t, { delta: o.delta, strata: 1, edges });
    const share = region.saverShare;
    const regionRows = share * rows;
    if (!(regionRows >= 1)) continue;
    const saverRows = regionRows - region.escalatedRows;
    const auditedRate = (region.auditDisagreements + 0.5) / (region.audits + 1);
    const estDisagree = region.exactPart * rows + Math.max(0, saverRows) * auditedRate;
    const p = Math.min(1, estDisagree / regionRows);
    const n = neededAudits(share, p, 0, o.epsilon, o.delta, o.strata ?? 1, headroom);
    if (!Number.isFinite(n)) continue;
    // (no minAudits floor here: lowering counts escalated rows between the new and the current threshold
    // as fresh observations too, and a floor of minAudits/saver rows pinned the rate at its ceiling
    // whenever the share was small — 200 / 800 saver rows = 0.25 in the bench's hold phase)
    const a = Math.max(o.auditRate.min, n / regionRows);
    if (a > o.auditRate.max) continue;
    const avoided = share * (1 - a);
    // strictest first: a lower threshold must strictly beat it
    if (!best || avoided > best.avoided + 1e-12) best = { threshold: t, share, audits: n, rate: a, avoided };
  }
  return best ?? none;
}

/**
 * The rate to send to the routers: `wanted` rounded up to two significant digits, clamped; raised at
 * once, lowered only when it falls below 80% of the rate in force (every change rewrites the router
 * ConfigMap, so small wiggles are not worth one).
 */
export function nextAuditRate(current: number | undefined, wanted: number, bounds: { min: number; max: number }): number {
  const clamp = (v: number) => Math.min(bounds.max, Math.max(bounds.min, v));
  let w = wanted;
  if (Number.isFinite(w) && w > 0) {
    const scale = 10 ** (Math.floor(Math.log10(w)) - 1);
    w = Math.ceil(w / scale - 1e-9) * scale;
    w = Number(w.toPrecision(2));
  }
  w = clamp(Number.isFinite(w) ? w : bounds.max);
  if (current === undefined || !Number.isFinite(current)) return w;
  const cur = clamp(current);
  if (w > cur || w < 0.8 * cur) return w;
  return cur;
}
