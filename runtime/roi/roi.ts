// Return on a cascade in money (pure arithmetic): replicas per Deployment, base-only vs cascade, sized
// for peak traffic with headroom; cost per month and per million requests; savings; break-even saver
// share; payback of a one-time saver training cost.
//
// Replicas are bought whole:  replicas(load) = max(minReplicas, ceil(load x headroom / capacity))
//   base only:  base replicas for the peak rows/s
//   cascade:    saver replicas for the peak (the saver sees every row, the router runs in its pod),
//               base replicas for the peak x (1 - r + a r) (escalated rows + audited saver rows)
// Monthly cost = replicas x price per replica-hour x hours per month (static: sized for the peak all
// month); with a daily traffic profile also "autoscaled": each slot of the day sized for its own load.
// Per million requests = monthly cost / requests in a month at the mean rate.
//
// The continuous ("fluid") view is core/cascade/cost.ts with s = the saver's cost per row over the
// base's cost per row, in money: relative cost s + (1 - r) + a r and break-even share s / (1 - a).
// Whole replicas move the break-even; both are reported.

import { breakEvenShare, relativeCost } from '../../core/cascade/cost.js';

export const HOURS_PER_MONTH = 730; // 365 x 24 / 12

export interface DeploymentCost {
  /** capacity of one replica, rows per second (measured: tinysaver profile --measure) */
  rowsPerSecond: number;
  /** price of one replica for one hour */
  pricePerHour: number;
}

export interface RoiInput {
  /** r: share of rows the saver answers */
  saverShare: number;
  /** a: share of saver-answered rows also sent to the base (audits) */
  auditRate: number;
  traffic: {
    meanRowsPerSecond: number;
    peakRowsPerSecond: number;
    /** optional daily profile: rows/s in equal slots of the day (mean and peak must match it) */
    slots?: readonly number[];
  };
  saver: DeploymentCost;
  base: DeploymentCost;
  /** provision load x headroom (>= 1; 1.25 = plan replicas at 80 % of measured capacity) */
  headroom: number;
  /** fewest replicas per Deployment (default 1: a cascade keeps a base for its escalations) */
  minReplicas?: number;
  /** rows per request, for the per-million-requests cost (default 1) */
  rowsPerRequest?: number;
  hoursPerMonth?: number;
  /** one-time cost of training the saver, same currency (optional: payback) */
  trainingCost?: number;
}

/** RoiInput with every default filled in. */
export type NormalizedInput = Required<Omit<RoiInput, 'trainingCost' | 'traffic'>> & {
  traffic: { meanRowsPerSecond: number; peakRowsPerSecond: number; slots: readonly number[] };
  trainingCost?: number;
};

export interface Plan {
  replicas: { saver: number; base: number };
  /** rows/s each Deployment must serve at peak (before headroom) */
  peakLoad: { saver: number; base: number };
  perHour: number;
  perMonth: number;
  perMillionRequests: number;
}

export interface RoiResult {
  input: NormalizedInput;
  baseOnly: Plan;
  cascade: Plan;
  /** base-only minus cascade, per month (negative: the cascade costs more) */
  savingsPerMonth: number;
  /** savingsPerMonth / base-only per month */
  savingsShare: number;
  pays: boolean;
  /** s in money: saver cost per row / base cost per row at full replicas (price / capacity) */
  moneyCostRatio: number;
  /** fluid relative cost s + (1 - r) + a r (core/cascade/cost.ts), fractional replicas */
  fluidRelativeCost: number;
  breakEven: {
    /** fluid: r > s / (1 - a) (Infinity: no share pays) */
    fluid: number;
    /** with whole replicas at this traffic: the smallest r whose cascade costs less than base only (Infinity: none) */
    wholeReplicas: number;
  };
  /** months until savings repay trainingCost (null without one; Infinity when nothing is saved) */
  paybackMonths: number | null;
  /** with a daily profile: each slot sized for its own load */
  autoscaled?: { baseOnlyPerMonth: number; cascadePerMonth: number; savingsPerMonth: number };
}

function check(field: string, v: number, ok: (v: number) => boolean, what: string): void {
  if (typeof v !== 'number' || Number.isNaN(v) || !ok(v)) throw new RangeError(`${field}: ${what}, got ${v}`);
}

