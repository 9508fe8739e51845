// The v2 model server with real onnxruntime sessions on the committed models, over real HTTP on
// 127.0.0.1 (free ports).

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeInferRequest, encodeInferRequest, parseHeaderLength } from '../../runtime/oip/codec.js';
import { readBody } from '../../runtime/oip/http.js';
import { V2Client } from '../../runtime/oip/client.js';
import { OipError, type InferRequest } from '../../runtime/oip/types.js';
import { loadOnnxModel, type OnnxModel } from '../../runtime/onnx/session.js';
import { startModelServer, type RunningModelServer } from '../../runtime/server/model-server.js';
import { counterValue, histogramTotals, images, queuedRows, rawRequest, waitFor, zooPaths } from './server-helpers.js';

const paths = zooPaths();
let reference: OnnxModel;

beforeAll(async () => {
  reference = await loadOnnxModel(paths.saver);
});
afterAll(async () => {
  await reference?.release();
});

function request(rows: number, seed: number, id?: string): InferRequest {
  return {
    ...(id ? { id } : {}),
    inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, 1, 28, 28], data: images(rows, seed) }],
  };
}

async function expected(rows: number, seed: number): Promise<Float32Array> {
  const out = await reference.run({ input: { datatype: 'FP32', shape: [rows, 1, 28, 28], data: images(rows, seed) } });
  return out.logits.data as Float32Array;
}

function expectClose(actual: ArrayLike<number>, want: ArrayLike<number>): void {
  expect(actual.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(actual[i] - want[i]));
  expect(worst).toBeLessThan(1e-4);
}

describe('model server: metadata, health, inference', () => {
  let server: RunningModelServer;
  let client: V2Client;
  beforeAll(async () => {
    server = await startModelServer({ modelPath: paths.saver, name: 'saver', port: 0, maxQueueDelayMs: 1 });
    client = new V2Client(server.url);
  });
  afterAll(async () => {
    client?.close();
    await server?.close();
  });

  test('health and readiness', async () => {
    expect((await rawRequest(server.url, 'GET', '/v2/health/live')).status).toBe(200);
    expect((await rawRequest(server.url, 'GET', '/v2/health/ready')).status).toBe(200);
    expect(await client.ready()).toBe(true);
    expect(await client.ready('saver')).toBe(true);
    expect(await client.ready('nope')).toBe(false);
  });

  test('metadata comes from the ONNX graph (dynamic batch dim as -1)', async () => {
    const md = await client.metadata('saver');
    expect(md).toEqual({
      name: 'saver',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 1, 28, 28] }],
      outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 10] }],
    });
    expect(md.inputs).toEqual(reference.inputs);
    const versioned = await rawRequest(server.url, 'GET', '/v2/models/saver/versions/1');
    expect(versioned.json()).toEqual(md);
  });

  test('JSON and binary inference equal the in-process session.run output', async () => {
    const want = await expected(5, 7);
    const viaJson = await client.infer('saver', request(5, 7, 'j1'), { binary: false });
    const viaBinary = await client.infer('saver', request(5, 7, 'b1'), { binary: true });
    for (const res of [viaJson, viaBinary]) {
      expect(res.model_name).toBe('saver');
      expect(res.outputs[0]).toMatchObject({ name: 'logits', datatype: 'FP32', shape: [5, 10] });
      expectClose(res.outputs[0].data as Float32Array, want);
    }
    expect([viaJson.id, viaBinary.id]).toEqual(['j1', 'b1']);
  });

  test('response format follows binary_data_output; versioned infer path works', async () => {
    const json = encodeInferRequest(request(1, 3));
    const r1 = await rawRequest(server.url, 'POST', '/v2/models/saver/versions/1/infer', json.body, json.headers);
    expect(r1.status).toBe(200);
    expect(r1.headers['content-type']).toBe('application/json');
    expect(r1.json().outputs).toHaveLength(1);
    const bin = encodeInferRequest(request(1, 3), { binaryInputs: true, binaryOutputs: true });
    const r2 = await rawRequest(server.url, 'POST', '/v2/models/saver/infer', bin.body, bin.headers);
    expect(r2.status).toBe(200);
    const hl = Number(r2.headers['inference-header-content-length']);
    expect(r2.body.length - hl).toBe(40); // 10 FP32 logits
  });

  test('metrics endpoint exposes the server metrics', async () => {
    const text = (await rawRequest(server.url, 'GET', '/metrics')).body.toString();
    for (const name of [
      'tinysaver_server_requests_total',
      'tinysaver_server_batch_size_bucket',
      'tinysaver_server_batch_requests_bucket',
      'tinysaver_server_inference_duration_seconds_bucket',
      'tinysaver_server_queue_rows',
    ]) {
      expect(text).toContain(name);
    }
    expect(counterValue(text, 'tinysaver_server_requests_total', 'code="200"')).toBeGreaterThanOrEqual(4);
  });

  test('the base model is served too (metadata from its graph)', async () => {
    const base = await startModelServer({ modelPath: paths.base, port: 0 });
    try {
      const c = new V2Client(base.url);
      const md = await c.metadata(base.name);
      expect(md.inputs[0]).toMatchObject({ name: 'input', datatype: 'FP32', shape: [-1, 1, 28, 28] });
      expect(md.outputs[0]).toMatchObject({ name: 'logits', shape: [-1, 10] });
      const res = await c.infer(base.name, request(2, 1));
      expect(res.outputs[0].shape).toEqual([2, 10]);
      c.close();
    } finally {
      await base.close();
    }
  });
});

