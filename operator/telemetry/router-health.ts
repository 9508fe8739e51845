// The routers' own view of the cascade, from the same scrape the threshold controller makes: how many rows
// the base failed to answer (route "fallback"), base call failures, each router's base state
// (tinysaver_base_state: up, circuit-open, unverified) and the threshold each router uses now (its
// tinysaver_threshold gauge). The controller writes the summary to status.routers; the reconciler turns it
// into Degraded (BaseUnavailable / FallbackServing) with routerHealthProblem(), and the controller into the
// ThresholdApplied condition with thresholdAppliedCondition(). Pure apart from the window's clock input.

import type { BaseState } from '../../core/metrics/router-metric-names.js';
import type { Condition } from '../api/model-cascade.js';
import type { RouterCounters } from './counters.js';
import type { PodObservation } from './deltas.js';

/** status.routers: written by the threshold controller each time it writes status. */
export interface RoutersStatus {
  /** when the routers were scraped (RFC 3339) */
  time: string;
  /** routers that answered /metrics in that scrape */
  observed: number;
  /** span the row and failure counts cover, seconds (spec.health.window, at least one control interval) */
  windowSeconds: number;
  /** rows the routers answered in the window (every route) */
  rows: number;
  /** of those, rows that needed the base and were answered by the saver because the base failed */
  fallbackRows: number;
  /** base calls that failed or were skipped (circuit open) in the window */
  baseFailures: number;
  /** routers whose base circuit breaker is open (base calls skipped) */
  circuitOpen: number;
  /** routers that have not reached the base since they started (fallback until they do) */
  unverified: number;
  /** lowest and highest threshold the routers use now (their tinysaver_threshold gauges) */
  thresholdMin?: number;
  thresholdMax?: number;
  /** routers whose threshold equals status.threshold (the value the operator wrote to the ConfigMap) */
  atThreshold: number;
  /** the routers' thresholds for `kubectl get mc`: "0.9", or "0.88-0.9" while they differ */
  thresholdInUse?: string;
}

/** spec.health, defaulted (withDefaults). */
export interface HealthLimits {
  /** Degraded (FallbackServing) above this share of rows answered by fallback */
  maxFallbackShare: number;
  /** fewer rows in the window than this: the fallback share is not judged (the base state still is) */
  minRows: number;
}

interface Slot {
  atMs: number;
  rows: number;
  fallbackRows: number;
  baseFailures: number;
}

/** The short health window: per-interval deltas of rows, fallback rows and base failures. */
export class RouterHealthWindow {
  private slots: Slot[] = [];

  add(atMs: number, delta: RouterCounters): void {
    let rows = 0;
    for (const v of delta.all) rows += v;
    this.slots.push({ atMs, rows, fallbackRows: delta.rowsFallback, baseFailures: delta.baseFailures });
  }

  sum(nowMs: number, windowMs: number): { rows: number; fallbackRows: number; baseFailures: number } {
    this.slots = this.slots.filter((s) => s.atMs > nowMs - windowMs);
    const out = { rows: 0, fallbackRows: 0, baseFailures: 0 };
    for (const s of this.slots) {
      out.rows += s.rows;
      out.fallbackRows += s.fallbackRows;
      out.baseFailures += s.baseFailures;
    }
    return out;
  }
}

const sameThreshold = (a: number, b: number) => Math.abs(a - b) < 1e-9;

/**
 * status.routers from one scrape cycle: the window's counts (after `window.add` of this cycle's delta), the
 * observed routers' gauges, and the threshold the operator wants them to use (status.threshold).
 */
export function routersStatus(input: {
  observed: readonly PodObservation[];
  window: { rows: number; fallbackRows: number; baseFailures: number };
  windowMs: number;
  desired: number;
  now: Date;
}): RoutersStatus {
  const states = input.observed.map((o) => o.snapshot.baseState);
  const count = (s: BaseState) => states.filter((x) => x === s).length;
  const thresholds = input.observed.map((o) => o.snapshot.threshold).filter((t) => Number.isFinite(t));
  const out: RoutersStatus = {
    time: input.now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    observed: input.observed.length,
    windowSeconds: Math.round(input.windowMs / 1000),
    rows: input.window.rows,
    fallbackRows: input.window.fallbackRows,
    baseFailures: input.window.baseFailures,
    circuitOpen: count('circuit-open'),
    unverified: count('unverified'),
    atThreshold: thresholds.filter((t) => sameThreshold(t, input.desired)).length,
  };
  if (thresholds.length > 0) {
    const min = Math.min(...thresholds);
    const max = Math.max(...thresholds);
    out.thresholdMin = min;
    out.thresholdMax = max;
    out.thresholdInUse = sameThreshold(min, max) ? String(min) : `${min}-${max}`;
  }
  return out;
}

/** 0.23 -> "23%", 0.012 -> "1.2%", 0.01 -> "1%" (two significant digits). */
export function percent(v: number): string {
  return `${Number((v * 100).toPrecision(2))}%`;
}

const count = (n: number) => n.toLocaleString('en-US');

