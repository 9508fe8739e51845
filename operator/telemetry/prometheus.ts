// Optional telemetry source for clusters that already run Prometheus: instead of scraping the routers,
// ask the Prometheus HTTP API for `increase(...[window])` of the router metrics. The answer has the same
// shape as the scraper's window (RouterCounters over the window), so the same policy and certification
// run on it. increase() extrapolates to the window edges, so counts come back fractional: they are
// rounded and the cumulative `le` series made non-decreasing before they are split into buckets.

import { CONFIDENCE_BUCKETS } from '../../core/cascade/buckets.js';
import { type RouterCounters, totalRows, zeroCounters } from './counters.js';
import { fetchText } from './scrape.js';
import { parseValue } from './prom-text.js';
import { ROUTER_METRICS as M } from '../../core/metrics/router-metric-names.js';

export interface PrometheusSource {
  /** base URL of the Prometheus server, e.g. http://prometheus.monitoring:9090 */
  url: string;
  /** PromQL label matchers selecting one cascade's routers, e.g. namespace="prod",pod=~"fashion-saver-.*" */
  selector: string;
  timeoutMs?: number;
  maxBytes?: number;
}

export interface PrometheusWindow {
  counters: RouterCounters;
  rows: number;
  /** age of the newest router sample Prometheus holds (ms; Infinity when none) */
  ageMs: number;
}

interface VectorSample {
  metric: Record<string, string>;
  value: number;
}

/** Parse an instant-query answer; throws with a clear message on anything but a success vector. */
export function parseVectorResponse(text: string): VectorSample[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`Prometheus answer is not JSON: ${(e as Error).message}`);
  }
  const d = doc as { status?: unknown; error?: unknown; data?: { resultType?: unknown; result?: unknown } };
  if (d?.status !== 'success')
    throw new Error(`Prometheus query failed: ${typeof d?.error === 'string' ? d.error : 'status is not "success"'}`);
  if (d.data?.resultType !== 'vector' || !Array.isArray(d.data.result)) throw new Error('Prometheus answer is not an instant vector');
  return d.data.result.map((r: unknown, i: number) => {
    const x = r as { metric?: unknown; value?: unknown };
    if (
      typeof x?.metric !== 'object' ||
      x.metric === null ||
      !Array.isArray(x.value) ||
      x.value.length !== 2 ||
      typeof x.value[1] !== 'string'
    ) {
      throw new Error(`Prometheus answer: result[${i}] is not {metric, value: [time, "number"]}`);
    }
    return { metric: x.metric as Record<string, string>, value: parseValue(x.value[1]) };
  });
}

/** Per-bucket counts from `sum by (le) (increase(..._bucket[w]))` samples (optionally filtered by a label). */
export function bucketsFromVector(
  samples: VectorSample[],
  match: Record<string, string>,
  edges: readonly number[] = CONFIDENCE_BUCKETS,
): number[] {
  const expected = [...edges, Infinity];
  const cumulative = new Array<number>(expected.length).fill(0);
  for (const s of samples) {
    if (!Object.entries(match).every(([k, v]) => s.metric[k] === v)) continue;
    if (s.metric.le === undefined) throw new Error('Prometheus answer: bucket sample without an le label');
    const le = parseValue(s.metric.le);
    const i = expected.indexOf(le);
    if (i < 0) throw new Error(`Prometheus answer: le="${s.metric.le}" is not on the CONFIDENCE_BUCKETS grid`);
    if (!Number.isFinite(s.value) || s.value < 0) throw new Error(`Prometheus answer: bucket le="${s.metric.le}" has value ${s.value}`);
    cumulative[i] += s.value;
  }
  const out = new Array<number>(expected.length);
  let prev = 0;
  for (let i = 0; i < expected.length; i++) {
    const c = Math.max(prev, Math.round(cumulative[i]));
    out[i] = c - prev;
    prev = c;
  }
  return out;
}

function query(src: PrometheusSource, promql: string, atMs: number): Promise<VectorSample[]> {
  const u = new URL('/api/v1/query', src.url);
  u.searchParams.set('query', promql);
  u.searchParams.set('time', (atMs / 1000).toFixed(3));
  return fetchText(u.toString(), src.timeoutMs ?? 5000, src.maxBytes ?? 4 * 1024 * 1024).then(parseVectorResponse);
}

/** The window as Prometheus sees it, in the estimator's shape. */
export async function prometheusWindow(
  src: PrometheusSource,
  windowSeconds: number,
  atMs: number,
  edges: readonly number[] = CONFIDENCE_BUCKETS,
): Promise<PrometheusWindow> {
  if (!/^[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"/.test(src.selector.trim())) {
    throw new Error(
      `Prometheus selector must be label matchers like namespace="prod",pod=~"x-saver-.*", got ${JSON.stringify(src.selector)}`,
    );
  }
  const w = `${Math.max(1, Math.round(windowSeconds))}s`;
  const sel = `{${src.selector}}`;
  const [all, esc, aud, rows, age] = await Promise.all([
    query(src, `sum by (le) (increase(${M.confidence}_bucket${sel}[${w}]))`, atMs),
    query(src, `sum by (le, agree) (increase(${M.escalated}_bucket${sel}[${w}]))`, atMs),
    query(src, `sum by (le, agree) (increase(${M.audit}_bucket${sel}[${w}]))`, atMs),
    query(src, `sum by (route) (increase(${M.rows}${sel}[${w}]))`, atMs),
    query(src, `time() - max(timestamp(${M.confidence}_count${sel}))`, atMs),
  ]);
  const c = zeroCounters(edges);
  c.all = bucketsFromVector(all, {}, edges);
  c.escalatedAgree = bucketsFromVector(esc, { agree: 'true' }, edges);
  c.escalatedDisagree = bucketsFromVector(esc, { agree: 'false' }, edges);
  c.auditAgree = bucketsFromVector(aud, { agree: 'true' }, edges);
  c.auditDisagree = bucketsFromVector(aud, { agree: 'false' }, edges);
  const route = (r: string) => Math.max(0, Math.round(rows.find((s) => s.metric.route === r)?.value ?? 0));
  c.rowsSaver = route('saver');
  c.rowsBase = route('base');
  c.rowsFallback = route('fallback');
  const ageSeconds = age[0]?.value;
  return {
    counters: c,
    rows: totalRows(c),
    ageMs: ageSeconds !== undefined && Number.isFinite(ageSeconds) ? Math.max(0, ageSeconds * 1000) : Infinity,
  };
}
