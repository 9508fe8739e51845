// The model server's two inference threads (session.run in a worker thread, or on the main thread):
// both give the in-process session.run outputs for every bundled model, row by row; a run failing
// inside the worker is a 500 naming the problem and the server keeps serving; a dead worker fails
// its pending runs and is replaced. Real onnxruntime, real HTTP on 127.0.0.1.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { V2Client } from '../../runtime/oip/client.js';
import { loadOnnxModel } from '../../runtime/onnx/session.js';
import { loadOnnxModelInWorker } from '../../runtime/onnx/worker-session.js';
import { defaultInferenceThread, startModelServer, type InferenceThread } from '../../runtime/server/model-server.js';
import { loadZooManifest, zooModelPath } from '../../models/zoo.js';
import { onnxModel } from '../unit/profile-fixtures.js';
import { images, rawRequest } from './server-helpers.js';

const THREADS: InferenceThread[] = ['worker', 'main'];
const zoo = loadZooManifest().models.map((m) => ({ name: m.name, path: zooModelPath(m.name) }));

function input(rows: number, seed: number): { datatype: 'FP32'; shape: number[]; data: Float32Array } {
  return { datatype: 'FP32', shape: [rows, 1, 28, 28], data: images(rows, seed) };
}

describe('worker-thread session', () => {
  test('same metadata and bit-identical outputs as the in-process session, for every bundled model', async () => {
    for (const m of zoo) {
      const inProcess = await loadOnnxModel(m.path);
      const inWorker = await loadOnnxModelInWorker(m.path);
      try {
        expect(inWorker.inputs).toEqual(inProcess.inputs);
        expect(inWorker.outputs).toEqual(inProcess.outputs);
        for (const rows of [1, 7, 64]) {
          const x = input(rows, rows);
          const want = (await inProcess.run({ input: x })).logits;
          const got = (await inWorker.run({ input: x })).logits;
          expect(got.shape).toEqual(want.shape);
          expect(Array.from(got.data as Float32Array)).toEqual(Array.from(want.data as Float32Array));
          // the caller's input is copied, not transferred away
          expect(x.data.length).toBe(rows * 784);
        }
      } finally {
        await inWorker.release();
        await inProcess.release();
      }
    }
  });

  test('a dead worker fails its pending run with the cause, and the next run starts a new worker', async () => {
    const base = zoo.find((m) => m.name === 'base-cnn') ?? zoo[0];
    const m = await loadOnnxModelInWorker(base.path);
    try {
      const pending = m.run({ input: input(2048, 1) }); // long enough to still be pending
      await m.terminateWorker();
      await expect(pending).rejects.toThrow(/inference worker exited \(code 1\)/);
      const again = await m.run({ input: input(2, 2) });
      expect(again.logits.shape).toEqual([2, 10]);
      expect(m.workersStarted).toBe(2);
    } finally {
      await m.release();
    }
    await expect(m.run({ input: input(1, 1) })).rejects.toThrow(/released/);
  });

  test('a model that does not load is the same clear error as in-process', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tinysaver-worker-'));
    try {
      const bad = path.join(dir, 'garbage.onnx');
      writeFileSync(bad, 'not a model');
      await expect(loadOnnxModelInWorker(bad)).rejects.toThrow(new RegExp(`could not load ONNX model ${bad}: `));
      await expect(loadOnnxModelInWorker(path.join(dir, 'missing.onnx'))).rejects.toThrow(/model file not found/);
      await expect(loadOnnxModelInWorker(zoo[0].path, { provider: 'cuda' })).rejects.toThrow(
        /CUDA execution provider .*Use --provider cpu/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.each(THREADS)('model server, inference on the %s thread', (thread) => {
  test('every bundled model: concurrent mixed-size requests get exactly the in-process rows', async () => {
    for (const m of zoo) {
      const reference = await loadOnnxModel(m.path);
      const server = await startModelServer({ modelPath: m.path, port: 0, inferenceThread: thread, maxBatchSize: 32, maxQueueDelayMs: 5 });
      const client = new V2Client(server.url, { maxSockets: 8 });
      try {
        const sizes = [1, 3, 8, 1, 16, 2, 5, 1];
        const replies = await Promise.all(
          sizes.map((rows, k) =>
            client.infer(server.name, { inputs: [{ name: 'input', ...input(rows, 100 + k) }] }, { binary: k % 2 === 0 }),
          ),
        );
        for (let k = 0; k < sizes.length; k++) {
          const want = (await reference.run({ input: input(sizes[k], 100 + k) })).logits.data as Float32Array;
          const got = replies[k].outputs[0];
          expect(got.shape).toEqual([sizes[k], 10]);
          const g = got.data as Float32Array;
          for (let row = 0; row < sizes[k]; row++) {
            for (let c = 0; c < 10; c++) expect(Math.abs(g[row * 10 + c] - want[row * 10 + c])).toBeLessThan(1e-4);
          }
        }
      } finally {
        client.close();
        await server.close();
        await reference.release();
      }
    }
  });
});

test('over HTTP: a worker dying mid-run is a 500 naming it, and the next request is served by a new worker', async () => {
  const base = zoo.find((m) => m.name === 'base-cnn') ?? zoo[0];
  const wm = await loadOnnxModelInWorker(base.path);
  let runStarted!: () => void;
  const started = new Promise<void>((r) => (runStarted = r));
  // the real worker model, observed: tells the test when a run has been handed to the worker
  const observed = {
    ...wm,
    inputs: wm.inputs,
    outputs: wm.outputs,
    run: (...a: Parameters<typeof wm.run>) => (runStarted(), wm.run(...a)),
  };
  const server = await startModelServer({ model: observed, name: 'base', port: 0, maxBatchSize: 4096, maxQueueDelayMs: 0 });
  const client = new V2Client(server.url);
  try {
    const big = client.infer('base', { inputs: [{ name: 'input', ...input(2048, 3) }] });
    await started;
    await wm.terminateWorker();
    await expect(big).rejects.toMatchObject({
      status: 500,
      message: expect.stringMatching(/^inference failed: inference worker exited \(code 1\)/),
    });
    const next = await client.infer('base', { inputs: [{ name: 'input', ...input(2, 4) }] });
    expect(next.outputs[0].shape).toEqual([2, 10]);
    expect(wm.workersStarted).toBe(2);
  } finally {
    client.close();
    await server.close();
    await wm.release();
  }
});

/**
 * A graph over non-float tensors, to check what crosses the thread boundary besides FP32: Cast of an
 * FP32 input to INT64, BOOL and FP16, and Identity of INT64 and BYTES (string) inputs. Written field
 * by field from onnx.proto (the profiler's test writer declares every value FP32).
 */
function castModel(): Uint8Array {
  const varint = (v: number): number[] => {
    const out: number[] = [];
    do {
      let b = v & 0x7f;
      v = Math.floor(v / 128);
      if (v) b |= 0x80;
      out.push(b);
    } while (v);
    return out;
  };
  const vf = (f: number, v: number): number[] => [...varint(f << 3), ...varint(v)];
  const lf = (f: number, p: number[]): number[] => [...varint((f << 3) | 2), ...varint(p.length), ...p];
  const sf = (f: number, str: string): number[] => lf(f, [...Buffer.from(str)]);
  const node = (op: string, i: string, o: string, to?: number): number[] =>
    lf(1, [
      ...sf(1, i),
      ...sf(2, o),
      ...sf(3, o),
      ...sf(4, op),
      ...(to === undefined ? [] : lf(5, [...sf(1, 'to'), ...vf(3, to), ...vf(20, 2)])),
    ]);
  const vi = (f: number, name: string, elem: number, dims: (number | string)[]): number[] =>
    lf(f, [
      ...sf(1, name),
      ...lf(
        2,
        lf(1, [
          ...vf(1, elem),
          ...lf(
            2,
            dims.flatMap((d) => lf(1, typeof d === 'number' ? vf(1, d) : sf(2, d))),
          ),
        ]),
      ),
    ]);
  const graph = [
    ...node('Cast', 'x', 'x_i64', 7),
    ...node('Cast', 'x', 'x_bool', 9),
    ...node('Cast', 'x', 'x_f16', 10),
    ...node('Identity', 'n', 'n_out'),
    ...node('Identity', 's', 's_out'),
    ...sf(2, 'cast'),
    ...vi(11, 'x', 1, ['N', 2]),
    ...vi(11, 'n', 7, ['N']),
    ...vi(11, 's', 8, ['N']),
    ...vi(12, 'x_i64', 7, ['N', 2]),
    ...vi(12, 'x_bool', 9, ['N', 2]),
    ...vi(12, 'x_f16', 10, ['N', 2]),
    ...vi(12, 'n_out', 7, ['N']),
    ...vi(12, 's_out', 8, ['N']),
  ];
  return Uint8Array.from([...vf(1, 8), ...sf(2, 'worker-test'), ...lf(7, graph), ...lf(8, [...sf(1, ''), ...vf(2, 13)])]);
}

test('INT64, BOOL, FP16 and BYTES tensors cross the worker boundary intact (model and HTTP, both threads)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tinysaver-worker-'));
  const file = path.join(dir, 'cast.onnx');
  writeFileSync(file, castModel());
  const feeds = {
    x: { datatype: 'FP32' as const, shape: [3, 2], data: Float32Array.from([0, 1.5, -2, 0.25, 3, 0]) },
    n: { datatype: 'INT64' as const, shape: [3], data: BigInt64Array.from([1n, -(2n ** 62n), 2n ** 53n + 1n]) },
    s: { datatype: 'BYTES' as const, shape: [3], data: [Buffer.from('a'), Buffer.from('ünï'), Buffer.from('')] },
  };
  const inProcess = await loadOnnxModel(file);
  const inWorker = await loadOnnxModelInWorker(file);
  try {
    expect(inWorker.outputs).toEqual(inProcess.outputs);
    expect(inWorker.outputs.map((o) => o.datatype)).toEqual(['INT64', 'BOOL', 'FP16', 'INT64', 'BYTES']);
    const want = await inProcess.run(feeds);
    const got = await inWorker.run(feeds);
    for (const name of Object.keys(want)) {
      expect(got[name].datatype).toBe(want[name].datatype);
      expect(got[name].shape).toEqual(want[name].shape);
      expect(Array.from(got[name].data as ArrayLike<unknown>)).toEqual(Array.from(want[name].data as ArrayLike<unknown>));
    }
    expect(Array.from(got.n_out.data as BigInt64Array)).toEqual([1n, -(2n ** 62n), 2n ** 53n + 1n]);
    expect((got.s_out.data as Buffer[]).map((b) => b.toString())).toEqual(['a', 'ünï', '']);
    expect(Array.from(got.x_bool.data as Uint8Array)).toEqual([0, 1, 1, 1, 1, 0]);

    const body = JSON.stringify({
      inputs: [
        { name: 'x', datatype: 'FP32', shape: [3, 2], data: [0, 1.5, -2, 0.25, 3, 0] },
        { name: 'n', datatype: 'INT64', shape: [3], data: [1, -4611686018427387904, '9007199254740993'] },
        { name: 's', datatype: 'BYTES', shape: [3], data: ['a', 'ünï', ''] },
      ],
    });
    const replies: string[] = [];
    for (const thread of THREADS) {
      const server = await startModelServer({ modelPath: file, name: 'cast', port: 0, inferenceThread: thread, maxQueueDelayMs: 0 });
      try {
        const r = await rawRequest(server.url, 'POST', '/v2/models/cast/infer', body, { 'Content-Type': 'application/json' });
        expect(r.status).toBe(200);
        replies.push(r.body.toString());
      } finally {
        await server.close();
      }
    }
    expect(replies[0]).toEqual(replies[1]);
    expect(replies[0]).toContain('"9007199254740993"');
  } finally {
    await inWorker.release();
    await inProcess.release();
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('a run failing inside onnxruntime', () => {
  // A real graph whose inputs have dynamic trailing dims: the server's validation (against the graph)
  // admits a:[1,3] with b:[1,4], and onnxruntime's Add then fails on the broadcast.
  let dir: string;
  let modelPath: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tinysaver-worker-'));
    modelPath = path.join(dir, 'add.onnx');
    const bytes = onnxModel({
      nodes: [{ op: 'Add', inputs: ['a', 'b'], outputs: ['sum'] }],
      inputs: [
        { name: 'a', dims: ['N', 'K'] },
        { name: 'b', dims: ['N', 'L'] },
      ],
      outputs: [{ name: 'sum', dims: ['N', 'K'] }],
    });
    writeFileSync(modelPath, bytes);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test.each(THREADS)('on the %s thread: 500 naming the problem, then the server keeps serving', async (thread) => {
    const server = await startModelServer({ modelPath, name: 'add', port: 0, inferenceThread: thread, maxQueueDelayMs: 0 });
    try {
      const body = (k: number, l: number): string =>
        JSON.stringify({
          inputs: [
            { name: 'a', datatype: 'FP32', shape: [1, k], data: Array.from({ length: k }, (_, i) => i) },
            { name: 'b', datatype: 'FP32', shape: [1, l], data: Array.from({ length: l }, () => 10) },
          ],
        });
      const bad = await rawRequest(server.url, 'POST', '/v2/models/add/infer', body(3, 4), { 'Content-Type': 'application/json' });
      expect(bad.status).toBe(500);
      expect(bad.json().error).toMatch(/^inference failed: .*Add.*(broadcast|dimension)/i);
      const good = await rawRequest(server.url, 'POST', '/v2/models/add/infer', body(3, 3), { 'Content-Type': 'application/json' });
      expect(good.status).toBe(200);
      expect((good.json().outputs as { data: number[] }[])[0].data).toEqual([10, 11, 12]);
    } finally {
      await server.close();
    }
  });
});

test('the default inference thread is the worker on a machine with more than one core', () => {
  expect(defaultInferenceThread(1)).toBe('main');
  expect(defaultInferenceThread(2)).toBe('worker');
});
