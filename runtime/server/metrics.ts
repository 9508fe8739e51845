// Model-server metrics (prefix tinysaver_server_), on a registry of their own so that several
// servers (and a router) can live in one process without name clashes.

import client from 'prom-client';

export const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

export interface ServerMetrics {
  registry: client.Registry;
  requests: client.Counter<'model' | 'code'>;
  rejected: client.Counter<'model' | 'reason'>;
  requestDuration: client.Histogram<'model'>;
  inferenceDuration: client.Histogram<'model'>;
  batchRows: client.Histogram<'model'>;
  batchRequests: client.Histogram<'model'>;
  queueRows: client.Gauge<'model'>;
}

export function createServerMetrics(model: string, queuedRows: () => number): ServerMetrics {
  const registry = new client.Registry();
  const registers = [registry];
  const m: ServerMetrics = {
    registry,
    requests: new client.Counter({
      name: 'tinysaver_server_requests_total',
      help: 'Infer requests answered, by HTTP status code',
      labelNames: ['model', 'code'],
      registers,
    }),
    rejected: new client.Counter({
      name: 'tinysaver_server_rejected_total',
      help: 'Infer requests refused before inference (overload, not ready)',
      labelNames: ['model', 'reason'],
      registers,
    }),
    requestDuration: new client.Histogram({
      name: 'tinysaver_server_request_duration_seconds',
      help: 'Infer request latency inside the server (body read to response written)',
      labelNames: ['model'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
      registers,
    }),
    inferenceDuration: new client.Histogram({
      name: 'tinysaver_server_inference_duration_seconds',
      help: 'Duration of one batched session run',
      labelNames: ['model'],
      buckets: [0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1],
      registers,
    }),
    batchRows: new client.Histogram({
      name: 'tinysaver_server_batch_size',
      help: 'Rows per session run (dynamic batching)',
      labelNames: ['model'],
      buckets: BATCH_SIZE_BUCKETS,
      registers,
    }),
    batchRequests: new client.Histogram({
      name: 'tinysaver_server_batch_requests',
      help: 'Requests merged into one session run',
      labelNames: ['model'],
      buckets: BATCH_SIZE_BUCKETS,
      registers,
    }),
    queueRows: new client.Gauge({
      name: 'tinysaver_server_queue_rows',
      help: 'Rows waiting in the batching queue',
      labelNames: ['model'],
      registers,
      collect() {
        this.set({ model }, queuedRows());
      },
    }),
  };
  return m;
}
