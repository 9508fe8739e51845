import { describe, expect, test } from 'vitest';
import { OipError, type Tensor, type TensorMetadata } from '../../runtime/oip/types.js';
import type { TensorLike } from '../../runtime/onnx/session.js';
import { DynamicBatcher } from '../../runtime/server/batcher.js';
import { validateRequest } from '../../runtime/server/validate.js';

const IN: TensorMetadata[] = [{ name: 'input', datatype: 'FP32', shape: [-1, 2, 3] }];
const OUT: TensorMetadata[] = [{ name: 'logits', datatype: 'FP32', shape: [-1, 2] }];

function input(rows: number, fill = 1, shape = [rows, 2, 3]): Tensor {
  return { name: 'input', datatype: 'FP32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill) };
}

function reject(fn: () => unknown, status: number, pattern: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(OipError);
    expect((e as OipError).status).toBe(status);
    expect((e as OipError).message).toMatch(pattern);
    return;
  }
  throw new Error('expected a rejection');
}

describe('validateRequest', () => {
  const v = (inputs: Tensor[], opts = {}) => validateRequest({ inputs }, IN, OUT, { batchable: true, ...opts });

  test('accepts a matching request and reports its rows and batch key', () => {
    const r = v([input(4)]);
    expect(r.rows).toBe(4);
    expect(r.batchKey).toBe('FP32[2,3]');
    expect(r.outputNames).toEqual(['logits']);
  });
  test('wrong datatype', () =>
    reject(
      () => v([{ ...input(1), datatype: 'FP64', data: new Float64Array(6) }]),
      400,
      /input 'input': datatype FP64, model expects FP32/,
    ));
  test('wrong rank', () => reject(() => v([input(1, 1, [1, 6])]), 400, /shape \[1,6\] has rank 2, model expects rank 3 \[-1,2,3\]/));
  test('wrong fixed dimension', () => reject(() => v([input(1, 1, [1, 3, 2])]), 400, /shape \[1,3,2\] has 3 at dimension 1/));
  test('element count mismatch (in-process callers)', () =>
    reject(() => v([{ ...input(2), data: new Float32Array(5) }]), 400, /needs 12 elements, data has 5/));
  test('missing and unknown inputs', () => {
    reject(() => v([{ ...input(1), name: 'other' }]), 400, /unknown input 'other' \(model inputs: input\)/);
    reject(
      () => validateRequest({ inputs: [input(1)] }, [...IN, { name: 'mask', datatype: 'BOOL', shape: [-1] }], OUT, { batchable: true }),
      400,
      /missing input 'mask'/,
    );
  });
  test('NaN and Inf rejected by default, naming the tensor and element; allowed by option', () => {
    const t = input(1);
    (t.data as Float32Array)[4] = NaN;
    reject(() => v([t]), 400, /input 'input': element 4 is NaN; NaN\/Inf inputs are rejected/);
    (t.data as Float32Array)[4] = -Infinity;
    reject(() => v([t]), 400, /element 4 is -Infinity/);
    expect(v([t], { allowNonFinite: true }).rows).toBe(1);
  });
  test('zero rows', () => reject(() => v([input(0)]), 400, /batch dimension is 0/));
  test('unknown requested output', () =>
    reject(
      () => validateRequest({ inputs: [input(1)], outputs: [{ name: 'probs' }] }, IN, OUT, { batchable: true }),
      400,
      /unknown output 'probs'/,
    ));
});

/** A fake "model": logits row r = [sum of row r, rows in this run]; records every run. */
function recordingRun(runs: number[], gate?: Promise<void>) {
  return async (inputs: Record<string, TensorLike>): Promise<Record<string, Tensor>> => {
    const x = inputs.input;
    const rows = x.shape[0];
    runs.push(rows);
    if (gate) await gate;
    const per = x.data.length / rows;
    const out = new Float32Array(rows * 2);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let i = 0; i < per; i++) s += (x.data as Float32Array)[r * per + i];
      out[r * 2] = s;
      out[r * 2 + 1] = rows;
    }
    return { logits: { name: 'logits', datatype: 'FP32', shape: [rows, 2], data: out } };
  };
}

