// Dynamic batching: requests queue up, and one session run serves several of them, their inputs
// concatenated along dim 0 (up to maxBatchSize rows, or whatever arrived within maxQueueDelayMs);
// outputs are split back by row ranges, so each request gets exactly its own rows. The queue is
// bounded in rows: past maxQueueRows a request is refused at once (429), never buffered.
// A request that finds the batcher idle (nothing queued, no run in flight) does not wait out
// maxQueueDelayMs: it runs at the end of the current event-loop turn, together with whatever
// arrived in that same turn. At low load the delay would only add latency (nothing else is coming
// to share the run); under load requests arrive while a run is in flight and batch as before.

import { OipError, type Tensor, type TensorData } from '../oip/types.js';
import type { TensorLike } from '../onnx/session.js';

export type RunFn = (inputs: Record<string, TensorLike>) => Promise<Record<string, Tensor>>;

export interface BatcherOptions {
  /** most rows per session run (a single larger request still runs, alone) */
  maxBatchSize: number;
  /** how long the oldest queued request may wait for the batch to fill (ms; 0 = run at once) */
  maxQueueDelayMs: number;
  /** most rows waiting in the queue; more -> 429 */
  maxQueueRows: number;
  /** false when the model has no dynamic batch dimension: every request runs alone */
  batchable: boolean;
  /** session runs in flight at once (default 1: onnxruntime already uses every core per run) */
  concurrency?: number;
  /**
   * Make a request that finds the batcher idle wait maxQueueDelayMs too (a fixed batching window),
   * instead of running at the end of the current event-loop turn. Default false.
   */
  waitWhenIdle?: boolean;
}

export interface BatchStats {
  rows: number;
  requests: number;
  seconds: number;
}

interface Job {
  key: string;
  rows: number;
  inputs: Record<string, TensorLike>;
  enqueuedAt: number;
  resolve: (out: Record<string, Tensor>) => void;
  reject: (e: unknown) => void;
}

function concatRows(parts: TensorLike[], totalRows: number): TensorLike {
  const first = parts[0];
  const shape = [totalRows, ...first.shape.slice(1)];
  if (first.datatype === 'BYTES') {
    return { datatype: first.datatype, shape, data: parts.flatMap((p) => p.data as Buffer[]) };
  }
  let total = 0;
  for (const p of parts) total += p.data.length;
  const Ctor = (first.data as Float32Array).constructor as new (n: number) => Float32Array;
  const out = new Ctor(total);
  let off = 0;
  for (const p of parts) {
    out.set(p.data as Float32Array, off);
    off += p.data.length;
  }
  return { datatype: first.datatype, shape, data: out as TensorData };
}

function sliceRows(t: Tensor, totalRows: number, start: number, rows: number): Tensor {
  const stride = t.data.length / totalRows;
  const a = start * stride;
  const b = (start + rows) * stride;
  const data = t.datatype === 'BYTES' ? (t.data as Buffer[]).slice(a, b) : (t.data as Float32Array).subarray(a, b);
  return { name: t.name, datatype: t.datatype, shape: [rows, ...t.shape.slice(1)], data: data as TensorData };
}

export class DynamicBatcher {
  private readonly queue: Job[] = [];
  private queued = 0;
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private idleWaiters: (() => void)[] = [];
  private readonly concurrency: number;

  constructor(
    private readonly run: RunFn,
    private readonly opts: BatcherOptions,
    private readonly onBatch?: (s: BatchStats) => void,
  ) {
    this.concurrency = opts.concurrency ?? 1;
  }

  /** Rows waiting in the queue (not yet running). */
  get queuedRows(): number {
    return this.queued;
  }

