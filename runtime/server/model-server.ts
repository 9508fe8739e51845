// The v2 model server: one ONNX model behind node:http, with input validation against the
// graph's metadata, dynamic batching with a bounded queue, Prometheus metrics and graceful close.

import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { binaryOutputSelector, decodeInferRequest, encodeInferResponse, parseHeaderLength, HEADER_LENGTH_HEADER } from '../oip/codec.js';
import { listen, readBody, sendError, sendInferResponse } from '../oip/http.js';
import { createV2HttpServer } from '../oip/edge.js';
import { OipError, type InferRequest, type InferResponse, type ModelMetadata, type Tensor } from '../oip/types.js';
import { startGrpcServer, type RunningGrpcServer } from '../oip/grpc.js';
import { loadOnnxModel, type LoadOptions, type OnnxModel, type Provider } from '../onnx/session.js';
import { loadOnnxModelInWorker } from '../onnx/worker-session.js';
import { DynamicBatcher } from './batcher.js';
import { createServerMetrics, type ServerMetrics } from './metrics.js';
import { isBatchable, validateRequest } from './validate.js';

export const MODEL_VERSION = '1';

export { MODEL_SERVER_GRPC_PORT } from '../oip/ports.js';

export interface ModelServerOptions {
  /** path of the .onnx file (or pass a loaded `model`) */
  modelPath?: string;
  model?: OnnxModel;
  /** served model name; default: file basename without .onnx */
  name?: string;
  host?: string;
  /** default 8080 (contract); 0 picks a free port */
  port?: number;
  /** serve gRPC v2 on this port too (0 picks a free port); undefined: HTTP only (the CLI default is 8081) */
  grpcPort?: number;
  maxBatchSize?: number;
  maxQueueDelayMs?: number;
  maxQueueRows?: number;
  maxBodyBytes?: number;
  /** request bytes being read or waiting for inference, all requests together; beyond, 429 */
  maxInflightBytes?: number;
  provider?: Provider;
  intraOpThreads?: number;
  /** where session.run executes: a worker thread (HTTP overlaps inference) or the main thread; default defaultInferenceThread() */
  inferenceThread?: InferenceThread;
  /** let idle onnxruntime threads spin between runs (default false, see LoadOptions.spinning) */
  spinning?: boolean;
  /** accept NaN/Inf in float inputs (default: reject with 400) */
  allowNonFinite?: boolean;
  /**
   * session runs handed to the model at once (default: 2 with the worker thread, so the worker finds
   * the next batch waiting when a run ends instead of idling through a thread round trip; 1 on the main thread)
   */
  concurrency?: number;
  /** a lone request at an idle server also waits maxQueueDelayMs (fixed window; default false, see batcher.ts) */
  waitWhenIdle?: boolean;
  /** how long close() waits for in-flight requests before cutting connections (ms) */
  drainTimeoutMs?: number;
}

export type InferenceThread = 'worker' | 'main';
export const INFERENCE_THREADS: readonly InferenceThread[] = ['worker', 'main'];

/**
 * 'worker' when the machine has a core to spare for the HTTP side while a run goes on, else 'main'
 * (on one core the thread hop only adds work). Measured in bench/model-server.ts (README).
 */
export function defaultInferenceThread(cores = os.availableParallelism()): InferenceThread {
  return cores > 1 ? 'worker' : 'main';
}

/** Loads the model's session on the chosen thread (same metadata, errors and outputs either way). */
export function loadServedModel(modelPath: string, thread: InferenceThread, opts: LoadOptions): Promise<OnnxModel> {
  return thread === 'worker' ? loadOnnxModelInWorker(modelPath, opts) : loadOnnxModel(modelPath, opts);
}

export const MODEL_SERVER_DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  maxBatchSize: 32,
  maxQueueDelayMs: 2,
  maxQueueRows: 4096,
  maxBodyBytes: 64 * 1024 * 1024,
  maxInflightBytes: 256 * 1024 * 1024,
  provider: 'cpu' as Provider,
  drainTimeoutMs: 10_000,
};