/**
 * Why the routers say the cascade is degraded, or undefined. BaseUnavailable: at least one router cannot
 * call its base now (circuit open, or never reached since it started). FallbackServing: the base answers
 * on every router, but more than limits.maxFallbackShare of the window's rows (at least limits.minRows of
 * them) were answered by fallback (timeouts, errors). The message names the numbers.
 */
export function routerHealthProblem(r: RoutersStatus | undefined, limits: HealthLimits): { reason: string; message: string } | undefined {
  if (!r || r.observed === 0) return undefined;
  const share = r.rows > 0 ? r.fallbackRows / r.rows : 0;
  const judged = r.rows >= limits.minRows;
  const tooMuch = judged && share > limits.maxFallbackShare;
  const down = r.circuitOpen + r.unverified;
  if (down === 0 && !tooMuch) return undefined;
  const parts: string[] = [];
  if (r.rows > 0) {
    parts.push(
      `${percent(share)} of ${count(r.rows)} rows in the last ${r.windowSeconds} s answered by fallback (limit ${percent(limits.maxFallbackShare)}` +
        `${judged ? '' : `; fewer than ${count(limits.minRows)} rows: share not judged`})`,
    );
  } else parts.push(`no rows in the last ${r.windowSeconds} s`);
  if (r.circuitOpen > 0) parts.push(`base circuit open on ${r.circuitOpen}/${r.observed} routers`);
  if (r.unverified > 0) parts.push(`base not reached since start on ${r.unverified}/${r.observed} routers`);
  if (r.baseFailures > 0) parts.push(`${count(r.baseFailures)} base call failures`);
  return { reason: down > 0 ? 'BaseUnavailable' : 'FallbackServing', message: parts.join('; ') };
}

/**
 * What of status.routers the Degraded condition depends on, as a key: the problem's reason and the router
 * counts behind it (not the live numbers). The operator reconciles a status-only change when it moves.
 */
export function routersVerdict(r: RoutersStatus | undefined, limits: HealthLimits): string {
  const p = routerHealthProblem(r, limits);
  return p && r ? `${p.reason}|${r.observed}|${r.circuitOpen}|${r.unverified}` : '';
}

export const THRESHOLD_APPLIED = 'ThresholdApplied';

/**
 * Where the threshold change stands on the routers: True when every router that answered uses status.threshold,
 * False (Propagating) while some still use another value, Unknown when no router answered.
 */
export function thresholdAppliedCondition(
  r: RoutersStatus | undefined,
  desired: number,
  previous: Condition | undefined,
  generation: number | undefined,
  nowIso: string,
): Condition {
  let c: Pick<Condition, 'status' | 'reason' | 'message'>;
  if (!r || r.observed === 0 || r.thresholdMin === undefined) {
    c = { status: 'Unknown', reason: 'NoRouters', message: 'no router answered /metrics: the threshold in use is unknown' };
  } else if (r.atThreshold === r.observed) {
    c = { status: 'True', reason: 'AllRouters', message: `${r.observed}/${r.observed} routers use threshold ${desired}` };
  } else {
    c = {
      status: 'False',
      reason: 'Propagating',
      message:
        `${r.atThreshold}/${r.observed} routers use threshold ${desired}; the others still ${r.thresholdInUse} ` +
        '(the mounted ConfigMap reaches a pod when the kubelet refreshes it: at once after the operator annotates the pod, ' +
        'else at its periodic sync, --sync-frequency 1m + its ConfigMap cache TTL; then the router polls the file every 1 s)',
    };
  }
  const out: Condition = {
    type: THRESHOLD_APPLIED,
    ...c,
    lastTransitionTime: previous && previous.status === c.status ? (previous.lastTransitionTime ?? nowIso) : nowIso,
  };
  if (generation !== undefined) out.observedGeneration = generation;
  return out;
}

/**
 * One cascade's routers' view across control cycles (the threshold controller keeps one per cascade):
 * each cycle adds the pooled delta to the health window and returns status.routers, the ThresholdApplied
 * condition, and a key that changes when the verdict does (the controller writes status at once then).
 */
export class RoutersView {
  private readonly window = new RouterHealthWindow();

  observe(input: {
    observed: readonly PodObservation[];
    /** this cycle's pooled counter delta (IngestReport.delta) */
    delta: RouterCounters;
    nowMs: number;
    windowMs: number;
    /** status.threshold: the threshold the operator wants the routers to use */
    desired: number;
    limits: HealthLimits;
    previous?: Condition;
    generation?: number;
  }): { routers: RoutersStatus; condition: Condition; key: string } {
    if (input.observed.length > 0) this.window.add(input.nowMs, input.delta);
    const now = new Date(input.nowMs);
    const routers = routersStatus({
      observed: input.observed,
      window: this.window.sum(input.nowMs, input.windowMs),
      windowMs: input.windowMs,
      desired: input.desired,
      now,
    });
    const condition = thresholdAppliedCondition(routers, input.desired, input.previous, input.generation, now.toISOString());
    const problem = routerHealthProblem(routers, input.limits);
    const key = [
      problem?.reason ?? 'Healthy',
      condition.status,
      routers.observed,
      routers.circuitOpen,
      routers.unverified,
      routers.thresholdInUse,
    ].join('|');
    return { routers, condition, key };
  }
}
