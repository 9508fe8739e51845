// What the live view shows, as plain data: one sample per control interval (threshold, saver share,
// certified loss bound vs budget, audit rate, escalation rate, latency by stage) and the controller's
// decisions. Pure (no I/O): `tinysaver up` feeds it each cycle, the view server serves it as JSON
// (GET /api/live, schema LIVE_SCHEMA, documented in README "Live view").

import { HISTOGRAM_KEYS, type RouterCounters } from '../../operator/telemetry/counters.js';
import type { HistogramSeries } from '../../operator/telemetry/prom-text.js';

export const LIVE_SCHEMA = 'tinysaver.live/v1';
export const STAGES = ['saver', 'base', 'total'] as const;
export type Stage = (typeof STAGES)[number];

export interface LiveSample {
  /** end of the control interval, ms since the Unix epoch */
  t: number;
  /** threshold in force after this interval's decision, and the controller's range */
  threshold: number;
  min: number;
  max: number;
  /** what adaptive control heads for (null when unknown) */
  recommended: number | null;
  /** certified upper bound on the loss vs the base at the threshold in force (null when unknown) */
  bound: number | null;
  budget: number;
  /** audit rate in force after this interval */
  auditRate: number;
  /** rows the routers answered during this interval */
  rows: number;
  /** saver-answered / all rows, and escalated (base + fallback) / all rows, this interval (null: no rows) */
  share: number | null;
  escalation: number | null;
  /** median and 95th percentile request latency by router stage this interval, ms (null: no requests) */
  latencyP50Ms: Record<Stage, number | null>;
  latencyP95Ms: Record<Stage, number | null>;
  /** the controller held the threshold because of its guards (no/stale/invalid telemetry) */
  holding: boolean;
  reason: string;
}

export interface LiveDecision {
  /** time of the (latest) decision, ms since the epoch; `first` when a run of equal decisions began */
  t: number;
  first: number;
  /** consecutive equal decisions (same reason, threshold unchanged) merged into this entry */
  count: number;
  from: number;
  to: number;
  changed: boolean;
  direction: 'raise' | 'lower' | 'none';
  reason: string;
  message: string;
  /** certified loss bound at `from` (the evidence for the decision) and at `to` (null when unknown) */
  bound: number | null;
  boundAfter: number | null;
  budget: number;
  /** audit rate in force after the decision */
  auditRate: number;
}

export interface LiveConfig {
  mode: string;
  epsilon: number;
  confidence: number;
  min: number;
  max: number;
  initial: number;
  intervalMs: number;
  windowMs: number;
  routers: string[];
  saver: string;
  base: string;
}

export interface LiveState {
  schema: typeof LIVE_SCHEMA;
  /** differs on every start of `up`: a client seeing a new value drops what it had */
  instance: string;
  startedAt: number;
  now: number;
  config: LiveConfig;
  samples: LiveSample[];
  decisions: LiveDecision[];
}

const finiteOrNull = (v: number): number | null => (Number.isFinite(v) ? v : null);

/** Quantile q of the observations between two cumulative histogram snapshots (linear within a bucket, as PromQL's histogram_quantile). */
export function histogramQuantile(q: number, cur: HistogramSeries, prev?: HistogramSeries): number {
  const same = prev && prev.le.length === cur.le.length && prev.le.every((v, i) => v === cur.le[i]) && prev.count <= cur.count;
  const counts = cur.cumulative.map((c, i) => c - (same ? prev!.cumulative[i] : 0));
  const total = counts[counts.length - 1] ?? 0;
  if (!(total > 0)) return NaN;
  const rank = q * total;
  for (let i = 0; i < counts.length; i++) {
    if (counts[i] >= rank) {
      const upper = cur.le[i];
      const lower = i === 0 ? 0 : cur.le[i - 1];
      if (upper === Infinity) return lower; // beyond the last finite edge: the edge is all we know
      const below = i === 0 ? 0 : counts[i - 1];
      const inBucket = counts[i] - below;
      return inBucket > 0 ? lower + (upper - lower) * ((rank - below) / inBucket) : upper;
    }
  }
  return NaN;
}

