// `tinysaver serve-model`: one ONNX model behind the Open Inference Protocol v2 (REST).

import { listenUrl, parseFlags, type FlagDef, type FlagValues } from '../flags.js';
import { PROVIDERS, type Provider } from '../../runtime/onnx/session.js';
import { untilSignal } from '../../runtime/oip/edge.js';
import {
  MODEL_SERVER_DEFAULTS as D,
  MODEL_SERVER_GRPC_PORT,
  defaultInferenceThread,
  startModelServer,
  type InferenceThread,
  type ModelServerOptions,
} from '../../runtime/server/model-server.js';

export const SERVE_MODEL_FLAGS: Record<string, FlagDef> = {
  model: { kind: 'string', meta: 'PATH', help: 'ONNX model file to serve (required)' },
  name: { kind: 'string', meta: 'NAME', help: 'model name in the v2 URLs (default: the file name without .onnx)' },
  host: { kind: 'string', default: D.host, help: 'address to listen on (the operator passes 0.0.0.0)' },
  port: { kind: 'port', default: D.port, help: 'port to listen on' },
  'grpc-port': {
    kind: 'port',
    default: MODEL_SERVER_GRPC_PORT,
    help: 'port of the gRPC v2 endpoint (inference.GRPCInferenceService; 0: a free port)',
  },
  'max-batch-size': { kind: 'int', min: 1, default: D.maxBatchSize, help: 'most rows merged into one session run (dynamic batching)' },
  'max-queue-delay-ms': { kind: 'number', min: 0, default: D.maxQueueDelayMs, help: 'longest wait for a batch to fill before it runs' },
  'wait-when-idle': {
    kind: 'boolean',
    default: false,
    help: 'fixed batching window: a request that finds the server idle also waits --max-queue-delay-ms (default: it runs at once)',
  },
  'max-queue-rows': { kind: 'int', min: 1, default: D.maxQueueRows, help: 'rows allowed to wait in the queue; beyond, requests get 429' },
  'max-body-bytes': { kind: 'int', min: 1, default: D.maxBodyBytes, help: 'largest request body accepted (413 beyond)' },
  'max-inflight-bytes': {
    kind: 'int',
    min: 1,
    default: D.maxInflightBytes,
    help: 'request bytes held in memory by all requests together; beyond, 429',
  },
  provider: {
    kind: 'string',
    default: D.provider,
    choices: PROVIDERS,
    help: 'onnxruntime execution provider (cuda fails clearly when unavailable)',
  },
  'intra-op-threads': { kind: 'int', min: 0, default: 0, help: 'onnxruntime intra-op threads (0: one per core)' },
  'inference-thread': {
    kind: 'string',
    default: 'auto',
    choices: ['auto', 'worker', 'main'],
    help: 'where session.run executes: worker (a worker thread, so HTTP work overlaps inference; adds a thread hop per run), main (the event-loop thread; lowest latency one request at a time), auto (worker when this process may use more than one CPU)',
  },
  'allow-non-finite': { kind: 'boolean', default: false, help: 'accept NaN/Inf in float inputs (otherwise: 400 naming the tensor)' },
};

export function modelServerOptionsFromFlags(v: FlagValues): ModelServerOptions {
  return {
    modelPath: v.model as string,
    name: v.name as string | undefined,
    host: v.host as string,
    port: v.port as number,
    grpcPort: v['grpc-port'] as number,
    maxBatchSize: v['max-batch-size'] as number,
    maxQueueDelayMs: v['max-queue-delay-ms'] as number,
    waitWhenIdle: v['wait-when-idle'] as boolean,
    maxQueueRows: v['max-queue-rows'] as number,
    maxBodyBytes: v['max-body-bytes'] as number,
    maxInflightBytes: v['max-inflight-bytes'] as number,
    provider: v.provider as Provider,
    intraOpThreads: (v['intra-op-threads'] as number) || undefined,
    inferenceThread: v['inference-thread'] === 'auto' ? undefined : (v['inference-thread'] as InferenceThread),
    allowNonFinite: v['allow-non-finite'] as boolean,
  };
}

export async function run(argv: string[]): Promise<number> {
  const p = parseFlags(
    argv,
    'tinysaver serve-model --model PATH [flags]',
    'Serve one ONNX model over the Open Inference Protocol v2 (JSON and binary tensors), with dynamic batching.',
    SERVE_MODEL_FLAGS,
  );
  if (p.kind === 'help') return (console.log(p.text), 0);
  if (p.kind === 'error') return (console.error(`tinysaver serve-model: ${p.message}`), 2);
  if (!p.values.model) return (console.error('tinysaver serve-model: --model PATH is required'), 2);
  let server;
  try {
    server = await startModelServer(modelServerOptionsFromFlags(p.values));
  } catch (e) {
    console.error(`tinysaver serve-model: ${(e as Error).message}`);
    return 1;
  }
  const thread = (p.values['inference-thread'] === 'auto' ? defaultInferenceThread() : p.values['inference-thread']) as InferenceThread;
  console.error(
    `model server: serving "${server.name}" at ${listenUrl(p.values.host as string, server.url)}/v2/models/${server.name} and gRPC ${server.grpcAddress} (metrics at ${listenUrl(p.values.host as string, server.url)}/metrics; inference on the ${thread} thread)`,
  );
  const sig = await untilSignal();
  console.error(`model server: ${sig}, draining and shutting down`);
  await server.close();
  return 0;
}
