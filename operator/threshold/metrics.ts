// Per-cascade operator metrics of the threshold controller (names: operator/metrics/names.ts, the
// contract the Helm chart's alerts and dashboard query). Registered on the operator's registry.

import { Counter, Gauge, type Registry } from 'prom-client';
import {
  CASCADE_BUDGET,
  CASCADE_LABELS,
  CASCADE_LOSS_BOUND,
  CASCADE_SAVER_SHARE,
  CASCADE_TELEMETRY_AGE_SECONDS,
  CASCADE_THRESHOLD,
  CASCADE_THRESHOLD_CHANGES_TOTAL,
  CASCADE_THRESHOLD_MAX,
} from '../metrics/names.js';

type Labels = { namespace: string; cascade: string };

export class ThresholdMetrics {
  private readonly threshold: Gauge<string>;
  private readonly thresholdMax: Gauge<string>;
  private readonly bound: Gauge<string>;
  private readonly budget: Gauge<string>;
  private readonly share: Gauge<string>;
  private readonly age: Gauge<string>;
  private readonly changes: Counter<string>;
  /** last successful scrape per cascade (ms), read at collect time so the age is always current */
  private readonly lastSuccess = new Map<string, { labels: Labels; atMs: number }>();

  constructor(
    registry: Registry,
    private readonly now: () => number = Date.now,
  ) {
    const registers = [registry];
    const labelNames = [...CASCADE_LABELS];
    this.threshold = new Gauge({
      name: CASCADE_THRESHOLD,
      help: 'Threshold the cascade routers are told to use (the ConfigMap value).',
      labelNames,
      registers,
    });
    this.thresholdMax = new Gauge({ name: CASCADE_THRESHOLD_MAX, help: 'spec.threshold.max of the cascade.', labelNames, registers });
    this.bound = new Gauge({
      name: CASCADE_LOSS_BOUND,
      help: 'Certified upper bound on accuracy loss vs the base at the current threshold (fraction of rows).',
      labelNames,
      registers,
    });
    this.budget = new Gauge({
      name: CASCADE_BUDGET,
      help: 'spec.budget.maxAccuracyLoss of the cascade (fraction of rows).',
      labelNames,
      registers,
    });
    this.share = new Gauge({
      name: CASCADE_SAVER_SHARE,
      help: 'Fraction of rows the saver answered over the telemetry window.',
      labelNames,
      registers,
    });
    // collect() runs with the gauge as `this`; read the controller's state through these instead.
    const lastSuccess = this.lastSuccess;
    const clock = this.now;
    this.age = new Gauge({
      name: CASCADE_TELEMETRY_AGE_SECONDS,
      help: 'Seconds since the last successful telemetry scrape of the cascade routers.',
      labelNames,
      registers,
      collect() {
        for (const { labels, atMs } of lastSuccess.values()) this.set(labels, Math.max(0, (clock() - atMs) / 1000));
      },
    });
    this.changes = new Counter({
      name: CASCADE_THRESHOLD_CHANGES_TOTAL,
      help: 'Threshold changes applied, by direction.',
      labelNames: [...labelNames, 'direction'],
      registers,
    });
  }

  update(labels: Labels, v: { threshold: number; max: number; bound: number; budget: number; share: number }): void {
    this.threshold.set(labels, v.threshold);
    this.thresholdMax.set(labels, v.max);
    this.budget.set(labels, v.budget);
    if (Number.isFinite(v.bound)) this.bound.set(labels, v.bound);
    if (Number.isFinite(v.share)) this.share.set(labels, v.share);
  }

  scraped(labels: Labels, atMs: number): void {
    this.lastSuccess.set(`${labels.namespace}/${labels.cascade}`, { labels, atMs });
  }

  changed(labels: Labels, direction: 'raise' | 'lower'): void {
    this.changes.inc({ ...labels, direction });
  }

  /** Forget a deleted cascade's series. */
  remove(labels: Labels): void {
    for (const g of [this.threshold, this.thresholdMax, this.bound, this.budget, this.share, this.age]) g.remove(labels);
    for (const direction of ['raise', 'lower']) this.changes.remove({ ...labels, direction });
    this.lastSuccess.delete(`${labels.namespace}/${labels.cascade}`);
  }
}