export interface RunningModelServer {
  url: string;
  port: number;
  /** the gRPC port (when grpcPort was given) */
  grpcPort?: number;
  /** host:port of the gRPC endpoint */
  grpcAddress?: string;
  name: string;
  metadata: ModelMetadata;
  metrics: ServerMetrics;
  close(): Promise<void>;
}

export function modelNameFromPath(p: string): string {
  return path.basename(p).replace(/\.onnx$/i, '');
}

export async function startModelServer(opts: ModelServerOptions): Promise<RunningModelServer> {
  const o = { ...MODEL_SERVER_DEFAULTS, ...definedOnly(opts) };
  if (!o.model && !o.modelPath) throw new Error('startModelServer: modelPath or model is required');
  const thread = o.inferenceThread ?? defaultInferenceThread();
  if (!INFERENCE_THREADS.includes(thread)) throw new Error(`unknown inference thread "${thread}" (use worker or main)`);
  const model =
    o.model ??
    (await loadServedModel(o.modelPath!, thread, { provider: o.provider, intraOpThreads: o.intraOpThreads, spinning: o.spinning }));
  const name = o.name ?? modelNameFromPath(model.path);
  const batchable = isBatchable(model);
  const metadata: ModelMetadata = {
    name,
    versions: [MODEL_VERSION],
    platform: 'onnxruntime_onnx',
    inputs: model.inputs.map((m) => ({ ...m, shape: [...m.shape] })),
    outputs: model.outputs.map((m) => ({ ...m, shape: [...m.shape] })),
  };

  // the gauge callback runs at scrape time only, after `queue` exists
  const metrics = createServerMetrics(name, () => queue.queuedRows);
  const allOutputs = model.outputs.map((m) => m.name);
  const queue = new DynamicBatcher(
    (inputs) => model.run(inputs, allOutputs),
    {
      maxBatchSize: o.maxBatchSize,
      maxQueueDelayMs: o.maxQueueDelayMs,
      maxQueueRows: o.maxQueueRows,
      batchable,
      concurrency: o.concurrency ?? (thread === 'worker' && !o.model ? 2 : 1),
      waitWhenIdle: o.waitWhenIdle,
    },
    (s) => {
      metrics.batchRows.observe({ model: name }, s.rows);
      metrics.batchRequests.observe({ model: name }, s.requests);
      metrics.inferenceDuration.observe({ model: name }, s.seconds);
    },
  );
  let ready = true;
  let inflightBytes = 0;

  const checkModel = (r: { model: string; version?: string }): void => {
    if (r.model !== name) throw new OipError(404, `unknown model '${r.model}' (this server serves '${name}')`);
    if (r.version !== undefined && r.version !== MODEL_VERSION) {
      throw new OipError(404, `unknown version '${r.version}' of model '${name}' (available: ${MODEL_VERSION})`);
    }
  };

  const checkReady = (): void => {
    if (!ready) {
      metrics.rejected.inc({ model: name, reason: 'not_ready' });
      throw new OipError(503, `model '${name}' is not ready (server shutting down)`);
    }
  };

  /** Bodies held in memory are bounded in total, not only per request: reserve until the answer is sent. */
  const reserveBytes = (bytes: number): (() => void) => {
    if (inflightBytes > 0 && inflightBytes + bytes > o.maxInflightBytes) {
      metrics.rejected.inc({ model: name, reason: 'overload' });
      throw new OipError(429, `server overloaded: ${inflightBytes} request bytes in flight (limit ${o.maxInflightBytes}); retry later`);
    }
    inflightBytes += bytes;
    let released = false;
    return () => {
      if (!released) inflightBytes -= bytes;
      released = true;
    };
  };

  /** One decoded request through validation and the batch queue (both edges). */
  const run = async (request: InferRequest): Promise<InferResponse> => {
    const v = validateRequest(request, model.inputs, model.outputs, {
      allowNonFinite: o.allowNonFinite,
      batchable,
    });
    let outputs: Record<string, Tensor>;
    try {
      outputs = await queue.submit(v.inputs, v.rows, v.batchKey);
    } catch (e) {
      if (e instanceof OipError && e.status === 429) metrics.rejected.inc({ model: name, reason: 'overload' });
      throw e;
    }
    return {
      model_name: name,
      model_version: MODEL_VERSION,
      ...(request.id !== undefined ? { id: request.id } : {}),
      outputs: v.outputNames.map((n) => ({ ...outputs[n], name: n })),
    };
  };

  const count = (t0: number, code: number): void => {
    metrics.requests.inc({ model: name, code: String(code) });
    metrics.requestDuration.observe({ model: name }, (performance.now() - t0) / 1000);
  };

  const infer = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const t0 = performance.now();
    let code = 200;
    try {
      checkReady();
      const headerLength = parseHeaderLength(req.headers[HEADER_LENGTH_HEADER]);
      // reserve the declared size (the per-request limit when chunked) until the response is done
      const declared = Number(req.headers['content-length']);
      res.once('close', reserveBytes(Number.isSafeInteger(declared) && declared <= o.maxBodyBytes ? declared : o.maxBodyBytes));
      const body = await readBody(req, o.maxBodyBytes, headerLength);
      const request = decodeInferRequest(body, headerLength);
      sendInferResponse(res, encodeInferResponse(await run(request), binaryOutputSelector(request)));
    } catch (e) {
      code = e instanceof OipError ? e.status : 500;
      req.resume(); // a body left unread (refused early) is discarded
      sendError(res, e);
    } finally {
      count(t0, code);
    }
  };

  const grpcInfer = async (request: InferRequest, bytes: number): Promise<{ response: InferResponse }> => {
    const t0 = performance.now();
    let code = 200;
    let release: (() => void) | undefined;
    try {
      checkReady();
      release = reserveBytes(bytes);
      return { response: await run(request) };
    } catch (e) {
      code = e instanceof OipError ? e.status : 500;
      throw e;
    } finally {
      release?.();
      count(t0, code);
    }
  };

  const edge = createV2HttpServer({
    name,
    serverMetadata: () => ({ name: 'tinysaver', version: '0.1.0', extensions: ['binary_tensor_data'] }),
    checkModel: (model, version) => checkModel({ model, version }),
    ready: () => ready,
    modelMetadata: () => metadata,
    metrics: async () => ({ contentType: metrics.registry.contentType, text: await metrics.registry.metrics() }),
    infer,
  });
  const server = edge.server;

  let grpcServer: RunningGrpcServer | undefined;
  try {
    await listen(server, o.port, o.host);
    if (o.grpcPort !== undefined) {
      grpcServer = await startGrpcServer(
        {
          serverMetadata: () => ({ name: 'tinysaver', version: '0.1.0', extensions: [] }),
          checkModel: (m, version) => checkModel({ model: m, version }),
          ready: () => ready,
          modelMetadata: () => metadata,
          infer: grpcInfer,
          refused: (status) => count(performance.now(), status),
        },
        { host: o.host, port: o.grpcPort, maxReceiveBytes: o.maxBodyBytes },
      );
    }
  } catch (e) {
    if (server.listening) await edge.drain(0);
    // A model this call loaded (and its inference worker) would otherwise keep the process alive.
    if (!opts.model) await model.release().catch(() => undefined);
    throw e;
  }
  const port = (server.address() as AddressInfo).port;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      ready = false;
      await Promise.all([edge.drain(o.drainTimeoutMs, () => queue.drain()), grpcServer?.drain(o.drainTimeoutMs)]);
      if (!opts.model) await model.release();
    })();
    return closing;
  };

  return {
    url: `http://${host}:${port}`,
    port,
    grpcPort: grpcServer?.port,
    grpcAddress: grpcServer?.address,
    name,
    metadata,
    metrics,
    close,
  };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
