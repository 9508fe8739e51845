// An onnxruntime-node session behind v2 tensor types: metadata read from the graph (dynamic dims
// as -1) and run() on Tensor-like inputs. Used by the model server and in-process by the offline
// tools (`tinysaver simulate`), so it knows nothing about HTTP or batching.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import './telemetry-off.js'; // before onnxruntime-node
import ort from 'onnxruntime-node';
import type { Datatype, Tensor, TensorData, TensorMetadata } from '../oip/types.js';

export type Provider = 'cpu' | 'cuda';
export const PROVIDERS: readonly Provider[] = ['cpu', 'cuda'];

export interface LoadOptions {
  /** execution provider; default 'cpu' */
  provider?: Provider;
  /** intra-op thread count (0 or undefined: onnxruntime's default, one per core) */
  intraOpThreads?: number;
  /**
   * Let idle intra-op threads spin waiting for the next run (default false; onnxruntime's own default
   * is true). Spinning threads steal cores from everything else in the process and on the machine
   * (request parsing in a server, other processes on a small node): measured 2x slower on 2 cores.
   */
  spinning?: boolean;
}

/** The part of a Tensor that run() needs. */
export type TensorLike = Pick<Tensor, 'datatype' | 'shape' | 'data'>;

export interface OnnxModel {
  readonly path: string;
  readonly provider: Provider;
  readonly inputs: readonly TensorMetadata[];
  readonly outputs: readonly TensorMetadata[];
  /** Run the graph; `outputNames` defaults to every output. Results are keyed by output name. */
  run(inputs: Record<string, TensorLike>, outputNames?: readonly string[]): Promise<Record<string, Tensor>>;
  release(): Promise<void>;
}

const ORT_TO_V2: Readonly<Record<string, Datatype>> = {
  bool: 'BOOL',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  float16: 'FP16',
  float32: 'FP32',
  float64: 'FP64',
  string: 'BYTES',
};

const V2_TO_ORT: Readonly<Record<Datatype, string>> = Object.fromEntries(Object.entries(ORT_TO_V2).map(([k, v]) => [v, k])) as Record<
  Datatype,
  string
>;

/** The parts of onnxruntime's value metadata that travel (also between threads). */
export type OrtValueMetadata = Pick<ort.InferenceSession.ValueMetadata, 'name' | 'isTensor'> & {
  type?: string;
  shape?: ReadonlyArray<number | string | undefined>;
};

/** v2 metadata for a session's inputs or outputs (dynamic or symbolic dims as -1). */
export function valueMetadata(meta: readonly OrtValueMetadata[], modelPath: string): TensorMetadata[] {
  return meta.map((m) => {
    if (!m.isTensor) throw new Error(`${modelPath}: value '${m.name}' is not a tensor; only tensor inputs/outputs are supported`);
    const datatype = ORT_TO_V2[m.type ?? ''];
    if (!datatype) throw new Error(`${modelPath}: tensor '${m.name}' has element type ${m.type}, which v2 cannot carry`);
    // Symbolic (string) or unknown dims are dynamic: -1, as the v2 metadata convention has it.
    const shape = (m.shape ?? []).map((d) => (typeof d === 'number' && d >= 0 ? d : -1));
    return { name: m.name, datatype, shape };
  });
}

function cudaProviderLibraryPresent(): boolean {
  try {
    const require = createRequire(import.meta.url);
    const pkg = require.resolve('onnxruntime-node/package.json');
    const dir = path.join(path.dirname(pkg), 'bin', 'napi-v6', process.platform, process.arch);
    return existsSync(path.join(dir, 'libonnxruntime_providers_cuda.so'));
  } catch {
    return false;
  }
}

/**
 * A tensor as onnxruntime takes and gives it, in plain structured-cloneable parts (so it can also be
 * posted to and from a worker thread): ort element type, dims, typed array or (for BYTES) strings.
 */
export interface OrtTensorParts {
  type: string;
  dims: readonly number[];
  data: TensorData | string[];
}

