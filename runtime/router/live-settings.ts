// The router's live settings: threshold and audit rate, fixed by flag or hot-reloaded from the
// threshold file (a mounted ConfigMap), mirrored into the threshold and audit-rate gauges.

import type { CascadeSettings } from './cascade.js';
import type { RouterMetrics } from './metrics.js';
import type { RouterOptions } from './options.js';
import { ThresholdFileWatcher, type ThresholdSettings } from './threshold-file.js';

export interface LiveSettings {
  /** the object the cascade reads on every batch (mutated in place on reload) */
  readonly values: CascadeSettings;
  /** re-read the threshold file now (tests) */
  poll(): Promise<void>;
  stop(): void;
}

export async function startLiveSettings(
  opts: Pick<RouterOptions, 'threshold' | 'auditRate' | 'thresholdFile' | 'reloadIntervalMs'>,
  metrics: RouterMetrics,
  log: (line: string) => void,
  /** called after each valid reload (the decision log records the new generation) */
  onReload?: (v: ThresholdSettings) => void,
): Promise<LiveSettings> {
  const values: CascadeSettings = { threshold: opts.threshold, auditRate: opts.auditRate };
  const setGauges = () => {
    metrics.threshold.set(values.threshold);
    metrics.auditRate.set(values.auditRate);
  };
  setGauges();
  let watcher: ThresholdFileWatcher | undefined;
  if (opts.thresholdFile) {
    watcher = new ThresholdFileWatcher({
      path: opts.thresholdFile,
      intervalMs: opts.reloadIntervalMs,
      onChange: (v) => {
        const before = values.threshold;
        values.threshold = v.threshold;
        values.auditRate = v.auditRate ?? opts.auditRate;
        setGauges();
        onReload?.(v);
        if (before !== v.threshold) log(`threshold ${before} -> ${v.threshold} (from ${opts.thresholdFile})`);
      },
      onInvalid: (error) => {
        metrics.thresholdReloadErrors.inc();
        log(`threshold file ignored, keeping threshold ${values.threshold}: ${error}`);
      },
    });
    await watcher.poll();
    watcher.start();
  }
  return {
    values,
    poll: async () => {
      await watcher?.poll();
    },
    stop: () => watcher?.stop(),
  };
}
