// The running line of a long replay (`replay --loop`, `--drift`): saver share, accuracy vs the base and
// the threshold in use over the most recent rows, so a person watching sees drift and the controller's
// answer as they happen (cumulative numbers would hide both after a few minutes).

import type { BatchResult } from './replay.js';

export interface LiveSnapshot {
  /** rows answered since the start */
  total: number;
  /** rows in the recent window */
  rows: number;
  saverShare: number;
  accuracy: number;
  /** accuracy of the paired base endpoint on the same rows (NaN without one) */
  baseAccuracy: number;
  /** last threshold the cascade reported (NaN for a plain model) */
  threshold: number;
  rowsPerSecond: number;
}

/** Aggregates the last `windowRows` answered rows (whole batches). */
export class RecentRows {
  private readonly batches: { b: BatchResult; at: number }[] = [];
  private total = 0;
  private threshold = NaN;

  constructor(private readonly windowRows = 1000) {}

  add(b: BatchResult, atMs: number): void {
    this.batches.push({ b, at: atMs });
    this.total += b.rows;
    if (b.threshold !== undefined) this.threshold = b.threshold;
    let rows = this.batches.reduce((a, x) => a + x.b.rows, 0);
    while (this.batches.length > 1 && rows - this.batches[0].b.rows >= this.windowRows) rows -= this.batches.shift()!.b.rows;
  }

  snapshot(): LiveSnapshot {
    let rows = 0;
    let correct = 0;
    let routed = 0;
    let saver = 0;
    let pairRows = 0;
    let pairCorrect = 0;
    for (const { b } of this.batches) {
      rows += b.rows;
      correct += b.correct;
      for (const [k, v] of Object.entries(b.routes)) {
        routed += v;
        if (k === 'saver') saver += v;
      }
      if (b.pairCorrect !== undefined) {
        pairRows += b.rows;
        pairCorrect += b.pairCorrect;
      }
    }
    const span = this.batches.length > 1 ? (this.batches[this.batches.length - 1].at - this.batches[0].at) / 1000 : NaN;
    const firstRows = this.batches[0]?.b.rows ?? 0;
    return {
      total: this.total,
      rows,
      saverShare: routed > 0 ? saver / routed : NaN,
      accuracy: rows > 0 ? correct / rows : NaN,
      baseAccuracy: pairRows > 0 ? pairCorrect / pairRows : NaN,
      threshold: this.threshold,
      rowsPerSecond: span > 0 ? (rows - firstRows) / span : NaN,
    };
  }
}

const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : 'n/a');

/** One line: `rows 12000 | last 1000: saver 71.2% acc 88.1% vs base 90.0% (-1.9 pts) | t 0.93 | blur 0.80 ramp up | 480 rows/s` */
export function formatLiveLine(s: LiveSnapshot, drift?: { kind: string; severity: number; phase: string }): string {
  const parts = [`rows ${s.total}`];
  let recent = `last ${s.rows}: saver ${pct(s.saverShare)} acc ${pct(s.accuracy)}`;
  if (Number.isFinite(s.baseAccuracy))
    recent += ` vs base ${pct(s.baseAccuracy)} (${s.accuracy - s.baseAccuracy >= 0 ? '+' : ''}${((s.accuracy - s.baseAccuracy) * 100).toFixed(1)} pts)`;
  parts.push(recent);
  parts.push(`t ${Number.isFinite(s.threshold) ? s.threshold : 'n/a'}`);
  if (drift) parts.push(`${drift.kind} ${drift.severity.toFixed(2)} ${drift.phase}`);
  if (Number.isFinite(s.rowsPerSecond)) parts.push(`${s.rowsPerSecond.toFixed(0)} rows/s`);
  return parts.join(' | ');
}