describe('readBody over real HTTP', () => {
  test('binary tensors decode as views of the body buffer (aligned, no copy), whatever the header length', async () => {
    const seen: boolean[] = [];
    const srv = http.createServer((req, res) => {
      readBody(req, 1 << 20)
        .then((body) => {
          const r = decodeInferRequest(body, parseHeaderLength(req.headers['inference-header-content-length']));
          seen.push((r.inputs[0].data as Float64Array).buffer === body.buffer);
        })
        .catch(() => seen.push(false))
        .finally(() => res.end());
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    try {
      for (const id of ['a', 'ab', 'abc', 'abcd', 'abcde']) {
        // ids of different lengths shift where the binary part starts
        const enc = encodeInferRequest(
          { id, inputs: [{ name: 'x', datatype: 'FP64', shape: [4096], data: new Float64Array(4096) }] },
          { binaryInputs: true },
        );
        await rawRequest(url, 'POST', '/', enc.body, enc.headers);
        await rawRequest(url, 'POST', '/', enc.body, enc.headers, true); // chunked
      }
      expect(seen).toEqual(new Array(10).fill(true));
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });
});

describe('dynamic batching', () => {
  test('concurrent requests are merged into shared runs, and each gets its own rows back', async () => {
    // A fixed 200 ms window (waitWhenIdle): with inference off the main thread a tiny model's run can
    // finish before the next request is parsed, so without it whether requests meet is up to timing.
    const server = await startModelServer({ modelPath: paths.saver, port: 0, maxBatchSize: 64, maxQueueDelayMs: 200, waitWhenIdle: true });
    const client = new V2Client(server.url, { maxSockets: 32 });
    try {
      const n = 16;
      const replies = await Promise.all(
        Array.from({ length: n }, (_, k) => client.infer(server.name, request(1 + (k % 3), 100 + k, `r${k}`), { binary: k % 2 === 0 })),
      );
      for (let k = 0; k < n; k++) {
        expect(replies[k].id).toBe(`r${k}`);
        expect(replies[k].outputs[0].shape).toEqual([1 + (k % 3), 10]);
        expectClose(replies[k].outputs[0].data as Float32Array, await expected(1 + (k % 3), 100 + k));
      }
      const text = (await rawRequest(server.url, 'GET', '/metrics')).body.toString();
      const reqs = histogramTotals(text, 'tinysaver_server_batch_requests');
      const rows = histogramTotals(text, 'tinysaver_server_batch_size');
      expect(reqs.sum).toBe(n); // every request ran exactly once
      expect(rows.sum).toBe(Array.from({ length: n }, (_, k) => 1 + (k % 3)).reduce((a, b) => a + b, 0));
      expect(reqs.count).toBeLessThan(n); // fewer runs than requests: some were merged
    } finally {
      client.close();
      await server.close();
    }
  });
});

describe('bad input: 4xx naming the problem, server keeps serving', () => {
  let server: RunningModelServer;
  const post = (body: Buffer | string, headers: Record<string, string> = {}, path = `/v2/models/saver/infer`, chunked = false) =>
    rawRequest(server.url, 'POST', path, body, headers, chunked);
  beforeAll(async () => {
    server = await startModelServer({ modelPath: paths.saver, name: 'saver', port: 0, maxBodyBytes: 64 * 1024, maxQueueDelayMs: 0 });
  });
  afterAll(async () => {
    await server?.close();
  });

  const tensor = (over: Record<string, unknown>) =>
    JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 1, 28, 28], data: Array.from(images(1, 1)), ...over }] });

  const cases: [string, () => Promise<{ status: number; json(): { error?: string } }>, number, RegExp][] = [
    ['malformed JSON', () => post('{"inputs": [{"name": "input",'), 400, /malformed JSON/],
    [
      'wrong datatype',
      () => post(tensor({ datatype: 'INT32', data: new Array(784).fill(1) })),
      400,
      /input 'input': datatype INT32, model expects FP32/,
    ],
    ['unknown datatype', () => post(tensor({ datatype: 'FLOAT' })), 400, /tensor 'input': unknown datatype "FLOAT"/],
    [
      'wrong shape',
      () => post(tensor({ shape: [1, 28, 28, 1] })),
      400,
      /input 'input': shape \[1,28,28,1\] has 28 at dimension 1, model expects \[-1,1,28,28\]/,
    ],
    ['wrong rank', () => post(tensor({ shape: [1, 784] })), 400, /has rank 2, model expects rank 4/],
    [
      'element count mismatch',
      () => post(tensor({ shape: [2, 1, 28, 28] })),
      400,
      /tensor 'input': shape \[2,1,28,28\] needs 1568 elements, data has 784/,
    ],
    [
      'non-numeric element',
      () => post(tensor({ data: ['x', ...new Array(783).fill(0)] })),
      400,
      /tensor 'input': element 0 "x" is not a number/,
    ],
    ['NaN element', () => post(tensor({ data: [0, 0, 'NaN', ...new Array(781).fill(0)] })), 400, /input 'input': element 2 is NaN/],
    ['unknown input name', () => post(tensor({ name: 'pixels' })), 400, /unknown input 'pixels'/],
    [
      'truncated binary payload',
      () => {
        const enc = encodeInferRequest(request(1, 1), { binaryInputs: true });
        return post(enc.body.subarray(0, enc.body.length - 100), enc.headers);
      },
      400,
      /tensor 'input': binary payload truncated: needs 3136 bytes/,
    ],
    [
      'binary NaN',
      () => {
        const req = request(1, 1);
        (req.inputs[0].data as Float32Array)[10] = NaN;
        const enc = encodeInferRequest(req, { binaryInputs: true });
        return post(enc.body, enc.headers);
      },
      400,
      /element 10 is NaN/,
    ],
    ['bad header length', () => post('{}', { 'Inference-Header-Content-Length': 'abc' }), 400, /Inference-Header-Content-Length "abc"/],
    ['oversized body (Content-Length)', () => post(Buffer.alloc(200 * 1024, 32)), 413, /exceeds the limit of 65536 bytes/],
    ['oversized body (chunked)', () => post(Buffer.alloc(200 * 1024, 32), {}, undefined, true), 413, /exceeds the limit of 65536 bytes/],
    ['unknown model', () => post(tensor({}), {}, '/v2/models/nope/infer'), 404, /unknown model 'nope'/],
    ['unknown version', () => post(tensor({}), {}, '/v2/models/saver/versions/9/infer'), 404, /unknown version '9'/],
    ['unknown endpoint', () => rawRequest(server.url, 'GET', '/v3/whatever'), 404, /no such endpoint/],
    ['wrong method', () => rawRequest(server.url, 'GET', '/v2/models/saver/infer'), 405, /GET not allowed/],
  ];

  test.each(cases)('%s', async (_name, send, status, pattern) => {
    const reply = await send();
    expect(reply.status).toBe(status);
    expect(reply.json().error).toMatch(pattern);
    // still serving, and correctly
    const ok = await post(encodeInferRequest(request(1, 2)).body);
    expect(ok.status).toBe(200);
  });

  test('oversized body through the keep-alive client: 413 reaches the caller, the client keeps working', async () => {
    const c = new V2Client(server.url);
    try {
      for (const binary of [true, false]) {
        await expect(c.infer('saver', request(200, 1), { binary })).rejects.toMatchObject({
          status: 413,
          message: expect.stringMatching(/exceeds the limit of 65536 bytes/),
        });
      }
      expect((await c.infer('saver', request(1, 1))).outputs[0].shape).toEqual([1, 10]);
    } finally {
      c.close();
    }
  });

  test('unknown model metadata is 404', async () => {
    const c = new V2Client(server.url);
    await expect(c.metadata('nope')).rejects.toMatchObject({ status: 404, message: expect.stringMatching(/unknown model 'nope'/) });
    c.close();
  });

  test('NaN is accepted with allowNonFinite', async () => {
    const lenient = await startModelServer({ modelPath: paths.saver, port: 0, allowNonFinite: true });
    try {
      const req = request(1, 1);
      (req.inputs[0].data as Float32Array)[0] = NaN;
      const enc = encodeInferRequest(req);
      expect((await rawRequest(lenient.url, 'POST', `/v2/models/${lenient.name}/infer`, enc.body, enc.headers)).status).toBe(200);
    } finally {
      await lenient.close();
    }
  });
});

