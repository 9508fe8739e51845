// The router with the saver run in its own process (`route --saver-onnx`): the same cascade as the
// sidecar layout (checked row by row against the saver and base model servers), the model server's
// own input checks, coalescing, readiness without a saver URL, and the CLI's flag checks.

import { parseRoutes, parseConfidence } from '../../runtime/router/row-params.js';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zooModelPath } from '../../models/zoo.js';
import { rowConfidence } from '../../core/cascade/confidence.js';
import { V2Client } from '../../runtime/oip/client.js';
import type { InferResponse } from '../../runtime/oip/types.js';
import { startRouter, type RunningRouter } from '../../runtime/router/server.js';
import type { RunningModelServer } from '../../runtime/server/model-server.js';
import {
  BASE,
  QUIET_LOG,
  SAVER,
  imageBatch,
  metricsText,
  rawRequest,
  rowOf,
  sample,
  startZooServer,
  testImages,
} from './router-helpers.js';

const BIN = fileURLToPath(new URL('../../bin/tinysaver.js', import.meta.url));
const run = promisify(execFile);

let saver: RunningModelServer; // the same model over HTTP: what the in-process saver must reproduce
let base: RunningModelServer;
let images: Float32Array;
const routers: RunningRouter[] = [];
const clients: V2Client[] = [];

function client(url: string): V2Client {
  const c = new V2Client(url);
  clients.push(c);
  return c;
}

async function router(over: Parameters<typeof startRouter>[0] = {}): Promise<{ r: RunningRouter; c: V2Client }> {
  const r = await startRouter({
    port: 0,
    saverOnnx: zooModelPath(SAVER),
    saverModel: SAVER,
    // nothing listens here: the in-process router must never call it
    saverUrl: 'http://127.0.0.1:9',
    baseUrl: base.url,
    baseModel: BASE,
    ...QUIET_LOG,
    ...over,
  });
  routers.push(r);
  return { r, c: client(r.url) };
}

beforeAll(async () => {
  [saver, base] = await Promise.all([startZooServer(SAVER), startZooServer(BASE)]);
  images = (await testImages(600)).images;
});

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all(routers.map((r) => r.close()));
  await Promise.all([saver?.close(), base?.close()]);
});

