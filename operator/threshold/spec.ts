// ModelCascade spec -> the threshold policy's settings and the control loop's timing. Defaults come from
// withDefaults() (the one source in code of the CRD's defaults), so objects that skipped the apiserver behave the same.

import type { ModelCascade } from '../api/model-cascade.js';
import { withDefaults } from '../api/model-cascade.js';
import { auditRateBounds } from '../reconcile/builders/router-config.js';
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
}

export function controlSettings(mc: ModelCascade, maxAuditRate = MAX_AUDIT_RATE): { settings?: ControlSettings; errors: string[] } {
  const d = withDefaults(mc.spec);
  const errors: string[] = [];
  const control = d.control;
  const budget = d.budget;
  let intervalMs = 30_000;
  let windowMs = 600_000;
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
  if (intervalMs < 100) errors.push(`spec.control.interval: must be at least 100ms, got ${control.interval}`);
  if (windowMs < intervalMs) errors.push(`spec.control.window (${control.window}) must be at least spec.control.interval (${control.interval})`);
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
  const key = modelKey([d.saver.model, d.saver.modelSha256, d.base.model ?? d.base.external?.url, d.base.modelSha256, d.base.external?.modelName]);
  if (errors.length > 0) return { errors };
  return { settings: { policy, intervalMs, windowMs, initial: d.threshold.initial, modelKey: key }, errors };
}
