// An OnnxModel whose onnxruntime session lives in a worker thread. onnxruntime-node runs
// session.run synchronously on the calling JavaScript thread, so a server running it on its main
// thread cannot read, decode or answer the next request while a run is going; with the session in
// a worker, the main thread's HTTP work overlaps inference. Tensors cross the thread boundary as
// transferred ArrayBuffers (one copy of the input rows, none of the outputs).
//
// Failures stay contained: a failing run rejects that run only (the worker keeps serving); a worker
// that dies (crash, terminate, out of memory) rejects every pending run with an error naming the
// cause, and the next run() starts a fresh worker (a failing reload rejects that run). release()
// terminates the worker, so a process does not linger on it.

import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import type { Tensor, TensorData } from '../oip/types.js';
import {
  checkLoadable,
  fromOrtParts,
  loadError,
  sessionOptions,
  toOrtParts,
  valueMetadata,
  type LoadOptions,
  type OnnxModel,
  type OrtTensorParts,
  type OrtValueMetadata,
  type TensorLike,
} from './session.js';

/**
 * The worker's code, plain CommonJS evaluated by `new Worker(src, { eval: true })`: the same text
 * runs from dist/ and from the TypeScript sources under vitest (a worker *file* would need a TS
 * loader there). It only creates the session and runs it; every conversion and check is done on
 * the main thread by the typed code in session.ts.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
const owned = (d) => d.byteOffset === 0 && d.byteLength === d.buffer.byteLength;
(async () => {
  let session;
  try {
    session = await ort.InferenceSession.create(workerData.modelPath, workerData.options);
  } catch (e) {
    parentPort.postMessage({ kind: 'load-error', message: String((e && e.message) || e) });
    return;
  }
  const meta = (ms) => ms.map((m) => ({ name: m.name, isTensor: m.isTensor, type: m.type, shape: m.shape ? Array.from(m.shape) : [] }));
  parentPort.on('message', async (msg) => {
    if (msg.kind === 'release') {
      try { await session.release(); } catch {}
      parentPort.postMessage({ kind: 'released' });
      return;
    }
    try {
      const feeds = {};
      for (const [name, t] of Object.entries(msg.feeds)) feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
      const results = await session.run(feeds, msg.outputNames);
      const outputs = {};
      const transfer = [];
      for (const name of msg.outputNames) {
        const r = results[name];
        let data = r.data;
        if (ArrayBuffer.isView(data)) {
          if (!owned(data)) data = data.slice();
          transfer.push(data.buffer);
        }
        outputs[name] = { type: r.type, dims: Array.from(r.dims), data };
      }
      parentPort.postMessage({ kind: 'result', id: msg.id, outputs }, transfer);
    } catch (e) {
      parentPort.postMessage({ kind: 'run-error', id: msg.id, message: String((e && e.message) || e) });
    }
  });
  parentPort.postMessage({ kind: 'ready', inputs: meta(session.inputMetadata), outputs: meta(session.outputMetadata) });
})();
`;

type FromWorker =
  | { kind: 'ready'; inputs: OrtValueMetadata[]; outputs: OrtValueMetadata[] }
  | { kind: 'load-error'; message: string }
  | { kind: 'result'; id: number; outputs: Record<string, OrtTensorParts> }
  | { kind: 'run-error'; id: number; message: string }
  | { kind: 'released' };

interface Pending {
  resolve: (out: Record<string, OrtTensorParts>) => void;
  reject: (e: Error) => void;
}

/** A copy of `data` in an ArrayBuffer of its own, which can be transferred without detaching the caller's. */
function ownedCopy(data: TensorData | string[]): { data: TensorData | string[]; transfer?: ArrayBuffer } {
  if (!ArrayBuffer.isView(data)) return { data }; // strings: structured clone copies them
  const bytes = new Uint8Array(data.byteLength);
  bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  const Ctor = (data instanceof Buffer ? Uint8Array : data.constructor) as new (b: ArrayBuffer) => TensorData;
  return { data: new Ctor(bytes.buffer), transfer: bytes.buffer };
}

/** One live worker holding a session; `exited` settles when the thread is gone. */
class SessionWorker {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private dead: Error | undefined;
  private releasedAck: (() => void) | undefined;
  readonly exited: Promise<void>;
  readonly ready: Promise<{ inputs: OrtValueMetadata[]; outputs: OrtValueMetadata[] }>;
  private readonly worker: Worker;

