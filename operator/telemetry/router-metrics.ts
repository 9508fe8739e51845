// Turn one router's /metrics exposition into a RouterSnapshot (cumulative counters + gauges).
// Metric names are the data-plane contract in DESIGN.md; the confidence histograms must use the shared
// CONFIDENCE_BUCKETS grid, otherwise the counts cannot be pooled and the snapshot is rejected.

import { CONFIDENCE_BUCKETS } from '../../core/cascade/buckets.js';
import { BASE_STATES, ROUTER_METRICS, type BaseState } from '../../core/metrics/router-metric-names.js';
import { type RouterCounters, zeroCounters } from './counters.js';
import { type MetricFamily, PromParseError, histogramSeries, labelsMatch, parsePromText, type ParseLimits } from './prom-text.js';

export interface RouterSnapshot {
  counters: RouterCounters;
  /** the router's live threshold gauge (NaN if absent) */
  threshold: number;
  /** the router's live audit-rate gauge (NaN if absent) */
  auditRate: number;
  /** process start time in seconds since the epoch, when exposed (a change means a restart) */
  processStartSeconds?: number;
  /** the router's view of its base (tinysaver_base_state), when exposed */
  baseState?: BaseState;
}

/** Counter families in prom-client text may be named with or without `_total` in # TYPE. */
function findFamily(families: Map<string, MetricFamily>, name: string): MetricFamily | undefined {
  return families.get(name) ?? (name.endsWith('_total') ? families.get(name.slice(0, -'_total'.length)) : undefined);
}

function sumSamples(f: MetricFamily | undefined, sampleName: string, match: Record<string, string> = {}): number {
  if (!f) return 0;
  let s = 0;
  for (const x of f.samples) {
    if (x.name !== sampleName || !labelsMatch(x.labels, match)) continue;
    if (!Number.isFinite(x.value) || x.value < 0) throw new PromParseError(`${sampleName} has value ${x.value}`);
    s += x.value;
  }
  return s;
}

function gauge(f: MetricFamily | undefined): number {
  if (!f) return NaN;
  const s = f.samples.find((x) => x.name === f.name);
  return s ? s.value : NaN;
}

/** Cumulative -> per-bucket counts on the shared grid; throws if the router uses another grid. */
function perBucket(f: MetricFamily | undefined, match: Record<string, string>, edges: readonly number[]): number[] {
  const out = new Array<number>(edges.length + 1).fill(0);
  if (!f) return out;
  const series = histogramSeries(f, match);
  if (!series) return out;
  const expected = [...edges, Infinity];
  const same = series.le.length === expected.length && series.le.every((v, i) => v === expected[i]);
  if (!same) {
    throw new PromParseError(
      `${f.name}: bucket grid (${series.le.length} edges) differs from CONFIDENCE_BUCKETS (${expected.length} edges incl. +Inf)`,
    );
  }
  for (let i = 0; i < expected.length; i++) {
    // Row counts are integers; anything else (or beyond 2^53) is a broken or hostile exporter.
    if (!Number.isSafeInteger(series.cumulative[i]))
      throw new PromParseError(`${f.name}: bucket count ${series.cumulative[i]} is not a whole number of rows`);
    out[i] = series.cumulative[i] - (i > 0 ? series.cumulative[i - 1] : 0);
  }
  return out;
}

export function routerSnapshotFromFamilies(
  families: Map<string, MetricFamily>,
  edges: readonly number[] = CONFIDENCE_BUCKETS,
): RouterSnapshot {
  const conf = families.get(ROUTER_METRICS.confidence);
  if (!conf) throw new PromParseError(`no ${ROUTER_METRICS.confidence} histogram: not a tinysaver router`);
  const esc = families.get(ROUTER_METRICS.escalated);
  const aud = families.get(ROUTER_METRICS.audit);
  const c = zeroCounters(edges);
  c.all = perBucket(conf, {}, edges);
  c.escalatedAgree = perBucket(esc, { agree: 'true' }, edges);
  c.escalatedDisagree = perBucket(esc, { agree: 'false' }, edges);
  c.auditAgree = perBucket(aud, { agree: 'true' }, edges);
  c.auditDisagree = perBucket(aud, { agree: 'false' }, edges);
  const rows = findFamily(families, ROUTER_METRICS.rows);
  c.rowsSaver = sumSamples(rows, ROUTER_METRICS.rows, { route: 'saver' });
  c.rowsBase = sumSamples(rows, ROUTER_METRICS.rows, { route: 'base' });
  c.rowsFallback = sumSamples(rows, ROUTER_METRICS.rows, { route: 'fallback' });
  c.requests = sumSamples(findFamily(families, ROUTER_METRICS.requests), ROUTER_METRICS.requests);
  c.auditDropped = sumSamples(findFamily(families, ROUTER_METRICS.auditDropped), ROUTER_METRICS.auditDropped);
  c.baseFailures = sumSamples(findFamily(families, ROUTER_METRICS.baseFailures), ROUTER_METRICS.baseFailures);
  const start = gauge(families.get(ROUTER_METRICS.processStart));
  const snap: RouterSnapshot = {
    counters: c,
    threshold: gauge(families.get(ROUTER_METRICS.threshold)),
    auditRate: gauge(families.get(ROUTER_METRICS.auditRate)),
  };
  if (Number.isFinite(start)) snap.processStartSeconds = start;
  const state = baseStateOf(families.get(ROUTER_METRICS.baseState));
  if (state) snap.baseState = state;
  return snap;
}

/** The state whose series of the tinysaver_base_state state set reads 1 (undefined: absent or none set). */
function baseStateOf(f: MetricFamily | undefined): BaseState | undefined {
  if (!f) return undefined;
  const on = f.samples.find((x) => x.name === f.name && x.value === 1);
  const state = on?.labels.state;
  return (BASE_STATES as readonly string[]).includes(state ?? '') ? (state as BaseState) : undefined;
}

/** Parse + extract in one step (the scraper's entry point). */
export function parseRouterMetrics(text: string, limits?: ParseLimits, edges?: readonly number[]): RouterSnapshot {
  return routerSnapshotFromFamilies(parsePromText(text, limits), edges);
}