describe('router with the saver in-process', () => {
  it('gives the sidecar cascade: confident rows from the saver, the rest from the base, row by row', async () => {
    const t = 0.9;
    const { c } = await router({ threshold: t, auditRate: 0 });
    const req = imageBatch(images, 64, 100);
    const res = await c.infer('cascade', req);
    const s = await client(saver.url).infer(SAVER, req);
    const sc = rowConfidence(s.outputs[0].data as Float32Array, 64, 10);
    const routes = parseRoutes(res.parameters);
    expect(routes).toEqual(Array.from(sc.confidence, (x) => (x >= t ? 'saver' : 'base')));
    expect(routes.filter((x) => x === 'saver').length).toBeGreaterThan(5);
    expect(routes.filter((x) => x === 'base').length).toBeGreaterThan(5);
    const escalated = routes.flatMap((r, i) => (r === 'base' ? [100 + i] : []));
    const b = await client(base.url).infer(BASE, imageBatch(images, escalated));
    let j = 0;
    for (let i = 0; i < 64; i++) {
      if (routes[i] === 'saver') expect(rowOf(res.outputs[0], i)).toEqual(rowOf(s.outputs[0], i));
      else expect(rowOf(res.outputs[0], i)).toEqual(rowOf(b.outputs[0], j++));
    }
  });

  it('serves the saver metadata under the cascade name and is ready without any saver server', async () => {
    const { r, c } = await router();
    const meta = (await rawRequest(r.url, 'GET', '/v2/models/cascade')).json();
    expect(meta.name).toBe('cascade');
    expect(meta.inputs).toEqual(saver.metadata.inputs);
    expect(meta.parameters.tinysaver_saver_model).toBe(SAVER);
    expect((await rawRequest(r.url, 'GET', '/v2/health/ready')).status).toBe(200);
    expect(await c.ready('cascade')).toBe(true);
  });

  it('answers bad input with the model server checks (400 naming the problem) and keeps serving', async () => {
    const { r, c } = await router({ auditRate: 0 });
    const pixels = (n: number, v: number | string = 0) => new Array(n).fill(v);
    const post = (inputs: unknown, outputs?: unknown) =>
      rawRequest(r.url, 'POST', '/v2/models/cascade/infer', JSON.stringify({ inputs, outputs }), { 'Content-Type': 'application/json' });
    const cases: Array<[string, unknown, RegExp]> = [
      [
        'wrong datatype',
        [{ name: 'input', datatype: 'INT32', shape: [1, 1, 28, 28], data: pixels(784) }],
        /datatype INT32, model expects FP32/,
      ],
      ['wrong shape', [{ name: 'input', datatype: 'FP32', shape: [1, 784], data: pixels(784) }], /rank 2, model expects rank 4/],
      ['element count', [{ name: 'input', datatype: 'FP32', shape: [1, 1, 28, 28], data: pixels(700) }], /700/],
      ['unknown input', [{ name: 'pixels', datatype: 'FP32', shape: [1, 1, 28, 28], data: pixels(784) }], /unknown input 'pixels'/],
      ['NaN', [{ name: 'input', datatype: 'FP32', shape: [1, 1, 28, 28], data: pixels(784, 'NaN') }], /NaN/],
    ];
    for (const [what, inputs, msg] of cases) {
      const res = await post(inputs);
      expect(res.status, what).toBe(400);
      expect(res.json().error, what).toMatch(msg);
      const ok = await c.infer('cascade', imageBatch(images, 2));
      expect(ok.outputs[0].shape, `still serving after ${what}`).toEqual([2, 10]);
    }
  });

  it('coalesces concurrent requests into shared saver runs; each gets its own rows, a bad one fails alone', async () => {
    const t = 0.9;
    const { r, c } = await router({ threshold: t, auditRate: 0, maxSaverCalls: 1, maxCoalesceRows: 64 });
    const sizes = Array.from({ length: 30 }, (_, i) => 1 + (i % 4));
    const starts = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
    const bad = 11;
    const reqs = sizes.map((n, i) => {
      const req = imageBatch(images, n, 300 + starts[i]);
      if (i === bad) (req.inputs[0].data as Float32Array)[5] = Number.POSITIVE_INFINITY;
      return { ...req, id: `r${i}` };
    });
    const replies = await Promise.allSettled(reqs.map((req) => c.infer('cascade', req)));
    const saverRuns = sample(await metricsText(r.url), 'tinysaver_request_duration_seconds_count', { stage: 'saver' });
    expect(saverRuns).toBeLessThan(reqs.length);
    const direct = client(saver.url);
    for (let i = 0; i < reqs.length; i++) {
      const rep = replies[i];
      if (i === bad) {
        expect(rep.status).toBe('rejected');
        expect(String((rep as PromiseRejectedResult).reason.message)).toMatch(/Infinity|NaN\/Inf/);
        continue;
      }
      expect(rep.status, `request ${i}`).toBe('fulfilled');
      const res = (rep as PromiseFulfilledResult<InferResponse>).value;
      expect(res.id).toBe(`r${i}`);
      const s = await direct.infer(SAVER, reqs[i]);
      const sc = rowConfidence(s.outputs[0].data as Float32Array, sizes[i], 10).confidence;
      const conf = parseConfidence(res.parameters);
      for (let k = 0; k < sizes[i]; k++) {
        expect(conf[k]).toBeCloseTo(sc[k], 4);
        if (conf[k] >= t) rowOf(res.outputs[0], k).forEach((v, j) => expect(v).toBeCloseTo(rowOf(s.outputs[0], k)[j], 5));
      }
    }
  });

  it('a missing model file is a startup error naming it', async () => {
    await expect(router({ saverOnnx: '/nonexistent/saver.onnx' })).rejects.toThrow(/model file not found: \/nonexistent\/saver\.onnx/);
  });
});

describe('tinysaver route --saver-onnx (CLI)', () => {
  it('refuses --saver-url together with --saver-onnx, naming both', async () => {
    const r = (await run(process.execPath, [BIN, 'route', '--saver-onnx', zooModelPath(SAVER), '--saver-url', saver.url]).catch(
      (e) => e,
    )) as {
      code?: number;
      stderr: string;
    };
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--saver-url and --saver-onnx exclude each other/);
  });

  it('lists the flag in --help', async () => {
    const { stdout } = await run(process.execPath, [BIN, 'route', '--help']);
    expect(stdout).toMatch(/--saver-onnx PATH\s+run the saver in the router process/);
    expect(stdout).toMatch(/--saver-url URL\s+v2 endpoint of the saver model server \(default: http:\/\/127\.0\.0\.1:8001/);
  });
});