describe('overload and shutdown', () => {
  test('a full queue answers 429 at once; queued requests still complete; then it serves again', async () => {
    // The batch waits up to 1.5 s to fill; 8 queued rows is the limit: two 4-row requests fill it.
    // waitWhenIdle: even the first request waits out the delay (a fixed window), so requests stay queued.
    const server = await startModelServer({
      modelPath: paths.saver,
      port: 0,
      maxBatchSize: 64,
      maxQueueDelayMs: 1500,
      maxQueueRows: 8,
      waitWhenIdle: true,
    });
    const client = new V2Client(server.url, { maxSockets: 16 });
    try {
      const results = await Promise.allSettled(Array.from({ length: 6 }, (_, k) => client.infer(server.name, request(4, k))));
      const ok = results.filter((r) => r.status === 'fulfilled');
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(ok).toHaveLength(2);
      expect(refused).toHaveLength(4);
      for (const r of refused) {
        expect(r.reason).toBeInstanceOf(OipError);
        expect(r.reason).toMatchObject({
          status: 429,
          message: expect.stringMatching(/server overloaded: 8 rows already queued \(limit 8\)/),
        });
      }
      const text = (await rawRequest(server.url, 'GET', '/metrics')).body.toString();
      expect(counterValue(text, 'tinysaver_server_rejected_total', 'reason="overload"')).toBe(4);
      const too = await client.infer(server.name, request(9, 1)).catch((e: OipError) => e);
      expect(too).toMatchObject({ status: 400, message: expect.stringMatching(/--max-queue-rows/) });
      const again = await client.infer(server.name, request(4, 9));
      expectClose(again.outputs[0].data as Float32Array, await expected(4, 9));
    } finally {
      client.close();
      await server.close();
    }
  });

  test('request bytes in flight are capped across requests (429), then it serves again', async () => {
    // one binary 1-row request is ~3.3 kB; 8000 bytes admit two while the batch waits to fill
    const server = await startModelServer({
      modelPath: paths.saver,
      port: 0,
      maxQueueDelayMs: 1500,
      maxInflightBytes: 8000,
      waitWhenIdle: true,
    });
    const client = new V2Client(server.url, { maxSockets: 16 });
    try {
      const results = await Promise.allSettled(Array.from({ length: 5 }, (_, k) => client.infer(server.name, request(1, k))));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
      for (const r of results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')) {
        expect(r.reason).toMatchObject({ status: 429, message: expect.stringMatching(/request bytes in flight \(limit 8000\)/) });
      }
      expect((await client.infer(server.name, request(1, 1))).outputs[0].shape).toEqual([1, 10]);
    } finally {
      client.close();
      await server.close();
    }
  });

  test('close() drains in-flight requests, then refuses connections', async () => {
    const server = await startModelServer({ modelPath: paths.saver, port: 0, maxQueueDelayMs: 1000, waitWhenIdle: true });
    const client = new V2Client(server.url);
    const pending = client.infer(server.name, request(2, 5));
    await waitFor(async () => (await queuedRows(server.url)) === 2, 'the request to be queued');
    const closing = server.close();
    const res = await pending;
    expectClose(res.outputs[0].data as Float32Array, await expected(2, 5));
    await closing;
    await expect(client.infer(server.name, request(1, 1))).rejects.toMatchObject({
      status: 503,
      message: expect.stringMatching(/unreachable/),
    });
    client.close();
  });

  test('client timeout is a 504', async () => {
    const server = await startModelServer({ modelPath: paths.saver, port: 0, maxQueueDelayMs: 1000, waitWhenIdle: true });
    const client = new V2Client(server.url);
    try {
      await expect(client.infer(server.name, request(1, 1), { timeoutMs: 50 })).rejects.toMatchObject({ status: 504 });
    } finally {
      client.close();
      await server.close();
    }
  });

  test('--provider cuda fails with a clear message on a CPU-only onnxruntime', async () => {
    await expect(loadOnnxModel(paths.saver, { provider: 'cuda' })).rejects.toThrow(
      /CUDA execution provider (not available|could not be started).*--provider cpu/,
    );
  });
});
