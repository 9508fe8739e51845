// Drift schedules: severity over the stream as a fraction of its length (or of one period of a looping
// stream). The default (the drift bench's, `ramp`): clean, ramp up, hold, recover, clean again — the
// controller must raise the threshold during the ramp and bring it back down after the recovery.
// Shared by bench/drift.ts and `tinysaver replay --drift ... --schedule NAME`.

export interface Phase {
  /** fraction of the stream where the phase ends */
  until: number;
  label: string;
  /** severity at the phase start and end (linear in between) */
  from: number;
  to: number;
}

export const DEFAULT_SCHEDULE: readonly Phase[] = [
  { until: 0.15, label: 'clean', from: 0, to: 0 },
  { until: 0.35, label: 'ramp up', from: 0, to: 1 },
  { until: 0.6, label: 'hold', from: 1, to: 1 },
  { until: 0.8, label: 'recover', from: 1, to: 0 },
  { until: 1, label: 'clean', from: 0, to: 0 },
];

export function severityAt(fraction: number, schedule: readonly Phase[] = DEFAULT_SCHEDULE): { severity: number; phase: string } {
  let start = 0;
  for (const p of schedule) {
    if (fraction < p.until || p === schedule[schedule.length - 1]) {
      const span = p.until - start;
      const x = span > 0 ? Math.min(1, Math.max(0, (fraction - start) / span)) : 1;
      return { severity: p.from + (p.to - p.from) * x, phase: p.label };
    }
    start = p.until;
  }
  return { severity: 0, phase: 'clean' };
}

/** Named schedules for `replay --schedule` (ramp is the drift bench's DEFAULT_SCHEDULE). */
export const SCHEDULES = {
  ramp: DEFAULT_SCHEDULE,
  /** abrupt: clean, full severity at once, clean again */
  step: [
    { until: 0.25, label: 'clean', from: 0, to: 0 },
    { until: 0.75, label: 'drifted', from: 1, to: 1 },
    { until: 1, label: 'clean', from: 0, to: 0 },
  ],
  /** full severity the whole time */
  constant: [{ until: 1, label: 'drifted', from: 1, to: 1 }],
} as const satisfies Record<string, readonly Phase[]>;

export type ScheduleName = keyof typeof SCHEDULES;
export const SCHEDULE_NAMES = Object.keys(SCHEDULES) as ScheduleName[];