  constructor(modelPath: string, opts: LoadOptions, ortPath: string) {
    const provider = opts.provider ?? 'cpu';
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { ortPath, modelPath, options: sessionOptions(provider, opts) },
    });
    let lastError: Error | undefined;
    let settleReady!: { resolve: (m: { inputs: OrtValueMetadata[]; outputs: OrtValueMetadata[] }) => void; reject: (e: Error) => void };
    this.ready = new Promise((resolve, reject) => (settleReady = { resolve, reject }));
    this.ready.catch(() => undefined); // awaited by whoever started this worker; a late rejection is not "unhandled"
    this.worker.on('message', (m: FromWorker) => {
      switch (m.kind) {
        case 'ready':
          return settleReady.resolve({ inputs: m.inputs, outputs: m.outputs });
        case 'load-error':
          settleReady.reject(loadError(modelPath, provider, m.message));
          void this.worker.terminate();
          return;
        case 'result':
        case 'run-error': {
          const p = this.pending.get(m.id);
          if (!p) return;
          this.pending.delete(m.id);
          if (m.kind === 'result') p.resolve(m.outputs);
          else p.reject(new Error(m.message.split('\n')[0]));
          return;
        }
        case 'released':
          this.releasedAck?.();
          return;
      }
    });
    // Without an 'error' listener a worker crash would be rethrown in (and kill) the main thread.
    this.worker.on('error', (e) => (lastError = e));
    this.exited = new Promise((resolve) => {
      this.worker.once('exit', (code) => {
        const why = lastError ? `: ${lastError.message.split('\n')[0]}` : '';
        this.dead = new Error(`inference worker exited (code ${code})${why}`);
        settleReady.reject(loadError(modelPath, provider, this.dead.message));
        for (const p of this.pending.values()) p.reject(this.dead);
        this.pending.clear();
        this.releasedAck?.();
        resolve();
      });
    });
  }

  get alive(): boolean {
    return this.dead === undefined;
  }

  run(inputs: Record<string, TensorLike>, outputNames: readonly string[]): Promise<Record<string, OrtTensorParts>> {
    if (this.dead) return Promise.reject(this.dead);
    const feeds: Record<string, OrtTensorParts> = {};
    const transfer: ArrayBuffer[] = [];
    for (const [name, t] of Object.entries(inputs)) {
      const parts = toOrtParts(t);
      const c = ownedCopy(parts.data);
      if (c.transfer) transfer.push(c.transfer);
      feeds[name] = { type: parts.type, dims: Array.from(parts.dims), data: c.data };
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        this.worker.postMessage({ id, feeds, outputNames }, transfer);
      } catch (e) {
        this.pending.delete(id);
        reject(e as Error);
      }
    });
  }

  /** Releases the session (bounded wait), then terminates the thread. */
  async release(timeoutMs = 5000): Promise<void> {
    if (this.alive) {
      const acked = new Promise<void>((r) => (this.releasedAck = r));
      this.worker.postMessage({ kind: 'release' });
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([acked, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
      clearTimeout(timer);
    }
    await this.worker.terminate();
    await this.exited;
  }

  /** Ends the thread at once (a crash stand-in for tests; pending runs reject). */
  terminate(): Promise<void> {
    return this.worker.terminate().then(() => this.exited);
  }
}

export interface WorkerOnnxModel extends OnnxModel {
  /** Ends the current worker thread abruptly, as a crash would (for tests); the next run starts a new one. */
  terminateWorker(): Promise<void>;
  /** Workers started so far (1 after load; +1 per restart after a death). */
  readonly workersStarted: number;
}

/** loadOnnxModel, with the session in a worker thread (same metadata, same errors, same run() results). */
export async function loadOnnxModelInWorker(modelPath: string, opts: LoadOptions = {}): Promise<WorkerOnnxModel> {
  const provider = opts.provider ?? 'cpu';
  checkLoadable(modelPath, provider);
  const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
  let current = new SessionWorker(modelPath, opts, ortPath);
  let started = 1;
  const meta = await current.ready;
  const inputs = valueMetadata(meta.inputs, modelPath);
  const outputs = valueMetadata(meta.outputs, modelPath);
  const allOutputs = outputs.map((o) => o.name);
  let restarting: Promise<SessionWorker> | undefined;
  let released = false;

  const live = async (): Promise<SessionWorker> => {
    if (released) throw new Error('model released');
    if (current.alive) return current;
    restarting ??= (async () => {
      const w = new SessionWorker(modelPath, opts, ortPath);
      started++;
      try {
        await w.ready;
      } finally {
        restarting = undefined;
      }
      current = w;
      return w;
    })();
    return restarting;
  };

  return {
    path: modelPath,
    provider,
    inputs,
    outputs,
    get workersStarted() {
      return started;
    },
    async run(feeds, outputNames = allOutputs) {
      const w = await live();
      const results = await w.run(feeds, outputNames);
      const out: Record<string, Tensor> = {};
      for (const name of outputNames) out[name] = fromOrtParts(name, results[name]);
      return out;
    },
    terminateWorker: () => current.terminate(),
    async release() {
      released = true;
      await restarting?.catch(() => undefined);
      await current.release();
    },
  };
}
