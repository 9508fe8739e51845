// The router's Prometheus metrics. The names and labels are a contract (DESIGN.md "Metrics"): the
// operator's threshold controller scrapes them, so do not rename. Every label combination is created
// at zero on startup so the controller sees the series before the first request.

import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CONFIDENCE_BUCKETS } from '../../core/cascade/buckets.js';
import { BASE_STATES, ROUTER_METRICS as M, type BaseState } from '../../core/metrics/router-metric-names.js';

export type RowRoute = 'saver' | 'base' | 'fallback';

const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface RouterMetrics {
  registry: Registry;
  /** tinysaver_requests_total{model=<cascade name>} */
  requests: Counter.Internal;
  rows: Record<RowRoute, Counter.Internal>;
  confidence: Histogram<string>;
  escalated: { agree: Histogram.Internal<'agree'>; disagree: Histogram.Internal<'agree'> };
  audit: { agree: Histogram.Internal<'agree'>; disagree: Histogram.Internal<'agree'> };
  auditDropped: Counter<string>;
  /** decision-log records not written (queue full: the sink is slower than the traffic; or the sink failed) */
  decisionLogDropped: Counter<string>;
  threshold: Gauge<string>;
  auditRate: Gauge<string>;
  baseFailures: Counter<string>;
  thresholdReloadErrors: Counter<string>;
  /** where tinysaver_base_state reads the base's state at each scrape (default: unverified) */
  setBaseState(source: () => BaseState): void;
  duration: { saver: Histogram.Internal<'stage'>; base: Histogram.Internal<'stage'>; total: Histogram.Internal<'stage'> };
}

export function createRouterMetrics(modelName: string): RouterMetrics {
  const registry = new Registry();
  const registers = [registry];
  const requests = new Counter({ name: M.requests, help: 'Inference requests received by the router.', labelNames: ['model'], registers });
  const requestsForModel = requests.labels({ model: modelName });
  requestsForModel.inc(0);
  const rowsTotal = new Counter({
    name: M.rows,
    help: 'Rows answered, by route: saver (confident), base (escalated), fallback (escalated but the base failed; saver answered).',
    labelNames: ['route'],
    registers,
  });
  const confidence = new Histogram({
    name: M.confidence,
    help: 'Saver confidence of every row.',
    buckets: [...CONFIDENCE_BUCKETS],
    registers,
  });
  const escalatedH = new Histogram({
    name: M.escalated,
    help: 'Saver confidence of escalated rows the base answered, by saver/base top-1 agreement.',
    labelNames: ['agree'],
    buckets: [...CONFIDENCE_BUCKETS],
    registers,
  });
  const auditH = new Histogram({
    name: M.audit,
    help: 'Saver confidence of audited saver-answered rows, by saver/base top-1 agreement.',
    labelNames: ['agree'],
    buckets: [...CONFIDENCE_BUCKETS],
    registers,
  });
  const auditDropped = new Counter({
    name: M.auditDropped,
    help: 'Sampled audit rows not audited (audit slots full, base circuit open, or the base call failed).',
    registers,
  });
  const decisionLogDropped = new Counter({
    name: M.decisionLogDropped,
    help: 'Decision-log records dropped instead of waiting: the queue was full (sink slower than the traffic) or the sink failed.',
    registers,
  });
  const threshold = new Gauge({
    name: M.threshold,
    help: 'Confidence threshold in effect: rows at or above it are answered by the saver.',
    registers,
  });
  const auditRate = new Gauge({ name: M.auditRate, help: 'Fraction of saver-answered rows sampled for audit.', registers });
  const baseFailures = new Counter({
    name: M.baseFailures,
    help: 'Base calls that failed (error, timeout) or were skipped because the circuit was open.',
    registers,
  });
  const thresholdReloadErrors = new Counter({
    name: M.thresholdReloadErrors,
    help: 'Threshold file reads that were invalid; the last good value was kept.',
    registers,
  });
  // The base's state as the router sees it, read at scrape time (the operator's Degraded condition uses it).
  let baseStateSource: () => BaseState = () => 'unverified';
  new Gauge({
    name: M.baseState,
    help: 'Base model state (1 for the current state): up (escalations go to the base), circuit-open (base calls skipped by the circuit breaker), unverified (base not reachable since startup; fallback answers).',
    labelNames: ['state'],
    registers,
    collect() {
      const now = baseStateSource();
      for (const state of BASE_STATES) this.set({ state }, state === now ? 1 : 0);
    },
  });
  // Lets a scraper tell a restart (counters back to zero) from a quiet period: the router's start time.
  const started = new Gauge({ name: M.processStart, help: 'Start time of this router in seconds since the Unix epoch.', registers });
  started.set(Math.floor(Date.now() / 1000));
  const durationH = new Histogram({
    name: M.duration,
    help: 'Request latency by stage: saver call, base call, total in the router.',
    labelNames: ['stage'],
    buckets: LATENCY_BUCKETS,
    registers,
  });

  const rows = {
    saver: rowsTotal.labels({ route: 'saver' }),
    base: rowsTotal.labels({ route: 'base' }),
    fallback: rowsTotal.labels({ route: 'fallback' }),
  };
  for (const c of Object.values(rows)) c.inc(0);
  const agreeChildren = (h: Histogram<'agree'>) => {
    h.zero({ agree: 'true' });
    h.zero({ agree: 'false' });
    return { agree: h.labels({ agree: 'true' }), disagree: h.labels({ agree: 'false' }) };
  };
  for (const stage of ['saver', 'base', 'total']) durationH.zero({ stage });
  return {
    registry,
    requests: requestsForModel,
    rows,
    confidence,
    escalated: agreeChildren(escalatedH),
    audit: agreeChildren(auditH),
    auditDropped,
    decisionLogDropped,
    threshold,
    auditRate,
    baseFailures,
    thresholdReloadErrors,
    setBaseState: (source) => {
      baseStateSource = source;
    },
    duration: {
      saver: durationH.labels({ stage: 'saver' }),
      base: durationH.labels({ stage: 'base' }),
      total: durationH.labels({ stage: 'total' }),
    },
  };
}