  submit(inputs: Record<string, TensorLike>, rows: number, key: string): Promise<Record<string, Tensor>> {
    if (rows > this.opts.maxQueueRows) {
      return Promise.reject(
        new OipError(400, `request has ${rows} rows; this server accepts at most ${this.opts.maxQueueRows} per request (--max-queue-rows)`),
      );
    }
    if (this.queued + rows > this.opts.maxQueueRows) {
      return Promise.reject(
        new OipError(429, `server overloaded: ${this.queued} rows already queued (limit ${this.opts.maxQueueRows}); retry later`),
      );
    }
    return new Promise((resolve, reject) => {
      const idle = this.queue.length === 0 && this.running === 0;
      this.queue.push({ key, rows, inputs, enqueuedAt: performance.now(), resolve, reject });
      this.queued += rows;
      const wouldWait = this.opts.batchable && this.queued < this.opts.maxBatchSize && this.opts.maxQueueDelayMs > 0;
      if (idle && wouldWait && !this.opts.waitWhenIdle) {
        // Requests submitted later in this turn join; a timer they set is superseded.
        this.immediate ??= setImmediate(() => {
          this.immediate = undefined;
          this.schedule(true);
        });
        return;
      }
      // A same-turn run is already pending: join it rather than timing the wait from the first request
      // (on a loaded machine the turn itself can outlast maxQueueDelayMs and split the batch).
      if (this.immediate !== undefined && this.queued < this.opts.maxBatchSize) return;
      this.schedule();
    });
  }

  /** Resolves once the queue is empty and no run is in flight. */
  drain(): Promise<void> {
    if (this.queue.length === 0 && this.running === 0) return Promise.resolve();
    return new Promise((r) => {
      this.idleWaiters.push(r);
      this.schedule(true);
    });
  }

  private schedule(now = false): void {
    if (this.running >= this.concurrency || this.queue.length === 0) return;
    const waited = performance.now() - this.queue[0].enqueuedAt;
    const full = !this.opts.batchable || this.queued >= this.opts.maxBatchSize;
    if (now || full || waited >= this.opts.maxQueueDelayMs || this.idleWaiters.length > 0) {
      this.dispatch();
      return;
    }
    if (this.timer === undefined) {
      this.timer = setTimeout(
        () => {
          this.timer = undefined;
          this.schedule(true);
        },
        Math.max(0, this.opts.maxQueueDelayMs - waited),
      );
    }
  }

  private takeBatch(): Job[] {
    const first = this.queue.shift()!;
    const batch = [first];
    let rows = first.rows;
    if (this.opts.batchable) {
      while (this.queue.length > 0) {
        const next = this.queue[0];
        if (next.key !== first.key || rows + next.rows > this.opts.maxBatchSize) break;
        batch.push(this.queue.shift()!);
        rows += next.rows;
      }
    }
    this.queued -= rows;
    return batch;
  }

  private dispatch(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.immediate !== undefined) {
      clearImmediate(this.immediate);
      this.immediate = undefined;
    }
    const batch = this.takeBatch();
    this.running++;
    void this.execute(batch).finally(() => {
      this.running--;
      if (this.queue.length > 0) this.schedule();
      else if (this.running === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
      // more runs may fit when concurrency > 1
      if (this.queue.length > 0 && this.running < this.concurrency) this.schedule();
    });
  }

  private async execute(batch: Job[]): Promise<void> {
    let totalRows = 0;
    for (const j of batch) totalRows += j.rows;
    const t0 = performance.now();
    try {
      let inputs: Record<string, TensorLike>;
      if (batch.length === 1) {
        inputs = batch[0].inputs;
      } else {
        inputs = {};
        for (const name of Object.keys(batch[0].inputs)) {
          inputs[name] = concatRows(
            batch.map((j) => j.inputs[name]),
            totalRows,
          );
        }
      }
      const outputs = await this.run(inputs);
      this.onBatch?.({ rows: totalRows, requests: batch.length, seconds: (performance.now() - t0) / 1000 });
      if (batch.length === 1) {
        batch[0].resolve(outputs);
        return;
      }
      for (const t of Object.values(outputs)) {
        if (t.shape[0] !== totalRows) {
          throw new Error(`output '${t.name}' has ${t.shape[0]} rows for a batch of ${totalRows}`);
        }
      }
      let start = 0;
      for (const j of batch) {
        const mine: Record<string, Tensor> = {};
        for (const [name, t] of Object.entries(outputs)) mine[name] = sliceRows(t, totalRows, start, j.rows);
        start += j.rows;
        j.resolve(mine);
      }
    } catch (e) {
      const err = e instanceof OipError ? e : new OipError(500, `inference failed: ${(e as Error).message}`);
      for (const j of batch) j.reject(err);
    }
  }
}
