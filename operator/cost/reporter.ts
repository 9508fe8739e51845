// The threshold controller's hook for live savings: adds status.savings to the status it writes and
// sets the per-cascade cost gauges (names: operator/metrics/names.ts). Without spec.cost it adds nothing
// and removes the cascade's series.

import { Gauge, type Registry } from 'prom-client';
import type { ModelCascade, SavingsStatus } from '../api/model-cascade.js';
import { CASCADE_BASE_ROWS_AVOIDED, CASCADE_COST_SAVED_PER_HOUR, CASCADE_LABELS } from '../metrics/names.js';
import type { WindowSum } from '../telemetry/window.js';
import { computeSavings, costSpecErrors, windowCoverageMs } from './savings.js';

type Labels = { namespace: string; cascade: string };

export class CostReporter {
  private readonly saved?: Gauge<string>;
  private readonly avoided?: Gauge<string>;

  constructor(
    registry?: Registry,
    private readonly log: (line: string) => void = () => {},
  ) {
    if (!registry) return;
    const labelNames = [...CASCADE_LABELS];
    this.saved = new Gauge({
      name: CASCADE_COST_SAVED_PER_HOUR,
      help: 'Estimated cost saved per hour (spec.cost prices: base pod cost avoided minus saver pod cost) over the telemetry window.',
      labelNames,
      registers: [registry],
    });
    this.avoided = new Gauge({
      name: CASCADE_BASE_ROWS_AVOIDED,
      help: 'Rows in the telemetry window the saver answered without the base (not audited).',
      labelNames,
      registers: [registry],
    });
  }

  /** `status` plus savings (when mc.spec.cost is set and valid); updates the gauges. */
  withSavings<S extends object>(
    status: S,
    mc: ModelCascade,
    window: Pick<WindowSum, 'counters' | 'slots' | 'spanMs'>,
    intervalMs: number,
    summed: boolean,
  ): S & { savings?: SavingsStatus } {
    const labels: Labels = { namespace: mc.metadata.namespace ?? '', cascade: mc.metadata.name };
    const cost = mc.spec.cost;
    const errs = cost ? costSpecErrors(cost) : [];
    if (errs.length > 0) this.log(`threshold-controller ${labels.namespace}/${labels.cascade}: spec.cost ignored: ${errs.join('; ')}`);
    const savings =
      cost && errs.length === 0 ? computeSavings(window.counters, windowCoverageMs(window, intervalMs, summed), cost) : undefined;
    if (!savings) {
      this.remove(labels);
      return status;
    }
    this.saved?.set(labels, savings.costSavedPerHour);
    this.avoided?.set(labels, savings.baseRowsAvoided);
    return { ...status, savings };
  }

  remove(labels: Labels): void {
    this.saved?.remove(labels);
    this.avoided?.remove(labels);
  }
}
