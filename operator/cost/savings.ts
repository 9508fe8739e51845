// Live savings of a cascade (pure): from the router counters of the telemetry window and spec.cost, the
// base compute the saver avoided and the estimated cost saved per hour (status.savings).
//
//   rows             = tinysaver_rows_total over every route (saver, base, fallback)
//   audited          = tinysaver_audit_confidence_count (audited saver rows: they reach the base anyway)
//   baseRowsAvoided  = saver rows - audited            (fallback rows tried the base, so they save nothing)
//   base pod-seconds avoided = baseRowsAvoided / base.rowsPerSecond
//   per hour, at the window's rate (fractional pods, no rounding to whole replicas):
//     baseCostAvoidedPerHour = baseRowsAvoided / windowSeconds / base.rowsPerSecond x base.pricePerHour
//     saverCostPerHour       = rows / windowSeconds / saver.rowsPerSecond x saver.pricePerHour
//     costSavedPerHour       = baseCostAvoidedPerHour - saverCostPerHour
// `tinysaver roi` answers the planning question with whole replicas; this is the running estimate.

import type { CostSpec, SavingsStatus } from '../api/model-cascade.js';
import { type RouterCounters, sumOf } from '../telemetry/counters.js';

/** Problems with a spec.cost that did not pass through the apiserver's schema (empty: fine). */
export function costSpecErrors(c: CostSpec): string[] {
  const errs: string[] = [];
  for (const who of ['saver', 'base'] as const) {
    const d = c[who] as CostSpec['saver'] | undefined;
    if (!d) {
      errs.push(`spec.cost.${who}: required`);
      continue;
    }
    if (!(typeof d.rowsPerSecond === 'number' && d.rowsPerSecond > 0 && Number.isFinite(d.rowsPerSecond)))
      errs.push(`spec.cost.${who}.rowsPerSecond: must be a number > 0, got ${d.rowsPerSecond}`);
    if (!(typeof d.pricePerHour === 'number' && d.pricePerHour >= 0 && Number.isFinite(d.pricePerHour)))
      errs.push(`spec.cost.${who}.pricePerHour: must be a number >= 0, got ${d.pricePerHour}`);
  }
  return errs;
}

/**
 * Time the window's counts cover: the span from the oldest slot to now plus the oldest slot's own
 * interval (each slot holds the deltas of the interval before it); a summed source (Prometheus
 * increase() over the window) covers its span exactly.
 */
export function windowCoverageMs(w: { slots: number; spanMs: number }, intervalMs: number, summed: boolean): number {
  if (w.slots === 0) return 0;
  return summed ? w.spanMs : w.spanMs + intervalMs;
}

const round = (v: number, digits = 6) => Number(v.toFixed(digits));

/** status.savings for a window, or undefined when there is nothing to report (no time covered). */
export function computeSavings(counters: RouterCounters, coveredMs: number, cost: CostSpec): SavingsStatus | undefined {
  const errs = costSpecErrors(cost);
  if (errs.length > 0) throw new RangeError(errs.join('; '));
  if (!(coveredMs > 0)) return undefined;
  const seconds = coveredMs / 1000;
  const rows = counters.rowsSaver + counters.rowsBase + counters.rowsFallback;
  const audited = sumOf(counters.auditAgree) + sumOf(counters.auditDisagree);
  const avoided = Math.max(0, counters.rowsSaver - audited);
  const baseCostAvoidedPerHour = (avoided / seconds / cost.base.rowsPerSecond) * cost.base.pricePerHour;
  const saverCostPerHour = (rows / seconds / cost.saver.rowsPerSecond) * cost.saver.pricePerHour;
  const s: SavingsStatus = {
    windowSeconds: round(seconds, 3),
    rows: Math.round(rows),
    baseRowsAvoided: Math.round(avoided),
    baseReplicaSecondsAvoided: round(avoided / cost.base.rowsPerSecond),
    baseCostAvoidedPerHour: round(baseCostAvoidedPerHour),
    saverCostPerHour: round(saverCostPerHour),
    costSavedPerHour: round(baseCostAvoidedPerHour - saverCostPerHour),
  };
  if (cost.currency) s.currency = cost.currency;
  return s;
}