export function validateInput(i: RoiInput): void {
  check('saver share r', i.saverShare, (v) => v >= 0 && v <= 1, 'must be in [0, 1]');
  check('audit rate a', i.auditRate, (v) => v >= 0 && v <= 1, 'must be in [0, 1]');
  check('traffic mean rows/s', i.traffic.meanRowsPerSecond, (v) => v > 0 && Number.isFinite(v), 'must be a finite number > 0');
  check('traffic peak rows/s', i.traffic.peakRowsPerSecond, (v) => v > 0 && Number.isFinite(v), 'must be a finite number > 0');
  if (i.traffic.meanRowsPerSecond > i.traffic.peakRowsPerSecond)
    throw new RangeError(`traffic: mean ${i.traffic.meanRowsPerSecond} rows/s is above peak ${i.traffic.peakRowsPerSecond}`);
  if (i.traffic.slots)
    for (const [k, v] of i.traffic.slots.entries())
      check(`traffic profile slot ${k + 1}`, v, (x) => x >= 0 && Number.isFinite(x), 'must be a finite number >= 0');
  for (const who of ['saver', 'base'] as const) {
    check(`${who} capacity (rows/s per replica)`, i[who].rowsPerSecond, (v) => v > 0 && Number.isFinite(v), 'must be a finite number > 0');
    check(`${who} price per replica-hour`, i[who].pricePerHour, (v) => v >= 0 && Number.isFinite(v), 'must be a finite number >= 0');
  }
  if (i.base.pricePerHour === 0)
    throw new RangeError('base price per replica-hour: is 0, so there is nothing to save; check the price file');
  check('headroom', i.headroom, (v) => v >= 1 && Number.isFinite(v), 'must be a number >= 1');
  if (i.minReplicas !== undefined) check('min replicas', i.minReplicas, (v) => Number.isInteger(v) && v >= 0, 'must be an integer >= 0');
  if (i.rowsPerRequest !== undefined)
    check('rows per request', i.rowsPerRequest, (v) => v > 0 && Number.isFinite(v), 'must be a number > 0');
  if (i.hoursPerMonth !== undefined) check('hours per month', i.hoursPerMonth, (v) => v > 0 && Number.isFinite(v), 'must be a number > 0');
  if (i.trainingCost !== undefined)
    check('training cost', i.trainingCost, (v) => v >= 0 && Number.isFinite(v), 'must be a finite number >= 0');
}

/** Whole replicas for a load: max(min, ceil(load x headroom / capacity)). */
export function replicasFor(loadRowsPerSecond: number, capacity: number, headroom: number, minReplicas = 1): number {
  // a tiny tolerance keeps 3.0000000000000004 from buying a fourth replica
  const need = Math.ceil((loadRowsPerSecond * headroom) / capacity - 1e-9);
  return Math.max(minReplicas, need);
}

/** Share of all rows the base serves in the cascade: escalated plus audited. */
export function baseShare(r: number, a: number): number {
  return 1 - r + a * r;
}

function plan(saverReplicas: number, baseReplicas: number, peakLoad: Plan['peakLoad'], i: NormalizedInput): Plan {
  const perHour = saverReplicas * i.saver.pricePerHour + baseReplicas * i.base.pricePerHour;
  const perMonth = perHour * i.hoursPerMonth;
  const requestsPerMonth = (i.traffic.meanRowsPerSecond * 3600 * i.hoursPerMonth) / i.rowsPerRequest;
  return {
    replicas: { saver: saverReplicas, base: baseReplicas },
    peakLoad,
    perHour,
    perMonth,
    perMillionRequests: (perMonth / requestsPerMonth) * 1e6,
  };
}

/** Base-only and cascade plans at a saver share (static provisioning for the peak). */
export function plans(i: NormalizedInput, r: number): { baseOnly: Plan; cascade: Plan } {
  const peak = i.traffic.peakRowsPerSecond;
  const baseOnly = plan(0, replicasFor(peak, i.base.rowsPerSecond, i.headroom, i.minReplicas), { saver: 0, base: peak }, i);
  const baseLoad = peak * baseShare(r, i.auditRate);
  const cascade = plan(
    replicasFor(peak, i.saver.rowsPerSecond, i.headroom, i.minReplicas),
    replicasFor(baseLoad, i.base.rowsPerSecond, i.headroom, i.minReplicas),
    { saver: peak, base: baseLoad },
    i,
  );
  return { baseOnly, cascade };
}

/**
 * Smallest saver share whose cascade (whole replicas, peak sizing) costs less per month than base only;
 * Infinity when even r = 1 does not. Closed form: the base may keep at most k replicas, where k is the
 * largest integer with k pb + S < B pb (S = saver cost per hour, B = base-only replicas), and
 * ceil(peak h (1 - r (1 - a)) / cap) <= k  <=>  r >= (1 - k cap / (peak h)) / (1 - a).
 */
