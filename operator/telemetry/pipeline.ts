// One cascade's telemetry state across control intervals: per-pod cumulative state (for deltas) and the
// sliding window. Each cycle ingests one scrape result (from the pod scraper, a Prometheus query, or a
// local router in the bench) and returns the window the policy reads plus what happened per pod.

import type { RouterCounters } from './counters.js';
import { type PodState, type PodDelta, stepDeltas } from './deltas.js';
import type { ScrapeResult } from './scrape.js';
import { SlidingWindow, type WindowSum } from './window.js';

export interface IngestReport {
  window: WindowSum;
  perPod: PodDelta[];
  failed: ScrapeResult['failed'];
  dropped: string[];
  /** true when the model key changed and the window was cleared this cycle */
  windowReset: boolean;
  /** the routers' own threshold gauges (for "routers follow" checks) */
  routerThresholds: number[];
  /** rows added to the window by this cycle */
  newRows: number;
  /** this cycle's pooled deltas (what was added to the window) */
  delta: RouterCounters;
}

export class TelemetryPipeline {
  private podState = new Map<string, PodState>();
  private readonly window: SlidingWindow;
  private lastCycleMs: number | undefined;

  constructor(windowMs: number, edges?: readonly number[]) {
    this.window = new SlidingWindow(windowMs, edges);
  }

  setWindowMs(ms: number): void {
    this.window.setWindowMs(ms);
  }

  /**
   * Ingest one scrape. `modelKey` identifies the saver/base pair: when it changes, the window and the
   * per-pod baselines are cleared (the old telemetry describes other models).
   */
  ingest(scrape: ScrapeResult, nowMs: number, modelKey?: string): IngestReport {
    let windowReset = false;
    if (modelKey !== undefined && this.window.setModelKey(modelKey)) {
      windowReset = true;
      this.podState = new Map();
      this.lastCycleMs = undefined;
    }
    const step = stepDeltas(this.podState, {
      observed: scrape.observed,
      failed: scrape.failed.map((f) => f.key),
      previousCycleMs: this.lastCycleMs,
    });
    this.podState = step.state;
    this.lastCycleMs = nowMs;
    let newRows = 0;
    for (const v of step.delta.all) newRows += v;
    // A cycle in which no router answered adds no slot: the window then ages and the policy sees it as stale.
    if (scrape.observed.length > 0) this.window.add({ atMs: nowMs, counters: step.delta, pods: scrape.observed.length });
    return {
      window: this.window.sum(nowMs),
      perPod: step.perPod,
      failed: scrape.failed,
      dropped: step.dropped,
      windowReset,
      routerThresholds: scrape.observed.map((o) => o.snapshot.threshold),
      newRows,
      delta: step.delta,
    };
  }

  /** Cut the window to its newest `slots` slots (the post-change evidence after a detected change). */
  cut(slots: number): void {
    this.window.keepNewest(slots);
  }

  /** The window as of `nowMs` without ingesting anything. */
  peek(nowMs: number): WindowSum {
    return this.window.sum(nowMs);
  }
}