export interface IntervalInput {
  t: number;
  threshold: number;
  recommended: number;
  /** bound at the threshold in force after the decision, and at the one before it */
  bound: number;
  boundBefore: number;
  auditRate: number;
  holding: boolean;
  reason: string;
  message: string;
  from: number;
  changed: boolean;
  direction: 'raise' | 'lower' | 'none';
  /** this interval's pooled counter deltas (what the controller added to its window) */
  delta: RouterCounters;
  /** latency histograms by stage now and at the previous sample (undefined when the router could not be read) */
  latency?: Partial<Record<Stage, HistogramSeries>>;
  previousLatency?: Partial<Record<Stage, HistogramSeries>>;
}

export class Timeline {
  private readonly samples: LiveSample[] = [];
  private readonly decisions: LiveDecision[] = [];

  constructor(
    readonly config: LiveConfig,
    readonly instance: string,
    readonly startedAt: number,
    private readonly maxSamples = 720,
    private readonly maxDecisions = 200,
  ) {}

  add(x: IntervalInput): LiveSample {
    const d = x.delta;
    const valid = HISTOGRAM_KEYS.every((k) => d[k].every((v) => Number.isFinite(v) && v >= 0));
    const routed = d.rowsSaver + d.rowsBase + d.rowsFallback;
    const rows = valid && routed > 0 ? routed : 0;
    const lat = (q: number) =>
      Object.fromEntries(
        STAGES.map((s) => [s, x.latency?.[s] ? finiteOrNull(histogramQuantile(q, x.latency[s]!, x.previousLatency?.[s]) * 1000) : null]),
      ) as Record<Stage, number | null>;
    const sample: LiveSample = {
      t: x.t,
      threshold: x.threshold,
      min: this.config.min,
      max: this.config.max,
      recommended: finiteOrNull(x.recommended),
      bound: finiteOrNull(x.bound),
      budget: this.config.epsilon,
      auditRate: x.auditRate,
      rows,
      share: rows > 0 ? d.rowsSaver / rows : null,
      escalation: rows > 0 ? (d.rowsBase + d.rowsFallback) / rows : null,
      latencyP50Ms: lat(0.5),
      latencyP95Ms: lat(0.95),
      holding: x.holding,
      reason: x.reason,
    };
    // requests answered without rows in this interval: no latency to show either
    if (rows === 0) for (const s of STAGES) sample.latencyP50Ms[s] = sample.latencyP95Ms[s] = null;
    this.samples.push(sample);
    if (this.samples.length > this.maxSamples) this.samples.splice(0, this.samples.length - this.maxSamples);

    const last = this.decisions[this.decisions.length - 1];
    const entry: LiveDecision = {
      t: x.t,
      first: x.t,
      count: 1,
      from: x.from,
      to: x.threshold,
      changed: x.changed,
      direction: x.direction,
      reason: x.reason,
      message: x.message,
      bound: finiteOrNull(x.boundBefore),
      boundAfter: sample.bound,
      budget: sample.budget,
      auditRate: x.auditRate,
    };
    if (last && !last.changed && !x.changed && last.reason === x.reason && last.to === x.threshold) {
      // a run of equal decisions: one entry, latest numbers
      this.decisions[this.decisions.length - 1] = { ...entry, first: last.first, count: last.count + 1 };
    } else {
      this.decisions.push(entry);
      if (this.decisions.length > this.maxDecisions) this.decisions.splice(0, this.decisions.length - this.maxDecisions);
    }
    return sample;
  }

  /** Everything, or what changed after `since` (samples newer than it, decisions updated after it). */
  state(now: number, since?: number): LiveState {
    const after = since === undefined ? () => true : (t: number) => t > since;
    return {
      schema: LIVE_SCHEMA,
      instance: this.instance,
      startedAt: this.startedAt,
      now,
      config: this.config,
      samples: this.samples.filter((s) => after(s.t)),
      decisions: this.decisions.filter((d) => after(d.t)),
    };
  }
}
