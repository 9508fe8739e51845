// Synthetic cascade traffic with known truth for the decision-log tests and the simulate --decisions bench:
// a population of rows (saver confidence, saver and base top-1), and a router-like pass over it at a threshold
// that picks audits exactly as the router does (sampleAuditRows, seeded) and logs through the real
// RouterDecisionLog. The truth of every what-if is computed by brute force over the population.

import { seededRandom } from '../../core/random.js';
import { sampleAuditRows } from '../../runtime/router/audit.js';
import { RouterDecisionLog } from '../../runtime/decisions/router-log.js';
import type { DecisionRecord } from '../../runtime/decisions/record.js';

export interface Population {
  conf: Float64Array;
  saverTop1: Int32Array;
  baseTop1: Int32Array;
}

/** n rows; disagreement falls with confidence (P(agree) = 0.3 + 0.7 conf^2), 10 classes. */
export function population(n: number, seed: number): Population {
  const rand = seededRandom(seed);
  const conf = new Float64Array(n);
  const saverTop1 = new Int32Array(n);
  const baseTop1 = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = 0.1 + 0.9 * Math.pow(rand(), 0.35);
    conf[i] = c;
    const s = Math.floor(rand() * 10);
    saverTop1[i] = s;
    baseTop1[i] = rand() < 0.3 + 0.7 * c * c ? s : (s + 1 + Math.floor(rand() * 9)) % 10;
  }
  return { conf, saverTop1, baseTop1 };
}

/** Brute force: share of rows with conf >= s, and share with conf >= s and saver != base. */
export function truth(p: Population, s: number): { share: number; disagreement: number } {
  let kept = 0;
  let dis = 0;
  for (let i = 0; i < p.conf.length; i++) {
    if (p.conf[i] >= s) {
      kept++;
      if (p.saverTop1[i] !== p.baseTop1[i]) dis++;
    }
  }
  return { share: kept / p.conf.length, disagreement: dis / p.conf.length };
}

export interface TrafficOptions {
  threshold: number;
  auditRate: number;
  sampleRate: number;
  seed: number;
  /** rows per request (default 4) */
  batch?: number;
  /** fraction of sampled audits dropped (base saturated), seeded (default 0) */
  dropRate?: number;
  cascade?: string;
  saver?: string;
  base?: string;
  pod?: string;
  /** time of the first request (ms) and the step per request (default 1 ms) */
  t0?: number;
}

/** Run the population through a router-like pass; each record goes to `sink`. */
export function logTraffic(p: Population, o: TrafficOptions, sink: (r: DecisionRecord) => void): void {
  const audit = seededRandom(o.seed);
  const drop = seededRandom(o.seed + 7);
  let t = o.t0 ?? Date.parse('2026-12-01T00:00:00Z');
  const log = new RouterDecisionLog({
    log: { push: (r) => (sink(r), true) },
    cascade: o.cascade ?? 'cascade',
    saver: o.saver ?? 'sha256:saver',
    base: o.base ?? 'sha256:base',
    sampleRate: o.sampleRate,
    includeInputs: 'none',
    seed: o.seed,
    pod: o.pod ?? 'pod-a',
    threshold: o.threshold,
    auditRate: o.auditRate,
    now: () => t,
  });
  const batch = o.batch ?? 4;
  for (let start = 0, reqNo = 0; start < p.conf.length; start += batch, reqNo++) {
    const n = Math.min(batch, p.conf.length - start);
    const conf = p.conf.subarray(start, start + n);
    const routes: string[] = [];
    const saverRows: number[] = [];
    const baseTop1 = new Int32Array(n).fill(-1);
    for (let i = 0; i < n; i++) {
      if (conf[i] >= o.threshold) {
        routes.push('saver');
        saverRows.push(i);
      } else {
        routes.push('base');
        baseTop1[i] = p.baseTop1[start + i];
      }
    }
    const audited = sampleAuditRows(saverRows, o.auditRate, audit);
    const handle = log.request({
      req: { id: `req-${reqNo}`, inputs: [] },
      confidence: conf,
      saverTop1: p.saverTop1.subarray(start, start + n),
      baseTop1,
      routes,
      audited,
      threshold: o.threshold,
      auditRate: o.auditRate,
      ms: { saver: 0.1, base: 0.5, total: 0.7 },
    });
    if (handle) {
      if (o.dropRate && drop() < o.dropRate) handle.dropped();
      else handle.done(audited.map((i) => p.baseTop1[start + i]));
    }
    t += 1;
  }
}