describe('DynamicBatcher', () => {
  test('concurrent requests share one run and each gets exactly its own rows', async () => {
    const runs: number[] = [];
    const b = new DynamicBatcher(recordingRun(runs), { maxBatchSize: 32, maxQueueDelayMs: 20, maxQueueRows: 100, batchable: true });
    const sizes = [1, 3, 2, 5];
    const results = await Promise.all(sizes.map((n, k) => b.submit({ input: input(n, k + 1) }, n, 'k')));
    expect(runs).toEqual([11]);
    results.forEach((res, k) => {
      const d = Array.from(res.logits.data as Float32Array);
      expect(res.logits.shape).toEqual([sizes[k], 2]);
      for (let r = 0; r < sizes[k]; r++) expect([d[r * 2], d[r * 2 + 1]]).toEqual([6 * (k + 1), 11]);
    });
  });

  test('batches never exceed maxBatchSize; a larger single request runs alone', async () => {
    const runs: number[] = [];
    const b = new DynamicBatcher(recordingRun(runs), { maxBatchSize: 4, maxQueueDelayMs: 5, maxQueueRows: 100, batchable: true });
    await Promise.all([3, 3, 2, 9, 1].map((n) => b.submit({ input: input(n) }, n, 'k')));
    expect(Math.max(...runs.filter((r) => r !== 9))).toBeLessThanOrEqual(4);
    expect(runs).toContain(9);
    expect(runs.reduce((a, c) => a + c, 0)).toBe(18);
  });

  test('requests with different trailing shapes are not merged', async () => {
    const runs: number[] = [];
    const b = new DynamicBatcher(recordingRun(runs), { maxBatchSize: 32, maxQueueDelayMs: 10, maxQueueRows: 100, batchable: true });
    await Promise.all([b.submit({ input: input(1) }, 1, 'a'), b.submit({ input: input(2) }, 2, 'b')]);
    expect(runs).toEqual([1, 2]);
  });

  test('a full queue refuses with 429 at once and recovers after draining', async () => {
    const runs: number[] = [];
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const b = new DynamicBatcher(recordingRun(runs, gate), { maxBatchSize: 4, maxQueueDelayMs: 0, maxQueueRows: 8, batchable: true });
    const first = b.submit({ input: input(4) }, 4, 'k'); // runs (blocked on the gate)
    await new Promise((r) => setTimeout(r, 5));
    const queued = [b.submit({ input: input(4) }, 4, 'k'), b.submit({ input: input(4) }, 4, 'k')];
    expect(b.queuedRows).toBe(8);
    await expect(b.submit({ input: input(1) }, 1, 'k')).rejects.toMatchObject({
      status: 429,
      message: expect.stringMatching(/overloaded: 8 rows already queued/),
    });
    await expect(b.submit({ input: input(9) }, 9, 'k')).rejects.toMatchObject({
      status: 400,
      message: expect.stringMatching(/at most 8 per request/),
    });
    open();
    await Promise.all([first, ...queued]);
    await b.drain();
    expect(b.queuedRows).toBe(0);
    await expect(b.submit({ input: input(1) }, 1, 'k')).resolves.toBeDefined();
  });

  test('a failing run rejects every request of its batch with 500, and the next batch runs', async () => {
    let fail = true;
    const b = new DynamicBatcher(
      async (inputs) => {
        if (fail) throw new Error('boom');
        return recordingRun([])(inputs);
      },
      { maxBatchSize: 8, maxQueueDelayMs: 5, maxQueueRows: 100, batchable: true },
    );
    const rs = await Promise.allSettled([b.submit({ input: input(1) }, 1, 'k'), b.submit({ input: input(1) }, 1, 'k')]);
    expect(rs.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect((rs[0] as PromiseRejectedResult).reason).toMatchObject({ status: 500, message: 'inference failed: boom' });
    fail = false;
    await expect(b.submit({ input: input(1) }, 1, 'k')).resolves.toBeDefined();
  });

  test('a lone request at an idle batcher does not wait out the delay; same-turn arrivals still merge', async () => {
    const runs: number[] = [];
    // A 60 s window: were it waited out, these would time the test out.
    const b = new DynamicBatcher(recordingRun(runs), { maxBatchSize: 32, maxQueueDelayMs: 60_000, maxQueueRows: 100, batchable: true });
    await b.submit({ input: input(2) }, 2, 'k');
    await new Promise((r) => setImmediate(r)); // the run has been accounted for: idle again
    await Promise.all([1, 3, 2].map((n) => b.submit({ input: input(n) }, n, 'k')));
    expect(runs).toEqual([2, 6]);
  });

  test('waitWhenIdle keeps a lone request queued for the window (until drained)', async () => {
    const runs: number[] = [];
    const b = new DynamicBatcher(recordingRun(runs), {
      maxBatchSize: 32,
      maxQueueDelayMs: 60_000,
      maxQueueRows: 100,
      batchable: true,
      waitWhenIdle: true,
    });
    const pending = b.submit({ input: input(2) }, 2, 'k');
    await new Promise((r) => setTimeout(r, 20));
    expect(b.queuedRows).toBe(2);
    expect(runs).toEqual([]);
    await b.drain();
    await pending;
    expect(runs).toEqual([2]);
  });

  test('non-batchable models run each request alone', async () => {
    const runs: number[] = [];
    const b = new DynamicBatcher(recordingRun(runs), { maxBatchSize: 32, maxQueueDelayMs: 10, maxQueueRows: 100, batchable: false });
    await Promise.all([b.submit({ input: input(1) }, 1, ''), b.submit({ input: input(1) }, 1, '')]);
    expect(runs).toEqual([1, 1]);
  });
});
