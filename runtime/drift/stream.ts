// Drift injection for a stream of 28x28 images (`tinysaver replay --drift`): the corruption of
// corruptions.ts at a severity that follows a named schedule (schedule.ts) over the stream position.
// Deterministic per row: row r of a given seed always gets the same corruption, so a cascade pass and
// a base-only pass over the same rows see the same images.

import { seededRandom } from '../../core/random.js';
import { type CorruptionName, PIXELS, corrupt } from './corruptions.js';
import { SCHEDULES, type ScheduleName, severityAt } from './schedule.js';

export interface DriftSpec {
  kind: CorruptionName;
  /** peak severity in [0, 1] (the schedule scales it) */
  severity: number;
  schedule: ScheduleName;
  /** rows of one schedule cycle (a looping stream repeats the schedule every periodRows rows) */
  periodRows: number;
  seed: number;
}

/** Severity and phase of stream row `row`. */
export function driftAt(spec: DriftSpec, row: number): { severity: number; phase: string } {
  const fraction = (row % spec.periodRows) / spec.periodRows;
  const s = severityAt(fraction, SCHEDULES[spec.schedule]);
  return { severity: Math.min(1, Math.max(0, s.severity * spec.severity)), phase: s.phase };
}

/**
 * Corrupts `rows` consecutive images (PIXELS floats each) starting at stream row `firstRow`; returns a
 * new buffer and the severity/phase of the first row.
 */
export function applyDrift(
  spec: DriftSpec,
  images: Float32Array,
  firstRow: number,
): { images: Float32Array; severity: number; phase: string } {
  if (images.length % PIXELS !== 0) throw new RangeError(`drift: ${images.length} floats is not a whole number of ${PIXELS}-pixel images`);
  const rows = images.length / PIXELS;
  const out = new Float32Array(images.length);
  for (let j = 0; j < rows; j++) {
    const row = firstRow + j;
    const { severity } = driftAt(spec, row);
    // one generator per row (seed, row): reproducible whatever the batch boundaries
    const rand = seededRandom((Math.imul(spec.seed + 1, 0x9e3779b1) ^ row) >>> 0);
    out.set(corrupt(spec.kind, images.subarray(j * PIXELS, (j + 1) * PIXELS), severity, rand), j * PIXELS);
  }
  return { images: out, ...driftAt(spec, firstRow) };
}