/** v2 tensor -> onnxruntime parts (BYTES become UTF-8 strings, the only string form ort takes). */
export function toOrtParts(t: TensorLike): OrtTensorParts {
  const type = V2_TO_ORT[t.datatype];
  if (t.datatype === 'BYTES') return { type, dims: t.shape, data: (t.data as Buffer[]).map((b) => b.toString('utf8')) };
  return { type, dims: t.shape, data: t.data };
}

/** onnxruntime output parts -> v2 tensor. */
export function fromOrtParts(name: string, t: OrtTensorParts): Tensor {
  const datatype = ORT_TO_V2[t.type];
  if (!datatype) throw new Error(`output '${name}' has element type ${t.type}, which v2 cannot carry`);
  let data: TensorData;
  if (datatype === 'BYTES') data = (t.data as string[]).map((s) => Buffer.from(s, 'utf8'));
  else if (datatype === 'BOOL' && !(t.data instanceof Uint8Array)) data = Uint8Array.from(t.data as ArrayLike<number>);
  else data = t.data as TensorData;
  return { name, datatype, shape: t.dims.slice(), data };
}

function toOrtTensor(name: string, t: TensorLike): ort.Tensor {
  const p = toOrtParts(t);
  try {
    return new ort.Tensor(p.type as 'float32', p.data as Float32Array, p.dims);
  } catch (e) {
    throw new Error(`input '${name}': ${(e as Error).message}`);
  }
}

/** Fails with the user-facing message when the provider is unknown, the file is missing or CUDA is absent. */
export function checkLoadable(modelPath: string, provider: Provider): void {
  if (!PROVIDERS.includes(provider)) throw new Error(`unknown execution provider "${provider}" (use cpu or cuda)`);
  if (!existsSync(modelPath)) throw new Error(`model file not found: ${modelPath}`);
  if (provider === 'cuda' && !cudaProviderLibraryPresent()) {
    throw new Error(
      'CUDA execution provider not available: this onnxruntime-node install has no CUDA provider library ' +
        '(its CUDA download is skipped by .npmrc; a GPU build of onnxruntime-node and the CUDA runtime are needed). ' +
        'Use --provider cpu.',
    );
  }
}

/** Session options for InferenceSession.create (plain data: also posted to a worker thread). */
export function sessionOptions(provider: Provider, opts: LoadOptions): ort.InferenceSession.SessionOptions {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
  };
  if (opts.intraOpThreads) options.intraOpNumThreads = opts.intraOpThreads;
  if (opts.spinning !== true) options.extra = { session: { intra_op: { allow_spinning: '0' } } };
  return options;
}

/** The error for a failed InferenceSession.create. */
export function loadError(modelPath: string, provider: Provider, message: string): Error {
  const msg = message.split('\n')[0];
  if (provider === 'cuda') return new Error(`CUDA execution provider could not be started: ${msg}. Use --provider cpu.`);
  return new Error(`could not load ONNX model ${modelPath}: ${msg}`);
}

export async function loadOnnxModel(modelPath: string, opts: LoadOptions = {}): Promise<OnnxModel> {
  const provider = opts.provider ?? 'cpu';
  checkLoadable(modelPath, provider);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(modelPath, sessionOptions(provider, opts));
  } catch (e) {
    throw loadError(modelPath, provider, (e as Error).message);
  }
  const inputs = valueMetadata(session.inputMetadata, modelPath);
  const outputs = valueMetadata(session.outputMetadata, modelPath);
  const allOutputs = outputs.map((o) => o.name);

  return {
    path: modelPath,
    provider,
    inputs,
    outputs,
    async run(feedsIn, outputNames = allOutputs) {
      const feeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(feedsIn)) feeds[name] = toOrtTensor(name, t);
      const results = await session.run(feeds, outputNames as string[]);
      const out: Record<string, Tensor> = {};
      for (const name of outputNames) out[name] = fromOrtParts(name, results[name] as OrtTensorParts);
      return out;
    },
    release: () => session.release(),
  };
}
