// Scenario families of the drift suite (bench/drift-suite.ts). Each scenario maps a stream position to
// what the row is: a clean test image, a corrupted one (bench/drift/corruptions.ts), or an out-of-domain
// image (bench/drift/ood.ts); plus the events (abrupt steps) whose reaction and recovery are reported.
// The original drift bench (bench/drift.ts, corruption ramp/hold/recover through a live router) is kept
// as it is; `corruption` here is the same schedule, replayed with the in-process router of the suite.

import { DEFAULT_SCHEDULE, type Phase, severityAt } from '../../runtime/drift/schedule.js';
import { CORRUPTIONS, type CorruptionName } from '../../runtime/drift/corruptions.js';
import { OOD_KINDS, type OodKind } from './ood.js';

export type RowSource =
  { kind: 'clean' } | { kind: 'corrupt'; corruption: CorruptionName; severity: number } | { kind: 'ood'; ood: OodKind };

export interface StreamEvent {
  /** stream position (fraction) */
  at: number;
  label: string;
  /** true: drift switches on (reaction is measured); false: it switches off (recovery is measured) */
  on: boolean;
}

export interface Scenario {
  name: string;
  description: string;
  /** default stream length (rows) */
  rows: number;
  /** phase label and drift level at a stream fraction */
  phaseAt(fraction: number): { phase: string; level: number };
  /**
   * What the row at this fraction is. `pickClass` chooses the class the clean image is drawn from
   * (undefined: the stream's shuffled order, i.e. the data set's class prior).
   */
  row(fraction: number, rand: () => number): { source: RowSource; pickClass?: number };
  events: StreamEvent[];
}

const pick = <T>(xs: readonly T[], rand: () => number): T => xs[Math.floor(rand() * xs.length)];

/** Piecewise-linear level over phases (the schedule's shape, any levels). */
function leveled(schedule: readonly Phase[]) {
  return (f: number) => {
    const s = severityAt(f, schedule);
    return { phase: s.phase, level: s.severity };
  };
}

const OOD_SCHEDULE: readonly Phase[] = [
  { until: 0.15, label: 'clean', from: 0, to: 0 },
  { until: 0.4, label: 'ood ramp up', from: 0, to: 0.5 },
  { until: 0.6, label: 'ood hold', from: 0.5, to: 0.5 },
  { until: 0.8, label: 'ood ramp down', from: 0.5, to: 0 },
  { until: 1, label: 'clean', from: 0, to: 0 },
];

const PRIOR_SCHEDULE: readonly Phase[] = [
  { until: 0.15, label: 'clean', from: 0, to: 0 },
  { until: 0.35, label: 'prior shifting', from: 0, to: 1 },
  { until: 0.6, label: 'prior hold', from: 1, to: 1 },
  { until: 0.8, label: 'prior returning', from: 1, to: 0 },
  { until: 1, label: 'clean', from: 0, to: 0 },
];

const STEP_SCHEDULE: readonly Phase[] = [
  { until: 0.25, label: 'clean', from: 0, to: 0 },
  { until: 0.45, label: 'corruption step', from: 1, to: 1 },
  { until: 0.6, label: 'clean (after corruption)', from: 0, to: 0 },
  { until: 0.8, label: 'ood step', from: 1, to: 1 },
  { until: 1, label: 'clean (after ood)', from: 0, to: 0 },
];

/** Classes the saver and base confuse most on Fashion-MNIST: T-shirt/top, Pullover, Coat, Shirt. */
export const HARD_CLASSES: readonly number[] = [0, 2, 4, 6];
const EASY_CLASSES: readonly number[] = [1, 3, 5, 7, 8, 9];

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'corruption',
    description: 'the drift bench schedule: corruption severity ramps 0 -> 1, holds, recovers (noise, blur, contrast, occlusion)',
    rows: 60_000,
    phaseAt: leveled(DEFAULT_SCHEDULE),
    row(f, rand) {
      const { severity } = severityAt(f);
      const corruption = pick(CORRUPTIONS, rand);
      return severity > 0 ? { source: { kind: 'corrupt', corruption, severity } } : { source: { kind: 'clean' } };
    },
    events: [],
  },
  {
    name: 'ood-gradual',
    description:
      'a growing share of out-of-domain images (synthetic shapes, inverted, shifted) ramps 0 -> 50% and back; scored against the base',
    rows: 60_000,
    phaseAt: leveled(OOD_SCHEDULE),
    row(f, rand) {
      const { severity: share } = severityAt(f, OOD_SCHEDULE);
      return rand() < share ? { source: { kind: 'ood', ood: pick(OOD_KINDS, rand) } } : { source: { kind: 'clean' } };
    },
    events: [],
  },
  {
    name: 'prior-shift',
    description: "class prior moves from the test set's (40% hard classes) to 90% T-shirt/Pullover/Coat/Shirt and back; images clean",
    rows: 60_000,
    phaseAt: leveled(PRIOR_SCHEDULE),
    row(f, rand) {
      const { severity: level } = severityAt(f, PRIOR_SCHEDULE);
      if (level <= 0) return { source: { kind: 'clean' } };
      const hard = rand() < 0.4 + 0.5 * level;
      return { source: { kind: 'clean' }, pickClass: pick(hard ? HARD_CLASSES : EASY_CLASSES, rand) };
    },
    events: [],
  },
  {
    name: 'step',
    description: 'abrupt steps: clean -> all rows corrupted at severity 0.8 -> clean -> 50% out-of-domain -> clean',
    rows: 60_000,
    phaseAt: leveled(STEP_SCHEDULE),
    row(f, rand) {
      const { phase } = severityAt(f, STEP_SCHEDULE);
      if (phase === 'corruption step') return { source: { kind: 'corrupt', corruption: pick(CORRUPTIONS, rand), severity: 0.8 } };
      if (phase === 'ood step' && rand() < 0.5) return { source: { kind: 'ood', ood: pick(OOD_KINDS, rand) } };
      return { source: { kind: 'clean' } };
    },
    events: [
      { at: 0.25, label: 'corruption on', on: true },
      { at: 0.45, label: 'corruption off', on: false },
      { at: 0.6, label: 'ood on', on: true },
      { at: 0.8, label: 'ood off', on: false },
    ],
  },
  {
    name: 'stationary',
    description: 'clean test images, nothing drifts (false alarms, chatter, cost of control)',
    rows: 100_000,
    phaseAt: () => ({ phase: 'clean', level: 0 }),
    row: () => ({ source: { kind: 'clean' } }),
    events: [],
  },
];
