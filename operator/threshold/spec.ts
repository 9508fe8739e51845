// ModelCascade spec -> the threshold policy's settings and the control loop's timing. Defaults come from
// withDefaults() (the one source in code of the CRD's defaults), so objects that skipped the apiserver behave the same.

import type { ModelCascade } from '../api/model-cascade.js';
import { SPEC_DEFAULTS, withDefaults } from '../api/model-cascade.js';
import { auditRateBounds } from '../reconcile/builders/router-config.js';
import { CONFIDENCE_BUCKETS } from '../../core/cascade/buckets.js';
import { type RouterCounters, zeroCounters } from '../telemetry/counters.js';
import { modelKey } from '../telemetry/window.js';
import { type PolicySpec, validatePolicySpec } from './policy.js';

/** Operator-wide cap on the audit rate (--max-audit-rate); per cascade the ceiling is spec.control.maxAuditRate. */
export const MAX_AUDIT_RATE = 1;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parse a Go-style duration as the CRD allows it (e.g. "30s", "1m30s", "250ms", "1.5h") into ms. */
export function parseDuration(text: string): number {
  if (typeof text !== 'string' || !/^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/.test(text)) {
    throw new RangeError(`"${String(text)}" is not a duration like 30s, 1m30s or 250ms`);
  }
  let total = 0;
  for (const m of text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g)) total += Number(m[1]) * UNIT_MS[m[2]];
  return total;
}

/** Go-style rendering for status.window ("10m", "1m30s", "500ms"). */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '0s';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s || (!h && !m) ? `${s}s` : ''}`;
}

export interface ControlSettings {
  policy: PolicySpec;
  intervalMs: number;
  windowMs: number;
  /** initial threshold (and the only one in mode fixed) */
  initial: number;
  /** identifies the saver/base pair; a change resets the window */
  modelKey: string;
  /** evidence window while no change is detected: max(window, spec.control.maxWindow) */
  evidenceMs: number;
  /** change detector: target false alarms per interval */
  falseAlarmRate: number;
  /** offline calibration as audited rows (warm start), from spec.threshold.calibration */
  prior?: RouterCounters;
}

/**
 * spec.threshold.calibration -> counters (every calibration row an audited row). Errors name the field.
 * Arrays have one entry per grid bucket plus +Inf (or without +Inf); counts are integers >= 0 and
 * disagreements never exceed rows.
 */
export function calibrationCounters(
  cal: unknown,
  edges: readonly number[] = CONFIDENCE_BUCKETS,
): { prior?: RouterCounters; errors: string[] } {
  const field = 'spec.threshold.calibration';
  if (cal === undefined || cal === null) return { errors: [] };
  if (typeof cal !== 'object') return { errors: [`${field}: must be an object with rows and disagreements`] };
  const { rows, disagreements } = cal as { rows?: unknown; disagreements?: unknown };
  const n = edges.length + 1;
  const errors: string[] = [];
  const arr = (name: string, v: unknown): number[] | undefined => {
    if (!Array.isArray(v)) {
      errors.push(`${field}.${name}: must be an array of ${n} counts (one per confidence bucket, the last for +Inf)`);
      return undefined;
    }
    if (v.length !== n && v.length !== n - 1) {
      errors.push(`${field}.${name}: has ${v.length} entries, expected ${n} (the confidence grid plus +Inf) or ${n - 1}`);
      return undefined;
    }
    const bad = v.findIndex((x) => !(typeof x === 'number' && Number.isSafeInteger(x) && x >= 0));
    if (bad >= 0) {
      errors.push(`${field}.${name}[${bad}]: must be an integer >= 0, got ${JSON.stringify(v[bad])}`);
      return undefined;
    }
    return [...(v as number[]), ...(v.length === n - 1 ? [0] : [])];
  };
  const r = arr('rows', rows);
  const d = arr('disagreements', disagreements);
  if (!r || !d) return { errors };
  const over = d.findIndex((x, i) => x > r[i]);
  if (over >= 0) return { errors: [`${field}.disagreements[${over}]: ${d[over]} exceeds rows[${over}] = ${r[over]}`] };
  if (r.every((x) => x === 0)) return { errors: [`${field}.rows: holds no rows`] };
  const prior = zeroCounters(edges);
  for (let b = 0; b < n; b++) {
    prior.all[b] = r[b];
    prior.auditDisagree[b] = d[b];
    prior.auditAgree[b] = r[b] - d[b];
  }
  return { prior, errors };
}

export function controlSettings(mc: ModelCascade, maxAuditRate = MAX_AUDIT_RATE): { settings?: ControlSettings; errors: string[] } {
  const d = withDefaults(mc.spec);
  const errors: string[] = [];
  const control = d.control;
  const budget = d.budget;
  // a field that does not parse is reported; the default stands in for it meanwhile
  let intervalMs = parseDuration(SPEC_DEFAULTS.control.interval);
  let windowMs = parseDuration(SPEC_DEFAULTS.control.window);
  let maxWindowMs = parseDuration(SPEC_DEFAULTS.control.maxWindow);
  try {
    intervalMs = parseDuration(control.interval);
  } catch (e) {
    errors.push(`spec.control.interval: ${(e as Error).message}`);
  }
  try {
    windowMs = parseDuration(control.window);
  } catch (e) {
    errors.push(`spec.control.window: ${(e as Error).message}`);
  }
  try {
    maxWindowMs = parseDuration(control.maxWindow);
  } catch (e) {
    errors.push(`spec.control.maxWindow: ${(e as Error).message}`);
  }
  const falseAlarmRate = control.falseAlarmRate;
  if (!(falseAlarmRate > 0 && falseAlarmRate <= 0.5))
    errors.push(`spec.control.falseAlarmRate: must be in (0, 0.5], got ${control.falseAlarmRate}`);
  const cal = calibrationCounters(mc.spec.threshold?.calibration);
  errors.push(...cal.errors);
  if (intervalMs < 100) errors.push(`spec.control.interval: must be at least 100ms, got ${control.interval}`);
  if (windowMs < intervalMs)
    errors.push(`spec.control.window (${control.window}) must be at least spec.control.interval (${control.interval})`);
  // [spec.router.auditRate, spec.control.maxAuditRate], the ceiling also capped operator-wide (never below the floor)
  const bounds = auditRateBounds(mc, d);
  const policy: PolicySpec = {
    mode: d.threshold.mode,
    min: d.threshold.min,
    max: d.threshold.max,
    epsilon: budget.maxAccuracyLoss,
    delta: 1 - budget.confidence,
    maxStep: control.maxStep,
    minAudits: control.minAudits,
    // three missed intervals (and at least 30 s) before telemetry counts as stale
    staleAfterMs: Math.max(3 * intervalMs + 1000, 30_000),
    auditRate: { min: bounds.min, max: Math.max(bounds.min, Math.min(bounds.max, maxAuditRate)) },
  };
  errors.push(...validatePolicySpec(policy).map((e) => `spec: ${e}`));
  const key = modelKey([
    d.saver.model,
    d.saver.modelSha256,
    d.base.model ?? d.base.external?.url,
    d.base.modelSha256,
    d.base.external?.modelName,
  ]);
  if (errors.length > 0) return { errors };
  const settings: ControlSettings = {
    policy,
    intervalMs,
    windowMs,
    initial: d.threshold.initial,
    modelKey: key,
    evidenceMs: Math.max(windowMs, maxWindowMs),
    falseAlarmRate,
  };
  if (cal.prior) settings.prior = cal.prior;
  return { settings, errors };
}
