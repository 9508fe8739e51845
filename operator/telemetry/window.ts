// Sliding window of time slots: each control interval adds one slot (the summed per-pod deltas);
// the estimator sees the sum over the slots younger than the window length. The window is cleared
// when the cascade's models change (old telemetry describes another saver/base pair), and reports
// its own staleness so the policy can hold instead of acting on old data.

import { createHash } from 'node:crypto';
import { type RouterCounters, addInto, totalRows, zeroCounters } from './counters.js';

export interface Slot {
  /** end of the interval the slot covers (ms since the epoch) */
  atMs: number;
  counters: RouterCounters;
  /** pods that contributed */
  pods: number;
}

export interface WindowSum {
  counters: RouterCounters;
  slots: number;
  rows: number;
  /** time covered: from the oldest slot in the window to now (ms), 0 when empty */
  spanMs: number;
  /** age of the newest slot (ms); Infinity when empty */
  ageMs: number;
}

/** Stable short hash of the things that, when changed, invalidate the window (saver and base model). */
export function modelKey(parts: readonly (string | undefined)[]): string {
  return createHash('sha256')
    .update(parts.map((p) => p ?? '').join('\u0000'))
    .digest('hex')
    .slice(0, 16);
}

export class SlidingWindow {
  private slots: Slot[] = [];
  private key: string | undefined;
  private lastSlotMs: number | undefined;

  constructor(
    private windowMs: number,
    private readonly edges?: readonly number[],
  ) {
    if (!(windowMs > 0)) throw new RangeError(`window length must be > 0 ms, got ${windowMs}`);
  }

  setWindowMs(ms: number): void {
    if (!(ms > 0)) throw new RangeError(`window length must be > 0 ms, got ${ms}`);
    this.windowMs = ms;
  }

  /** Set the model key; returns true (and clears the window) when it changed from a previous key. */
  setModelKey(key: string): boolean {
    const changed = this.key !== undefined && this.key !== key;
    if (changed) this.clear();
    this.key = key;
    return changed;
  }

  clear(): void {
    this.slots = [];
    this.lastSlotMs = undefined;
  }

  /** Keep only the newest `n` slots (a detected change: older slots describe another regime). */
  keepNewest(n: number): void {
    if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`keepNewest: n must be an integer >= 0, got ${n}`);
    this.slots = n === 0 ? [] : this.slots.slice(-n);
  }

  add(slot: Slot): void {
    if (this.lastSlotMs !== undefined && slot.atMs < this.lastSlotMs) {
      throw new RangeError(`slot at ${slot.atMs} is older than the previous slot at ${this.lastSlotMs}`);
    }
    this.slots.push(slot);
    this.lastSlotMs = slot.atMs;
  }

  /** Drop slots that fell out of the window; returns the sum of the rest. */
  sum(nowMs: number): WindowSum {
    const from = nowMs - this.windowMs;
    this.slots = this.slots.filter((s) => s.atMs > from);
    const counters = zeroCounters(this.edges);
    for (const s of this.slots) addInto(counters, s.counters);
    const oldest = this.slots[0];
    const newest = this.slots[this.slots.length - 1];
    return {
      counters,
      slots: this.slots.length,
      rows: totalRows(counters),
      spanMs: oldest ? nowMs - oldest.atMs : 0,
      ageMs: newest ? nowMs - newest.atMs : Infinity,
    };
  }

  get size(): number {
    return this.slots.length;
  }
}