export function wholeReplicaBreakEven(i: NormalizedInput): number {
  const { baseOnly, cascade } = plans(i, 0);
  const S = cascade.replicas.saver * i.saver.pricePerHour;
  const B = baseOnly.replicas.base;
  const pb = i.base.pricePerHour;
  const limit = B - S / pb; // base replicas must stay strictly below this
  const k = Math.ceil(limit) - 1;
  if (k < i.minReplicas) return Infinity;
  const peakH = i.traffic.peakRowsPerSecond * i.headroom;
  const needShare = 1 - (k * i.base.rowsPerSecond) / peakH; // base share of rows that k replicas carry
  let r: number;
  if (needShare <= 0) r = 0;
  else if (i.auditRate >= 1) return Infinity;
  else r = needShare / (1 - i.auditRate);
  if (r > 1) return Infinity;
  // guard the closed form against rounding at a replica boundary
  const costs = (x: number) => plans(i, x).cascade.perHour < baseOnly.perHour;
  if (!costs(r)) r = Math.min(1, r + 1e-9);
  return costs(r) ? r : Infinity;
}

function normalize(input: RoiInput): NormalizedInput {
  return {
    ...input,
    minReplicas: input.minReplicas ?? 1,
    rowsPerRequest: input.rowsPerRequest ?? 1,
    hoursPerMonth: input.hoursPerMonth ?? HOURS_PER_MONTH,
    traffic: { ...input.traffic, slots: input.traffic.slots ?? [] },
  };
}

export function computeRoi(input: RoiInput): RoiResult {
  validateInput(input);
  const i = normalize(input);
  const { baseOnly, cascade } = plans(i, i.saverShare);
  const savingsPerMonth = baseOnly.perMonth - cascade.perMonth;
  const moneyCostRatio = i.saver.pricePerHour / i.saver.rowsPerSecond / (i.base.pricePerHour / i.base.rowsPerSecond);
  const result: RoiResult = {
    input: i,
    baseOnly,
    cascade,
    savingsPerMonth,
    savingsShare: savingsPerMonth / baseOnly.perMonth,
    pays: savingsPerMonth > 0,
    moneyCostRatio,
    fluidRelativeCost: relativeCost(moneyCostRatio, i.saverShare, i.auditRate),
    breakEven: { fluid: breakEvenShare(moneyCostRatio, i.auditRate), wholeReplicas: wholeReplicaBreakEven(i) },
    paybackMonths: input.trainingCost === undefined ? null : savingsPerMonth > 0 ? input.trainingCost / savingsPerMonth : Infinity,
  };
  if (i.traffic.slots.length > 0) {
    let bo = 0;
    let cc = 0;
    for (const load of i.traffic.slots) {
      const slot = { ...i, traffic: { ...i.traffic, peakRowsPerSecond: load } };
      const p = plans(slot, i.saverShare);
      bo += p.baseOnly.perHour;
      cc += p.cascade.perHour;
    }
    const n = i.traffic.slots.length;
    result.autoscaled = {
      baseOnlyPerMonth: (bo / n) * i.hoursPerMonth,
      cascadePerMonth: (cc / n) * i.hoursPerMonth,
      savingsPerMonth: ((bo - cc) / n) * i.hoursPerMonth,
    };
  }
  return result;
}

/** Monthly cost of base only and of the cascade at each saver share (the plot's curve). */
export function costCurve(
  input: RoiInput,
  points: ReadonlyArray<{ threshold: number; saverShare: number }>,
): Array<{ threshold: number; saverShare: number; cascadePerMonth: number; baseOnlyPerMonth: number }> {
  validateInput(input);
  const i = normalize(input);
  return points.map((p) => {
    const { baseOnly, cascade } = plans(i, p.saverShare);
    return { threshold: p.threshold, saverShare: p.saverShare, cascadePerMonth: cascade.perMonth, baseOnlyPerMonth: baseOnly.perMonth };
  });
}

/** Mean and peak of a daily profile (equal slots). */
export function profileStats(slots: readonly number[]): { mean: number; peak: number } {
  if (slots.length === 0) throw new RangeError('traffic profile: no values');
  return { mean: slots.reduce((a, b) => a + b, 0) / slots.length, peak: Math.max(...slots) };
}
