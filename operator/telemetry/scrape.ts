// Discover a cascade's router pods and scrape their /metrics concurrently, each with a deadline and a
// byte limit. Network bytes are hostile: an oversized, slow or malformed answer is a per-pod failure
// with a reason, never an exception out of the cycle.

import http from 'node:http';
import { type ParseLimits } from './prom-text.js';
import { type RouterSnapshot, parseRouterMetrics } from './router-metrics.js';
import type { PodObservation } from './deltas.js';

export const CASCADE_LABEL = 'tinysaver.io/cascade';
/** Pod annotation that overrides the router's metrics port (default 8000, the router's contract port). */
export const METRICS_PORT_ANNOTATION = 'tinysaver.io/metrics-port';
export const DEFAULT_ROUTER_PORT = 8000;

/** The few Pod fields the scraper reads (a subset of core/v1 Pod). */
export interface PodLike {
  metadata?: { name?: string; namespace?: string; uid?: string; annotations?: Record<string, string>; deletionTimestamp?: string };
  status?: {
    phase?: string;
    podIP?: string;
    startTime?: string;
    conditions?: { type?: string; status?: string }[];
  };
}

export interface ScrapeTarget {
  key: string;
  uid?: string;
  startedAtMs?: number;
  url: string;
}

/** Running + Ready + has an IP + not being deleted -> a target; everything else is skipped. */
export function targetsFromPods(pods: readonly PodLike[], defaultPort = DEFAULT_ROUTER_PORT): ScrapeTarget[] {
  const out: ScrapeTarget[] = [];
  for (const p of pods) {
    const md = p.metadata ?? {};
    const st = p.status ?? {};
    if (md.deletionTimestamp || st.phase !== 'Running' || !st.podIP) continue;
    const ready = (st.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
    if (!ready) continue;
    const annotated = Number(md.annotations?.[METRICS_PORT_ANNOTATION]);
    const port = Number.isInteger(annotated) && annotated > 0 && annotated < 65536 ? annotated : defaultPort;
    const host = st.podIP.includes(':') ? `[${st.podIP}]` : st.podIP;
    const t: ScrapeTarget = { key: `${md.namespace ?? ''}/${md.name ?? st.podIP}`, url: `http://${host}:${port}/metrics` };
    if (md.uid) t.uid = md.uid;
    const started = st.startTime ? Date.parse(st.startTime) : NaN;
    if (Number.isFinite(started)) t.startedAtMs = started;
    out.push(t);
  }
  return out;
}

export interface ScrapeOptions {
  timeoutMs?: number;
  maxBytes?: number;
  limits?: ParseLimits;
}

/** GET a URL as text with a deadline and a byte limit (rejects with a short reason). */
export function fetchText(url: string, timeoutMs: number, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | undefined, text?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(text as string);
    };
    const req = http.get(url, { headers: { accept: 'text/plain;version=0.0.4' } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        finish(new Error(`HTTP ${res.statusCode}`));
        req.destroy();
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) {
          finish(new Error(`response larger than ${maxBytes} bytes`));
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => finish(undefined, Buffer.concat(chunks).toString('utf8')));
      res.on('error', (e) => finish(e));
    });
    const timer = setTimeout(() => {
      finish(new Error(`timed out after ${timeoutMs} ms`));
      req.destroy();
    }, timeoutMs);
    req.on('error', (e) => finish(e));
  });
}

export interface ScrapeFailure {
  key: string;
  url: string;
  reason: string;
}

export interface ScrapeResult {
  observed: PodObservation[];
  failed: ScrapeFailure[];
}

/** Scrape every target at once; each failure is reported with its reason. */
export async function scrapeTargets(targets: readonly ScrapeTarget[], opts: ScrapeOptions = {}): Promise<ScrapeResult> {
  const timeoutMs = opts.timeoutMs ?? 2000;
  const maxBytes = opts.maxBytes ?? 2 * 1024 * 1024;
  const results = await Promise.all(
    targets.map(async (t): Promise<PodObservation | ScrapeFailure> => {
      let snapshot: RouterSnapshot;
      try {
        const text = await fetchText(t.url, timeoutMs, maxBytes);
        snapshot = parseRouterMetrics(text, { maxChars: maxBytes, ...opts.limits });
      } catch (e) {
        return { key: t.key, url: t.url, reason: (e as Error).message || String(e) };
      }
      const obs: PodObservation = { key: t.key, snapshot };
      if (t.uid !== undefined) obs.uid = t.uid;
      if (t.startedAtMs !== undefined) obs.startedAtMs = t.startedAtMs;
      return obs;
    }),
  );
  const observed: PodObservation[] = [];
  const failed: ScrapeFailure[] = [];
  for (const r of results) {
    if ('snapshot' in r) observed.push(r);
    else failed.push(r);
  }
  return { observed, failed };
}
