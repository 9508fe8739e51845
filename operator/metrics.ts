// Operator metrics (prom-client, own registry), served at /metrics.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface OperatorMetrics {
  registry: Registry;
  reconciles: Counter<'result'>;
  applies: Counter<'result'>;
  reconcileDuration: Histogram<string>;
  queueDepth: Gauge<string>;
  isLeader: Gauge<string>;
  relists: Counter<'resource' | 'reason'>;
  watchErrors: Counter<'resource'>;
}

export function createOperatorMetrics(): OperatorMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tinysaver_operator_' });
  const registers = [registry];
  return {
    registry,
    reconciles: new Counter({
      name: 'tinysaver_operator_reconcile_total',
      help: 'Reconciles by result (success, error, invalid, gone, stale).',
      labelNames: ['result'],
      registers,
    }),
    applies: new Counter({
      name: 'tinysaver_operator_applies_total',
      help: 'Owned objects per reconcile: applied (server-side apply sent) or skipped (unchanged since our last apply).',
      labelNames: ['result'],
      registers,
    }),
    reconcileDuration: new Histogram({
      name: 'tinysaver_operator_reconcile_duration_seconds',
      help: 'Time to reconcile one ModelCascade.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    queueDepth: new Gauge({ name: 'tinysaver_operator_queue_depth', help: 'Keys waiting in the work queue.', registers }),
    isLeader: new Gauge({ name: 'tinysaver_operator_is_leader', help: '1 while this replica holds the leader lease.', registers }),
    relists: new Counter({
      name: 'tinysaver_operator_relists_total',
      help: 'Informer relists after watch expiry.',
      labelNames: ['resource', 'reason'],
      registers,
    }),
    watchErrors: new Counter({
      name: 'tinysaver_operator_watch_errors_total',
      help: 'Informer list/watch errors.',
      labelNames: ['resource'],
      registers,
    }),
  };
}
