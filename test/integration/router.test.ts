// The cascade router against real model servers (real onnxruntime sessions on the committed models)
// on 127.0.0.1: row-by-row merge, JSON and binary, threshold hot reload, audit rate, metrics, bad input.

import { parseRoutes, parseConfidence } from '../../runtime/router/row-params.js';
import { mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIDENCE_BUCKETS } from '../../core/cascade/buckets.js';
import { rowConfidence } from '../../core/cascade/confidence.js';
import { V2Client } from '../../runtime/oip/client.js';
import { encodeInferRequest } from '../../runtime/oip/codec.js';
import type { InferResponse } from '../../runtime/oip/types.js';
import { startRouter, type RunningRouter } from '../../runtime/router/server.js';
import type { RunningModelServer } from '../../runtime/server/model-server.js';
import { parseRouterMetrics } from '../../operator/telemetry/router-metrics.js';
import {
  BASE,
  QUIET_LOG,
  SAVER,
  eventually,
  imageBatch,
  metricsText,
  rawRequest,
  rowOf,
  sample,
  startZooServer,
  testImages,
} from './router-helpers.js';

let saver: RunningModelServer;
let base: RunningModelServer;
let images: Float32Array;
const routers: RunningRouter[] = [];
const clients: V2Client[] = [];

async function router(over: Parameters<typeof startRouter>[0] = {}): Promise<{ r: RunningRouter; c: V2Client }> {
  const r = await startRouter({
    port: 0,
    saverUrl: saver.url,
    saverModel: SAVER,
    baseUrl: base.url,
    baseModel: BASE,
    ...QUIET_LOG,
    ...over,
  });
  routers.push(r);
  const c = new V2Client(r.url);
  clients.push(c);
  return { r, c };
}

beforeAll(async () => {
  [saver, base] = await Promise.all([startZooServer(SAVER), startZooServer(BASE)]);
  images = (await testImages(1200)).images;
});

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all(routers.map((r) => r.close()));
  await Promise.all([saver?.close(), base?.close()]);
});

describe('cascade merge', () => {
  it('answers confident rows with the saver and the others with the base, row by row, in order', async () => {
    const t = 0.9;
    const { c } = await router({ threshold: t, auditRate: 0 });
    const direct = new V2Client(saver.url);
    const directBase = new V2Client(base.url);
    clients.push(direct, directBase);
    const req = imageBatch(images, 64);
    const res = await c.infer('cascade', req);
    const s = await direct.infer(SAVER, req);

    const sc = rowConfidence(s.outputs[0].data as Float32Array, 64, 10);
    const expectedRoutes = Array.from(sc.confidence, (x) => (x >= t ? 'saver' : 'base'));
    const routes = parseRoutes(res.parameters);
    expect(routes).toEqual(expectedRoutes);
    // both routes present, or the test proves nothing
    expect(routes.filter((x) => x === 'saver').length).toBeGreaterThan(5);
    expect(routes.filter((x) => x === 'base').length).toBeGreaterThan(5);
    const conf = parseConfidence(res.parameters);
    conf.forEach((x, i) => expect(x).toBeCloseTo(sc.confidence[i], 5));

    const escalated = expectedRoutes.flatMap((r, i) => (r === 'base' ? [i] : []));
    const b = await directBase.infer(BASE, imageBatch(images, escalated));
    const out = res.outputs[0];
    expect(out.name).toBe('logits');
    expect(out.shape).toEqual([64, 10]);
    let j = 0;
    for (let i = 0; i < 64; i++) {
      if (routes[i] === 'saver') expect(rowOf(out, i)).toEqual(rowOf(s.outputs[0], i));
      else expect(rowOf(out, i)).toEqual(rowOf(b.outputs[0], j++));
    }
  });

  it('routes by the margin measure when asked (--confidence margin)', async () => {
    const t = 0.8;
    const { c } = await router({ threshold: t, auditRate: 0, confidence: 'margin' });
    const direct = new V2Client(saver.url);
    clients.push(direct);
    const req = imageBatch(images, 64, 500);
    const res = await c.infer('cascade', req);
    const s = await direct.infer(SAVER, req);
    const margin = rowConfidence(s.outputs[0].data as Float32Array, 64, 10, 'margin').confidence;
    const maxProb = rowConfidence(s.outputs[0].data as Float32Array, 64, 10, 'max-prob').confidence;
    expect(parseRoutes(res.parameters)).toEqual(Array.from(margin, (x) => (x >= t ? 'saver' : 'base')));
    // the measures disagree on some rows here, so this does tell margin from max-prob
    expect(Array.from(margin, (x, i) => x >= t !== maxProb[i] >= t).some(Boolean)).toBe(true);
  });

  it('speaks JSON to JSON clients and binary to binary clients', async () => {
    const { r } = await router({ threshold: 0.5, auditRate: 0 });
    const req = imageBatch(images, 3, 100);
    const jsonBody = encodeInferRequest(req);
    const j = await rawRequest(r.url, 'POST', '/v2/models/cascade/infer', jsonBody.body, jsonBody.headers);
    expect(j.status).toBe(200);
    expect(j.headers['content-type']).toBe('application/json');
    const body = j.json() as InferResponse & { outputs: Array<{ data: number[] }> };
    expect(body.model_name).toBe('cascade');
    expect(body.outputs[0].data).toHaveLength(30);
    expect(parseRoutes(body.parameters)).toHaveLength(3);

    const bin = encodeInferRequest(req, { binaryInputs: true, binaryOutputs: true });
    const b = await rawRequest(r.url, 'POST', '/v2/models/cascade/infer', bin.body, bin.headers);
    expect(b.status).toBe(200);
    expect(b.headers['inference-header-content-length']).toBeDefined();
    expect(b.body.length - Number(b.headers['inference-header-content-length'])).toBe(30 * 4);
  });

  it('serves metadata under the cascade name mirroring the saver, and health endpoints', async () => {
    const { r } = await router();
    const m = await rawRequest(r.url, 'GET', '/v2/models/cascade');
    expect(m.status).toBe(200);
    expect(m.json()).toMatchObject({
      name: 'cascade',
      inputs: saver.metadata.inputs,
      outputs: saver.metadata.outputs,
      parameters: { tinysaver_saver_model: SAVER, tinysaver_base_model: BASE },
    });
    expect((await rawRequest(r.url, 'GET', '/v2/health/live')).status).toBe(200);
    expect((await rawRequest(r.url, 'GET', '/v2/health/ready')).status).toBe(200);
    expect((await rawRequest(r.url, 'GET', '/v2/models/cascade/ready')).status).toBe(200);
  });
});

describe('threshold hot reload', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tinysaver-router-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('follows the mounted file without restart, keeps the last good value on bad content', async () => {
    // ConfigMap layout: threshold.json -> ..data/threshold.json, ..data -> ..vN (swapped atomically)
    const write = (version: string, text: string) => {
      mkdirSync(join(dir, version));
      writeFileSync(join(dir, version, 'threshold.json'), text);
      symlinkSync(version, join(dir, '..tmp'));
      renameSync(join(dir, '..tmp'), join(dir, '..data'));
    };
    write('..v1', '{"threshold": 0, "auditRate": 0}');
    symlinkSync(join('..data', 'threshold.json'), join(dir, 'threshold.json'));
    const { r, c } = await router({ thresholdFile: join(dir, 'threshold.json'), reloadIntervalMs: 50, threshold: 0.5 });
    const req = imageBatch(images, 32, 200);
    const routesNow = async () => parseRoutes((await c.infer('cascade', req)).parameters);
    expect(await routesNow()).toEqual(new Array(32).fill('saver'));
    expect(sample(await metricsText(r.url), 'tinysaver_threshold')).toBe(0);

    write('..v2', '{"threshold": 0.999, "auditRate": 0.25}');
    expect(await eventually(async () => (await routesNow()).filter((x) => x === 'base').length > 16)).toBe(true);
    let text = await metricsText(r.url);
    expect(sample(text, 'tinysaver_threshold')).toBe(0.999);
    expect(sample(text, 'tinysaver_audit_rate')).toBe(0.25);

    write('..v3', 'not a threshold');
    await r.reloadThreshold();
    expect(sample(await metricsText(r.url), 'tinysaver_threshold_reload_errors_total')).toBe(1);
    await r.reloadThreshold(); // the same bad content is counted once
    text = await metricsText(r.url);
    expect(sample(text, 'tinysaver_threshold_reload_errors_total')).toBe(1);
    expect(sample(text, 'tinysaver_threshold')).toBe(0.999);
    expect((await c.infer('cascade', req)).parameters?.tinysaver_threshold).toBe(0.999);

    write('..v4', '0.25');
    expect(await eventually(async () => (await c.infer('cascade', req)).parameters?.tinysaver_threshold === 0.25)).toBe(true);
    // a bare number leaves the audit rate to the --audit-rate flag (default 0.02)
    expect(sample(await metricsText(r.url), 'tinysaver_audit_rate')).toBe(0.02);
  });
});

describe('audits and metrics', () => {
  it('audits saver-answered rows at the configured rate (seeded) and exposes the contract metrics', async () => {
    const rate = 0.2;
    const { r, c } = await router({ threshold: 0, auditRate: rate, seed: 7, auditConcurrency: 64 });
    const rows = 1000;
    for (let off = 0; off < rows; off += 50) {
      await c.infer('cascade', imageBatch(images, 50, off));
      await r.auditsIdle();
    }
    await r.auditsIdle();
    const text = await metricsText(r.url);
    const audited =
      sample(text, 'tinysaver_audit_confidence_count', { agree: 'true' }) +
      sample(text, 'tinysaver_audit_confidence_count', { agree: 'false' });
    const dropped = sample(text, 'tinysaver_audit_dropped_total');
    expect(dropped).toBe(0);
    // Binomial(1000, 0.2): 99.9% two-sided interval is mean +- 3.29 sd = 200 +- 41.6
    expect(audited).toBeGreaterThanOrEqual(159);
    expect(audited).toBeLessThanOrEqual(241);
    // the linear saver disagrees with the CNN on some confident rows: both label values occur
    expect(sample(text, 'tinysaver_audit_confidence_count', { agree: 'true' })).toBeGreaterThan(0);

    // Contract names (DESIGN.md "Metrics"), exposition types and the shared bucket grid.
    for (const [name, type] of [
      ['tinysaver_requests_total', 'counter'],
      ['tinysaver_rows_total', 'counter'],
      ['tinysaver_confidence', 'histogram'],
      ['tinysaver_escalated_confidence', 'histogram'],
      ['tinysaver_audit_confidence', 'histogram'],
      ['tinysaver_audit_dropped_total', 'counter'],
      ['tinysaver_threshold', 'gauge'],
      ['tinysaver_request_duration_seconds', 'histogram'],
      ['tinysaver_audit_rate', 'gauge'],
      ['tinysaver_base_failures_total', 'counter'],
    ]) {
      expect(text, name).toMatch(new RegExp(`^# TYPE ${name} ${type}$`, 'm'));
    }
    const les = [...text.matchAll(/^tinysaver_confidence_bucket\{le="([^"]+)"\}/gm)].map((m) => m[1]);
    expect(les).toEqual([...CONFIDENCE_BUCKETS.map(String), '+Inf']);
    expect(sample(text, 'tinysaver_requests_total', { model: 'cascade' })).toBe(20);
    expect(sample(text, 'tinysaver_rows_total', { route: 'saver' })).toBe(rows);
    expect(sample(text, 'tinysaver_rows_total', { route: 'base' })).toBe(0);
    expect(sample(text, 'tinysaver_rows_total', { route: 'fallback' })).toBe(0);
    expect(sample(text, 'tinysaver_confidence_count')).toBe(rows);
    for (const stage of ['saver', 'base', 'total'])
      expect(sample(text, 'tinysaver_request_duration_seconds_count', { stage })).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'tinysaver_request_duration_seconds_count', { stage: 'total' })).toBe(20);

    // The operator's own parser (the threshold controller's input) reads the same numbers.
    const snap = parseRouterMetrics(text);
    expect(snap.counters.rowsSaver).toBe(rows);
    expect(snap.counters.all.reduce((a, b) => a + b, 0)).toBe(rows);
    expect(snap.counters.auditAgree.reduce((a, b) => a + b, 0) + snap.counters.auditDisagree.reduce((a, b) => a + b, 0)).toBe(audited);
    expect(snap.threshold).toBe(0);
    expect(snap.auditRate).toBe(rate);
  });

  it('drops and counts audits when no audit slot is free (never queues them)', async () => {
    const { r, c } = await router({ threshold: 0, auditRate: 1, auditConcurrency: 0 });
    await c.infer('cascade', imageBatch(images, 30));
    await r.auditsIdle();
    const text = await metricsText(r.url);
    expect(sample(text, 'tinysaver_audit_dropped_total')).toBe(30);
    expect(
      sample(text, 'tinysaver_audit_confidence_count', { agree: 'true' }) +
        sample(text, 'tinysaver_audit_confidence_count', { agree: 'false' }),
    ).toBe(0);
  });

  it('same seed, same traffic: the same audit sample', async () => {
    const counts: number[] = [];
    for (let k = 0; k < 2; k++) {
      const { r, c } = await router({ threshold: 0, auditRate: 0.1, seed: 99, auditConcurrency: 64 });
      for (let off = 0; off < 200; off += 50) {
        await c.infer('cascade', imageBatch(images, 50, off));
        await r.auditsIdle();
      }
      const text = await metricsText(r.url);
      counts.push(
        sample(text, 'tinysaver_audit_confidence_sum', { agree: 'true' }) +
          sample(text, 'tinysaver_audit_confidence_sum', { agree: 'false' }),
      );
    }
    expect(counts[0]).toBeGreaterThan(0);
    expect(counts[1]).toBe(counts[0]);
  });

  it('escalated rows feed the escalated-confidence histogram, split by agreement', async () => {
    const { r, c } = await router({ threshold: 1.0, auditRate: 0 });
    const res = await c.infer('cascade', imageBatch(images, 40, 300));
    const base = parseRoutes(res.parameters).filter((x) => x === 'base').length;
    expect(base).toBeGreaterThan(0);
    const text = await metricsText(r.url);
    const esc =
      sample(text, 'tinysaver_escalated_confidence_count', { agree: 'true' }) +
      sample(text, 'tinysaver_escalated_confidence_count', { agree: 'false' });
    expect(esc).toBe(base);
    expect(sample(text, 'tinysaver_rows_total', { route: 'base' })).toBe(base);
  });
});

describe('bad input', () => {
  it('answers 4xx naming the problem, and keeps serving', async () => {
    const { r, c } = await router({ maxBodyBytes: 200_000, auditRate: 0 });
    const good = imageBatch(images, 2);
    const post = (body: Buffer | string, headers: Record<string, string> = { 'Content-Type': 'application/json' }, model = 'cascade') =>
      rawRequest(r.url, 'POST', `/v2/models/${model}/infer`, body, headers);
    const json = (inputs: unknown) => JSON.stringify({ inputs });
    const pixels = (n: number, v: number | string = 0) => new Array(n).fill(v);
    const cases: Array<[string, Promise<{ status: number; json(): any }>, number, RegExp]> = [
      ['malformed JSON', post('{"inputs": ['), 400, /malformed JSON/],
      [
        'wrong datatype',
        post(json([{ name: 'input', datatype: 'INT32', shape: [1, 1, 28, 28], data: pixels(784) }])),
        400,
        /datatype|INT32/,
      ],
      ['wrong shape', post(json([{ name: 'input', datatype: 'FP32', shape: [1, 784], data: pixels(784) }])), 400, /shape/],
      ['element count', post(json([{ name: 'input', datatype: 'FP32', shape: [1, 1, 28, 28], data: pixels(700) }])), 400, /700|element/],
      [
        'NaN',
        post(json([{ name: 'input', datatype: 'FP32', shape: [1, 1, 28, 28], data: pixels(784, 'NaN') }])),
        400,
        /NaN|finite|number/i,
      ],
      ['unknown model', post(json([]), undefined, 'nope'), 404, /unknown model "nope"/],
      [
        'unknown output',
        post(
          JSON.stringify({
            inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 1, 28, 28], data: pixels(784) }],
            outputs: [{ name: 'probs' }],
          }),
        ),
        400,
        /requested output "probs"/,
      ],
      ['oversized body', post(Buffer.alloc(300_000, 32)), 413, /exceeds the limit/],
    ];
    const bin = encodeInferRequest(good, { binaryInputs: true });
    const { 'Content-Length': _len, ...binHeaders } = bin.headers; // the truncated body gets its own length
    cases.push(['truncated binary', post(bin.body.subarray(0, bin.body.length - 100), binHeaders), 400, /binary|bytes|size/i]);
    for (const [what, reply, status, msg] of cases) {
      const res = await reply;
      expect(res.status, what).toBe(status);
      expect(res.json().error, what).toMatch(msg);
      const ok = await c.infer('cascade', good);
      expect(ok.outputs[0].shape, `still serving after ${what}`).toEqual([2, 10]);
    }
  });
});

describe('startup check', () => {
  it('names the upstream that is missing', async () => {
    await expect(router({ baseModel: 'no-such-model', failurePolicy: 'error', startupTimeoutMs: 300 })).rejects.toThrow(
      /base model "no-such-model" at http:\/\/127\.0\.0\.1:\d+: unknown model/,
    );
    await expect(router({ saverModel: 'nope', startupTimeoutMs: 300 })).rejects.toThrow(/saver model "nope"/);
  });

  it('with fallback, serves saver-only while the base is absent and escalates once it appears', async () => {
    const port = await freePort();
    const { c } = await router({ baseUrl: `http://127.0.0.1:${port}`, failurePolicy: 'fallback', startupTimeoutMs: 300, threshold: 1 });
    const res = await c.infer('cascade', imageBatch(images, 8));
    const routes = parseRoutes(res.parameters);
    expect(routes.filter((x) => x === 'fallback').length).toBeGreaterThan(0);
    expect(routes.every((x) => x === 'fallback' || x === 'saver')).toBe(true);
    expect(res.parameters?.tinysaver_degraded).toMatch(/not verified|not usable/);
    const late = await startZooServer(BASE, port);
    try {
      const ok = await eventually(
        async () => parseRoutes((await c.infer('cascade', imageBatch(images, 8))).parameters).includes('base'),
        15_000,
      );
      expect(ok).toBe(true);
    } finally {
      await late.close();
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

describe('shutdown', () => {
  // A regression here hangs until keepAliveTimeout (65 s), past the test timeout.
  it('close() lets an in-flight request finish, then closes its keep-alive connection and refuses new ones', async () => {
    const r = await startRouter({ port: 0, saverUrl: saver.url, saverModel: SAVER, baseUrl: base.url, baseModel: BASE, ...QUIET_LOG });
    const enc = encodeInferRequest(imageBatch(images, 4));
    const sock = net.connect(r.port, '127.0.0.1');
    await new Promise((res) => sock.once('connect', res));
    let reply = '';
    sock.on('data', (c: Buffer) => (reply += c.toString()));
    const ended = new Promise((res) => sock.once('close', res));
    // Headers and half the body: the request is in flight (keep-alive) when close() starts.
    const head = `POST /v2/models/cascade/infer HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: ${enc.body.length}\r\n\r\n`;
    sock.write(head);
    sock.write(enc.body.subarray(0, 100));
    await new Promise((res) => setTimeout(res, 50));
    const closed = r.close();
    sock.write(enc.body.subarray(100));
    await closed;
    await ended; // the server closed the connection once the answer was out
    expect(reply).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(reply).toContain('"model_name":"cascade"');
    await expect(rawRequest(r.url, 'GET', '/v2/health/live')).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('coalescing', () => {
  it('concurrent requests share saver calls, yet each gets exactly its own rows; a bad one fails alone', async () => {
    const t = 0.9;
    const { r, c } = await router({ threshold: t, auditRate: 0, maxSaverCalls: 1, maxCoalesceRows: 64 });
    const direct = new V2Client(saver.url);
    const directBase = new V2Client(base.url);
    clients.push(direct, directBase);
    const sizes = Array.from({ length: 40 }, (_, i) => 1 + (i % 5));
    const starts = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
    const bad = 17; // this one carries a NaN pixel
    const reqs = sizes.map((n, i) => {
      const req = imageBatch(images, n, 600 + starts[i]);
      if (i === bad) (req.inputs[0].data as Float32Array)[3] = NaN;
      return { ...req, id: `req-${i}` };
    });
    const replies = await Promise.allSettled(reqs.map((req) => c.infer('cascade', req)));

    const text = await metricsText(r.url);
    const saverCalls = sample(text, 'tinysaver_request_duration_seconds_count', { stage: 'saver' });
    expect(saverCalls).toBeLessThan(reqs.length); // requests were merged
    for (let i = 0; i < reqs.length; i++) {
      const rep = replies[i];
      if (i === bad) {
        expect(rep.status).toBe('rejected');
        expect(String((rep as PromiseRejectedResult).reason.message)).toMatch(/NaN/);
        continue;
      }
      expect(rep.status, `request ${i}`).toBe('fulfilled');
      const res = (rep as PromiseFulfilledResult<InferResponse>).value;
      expect(res.id).toBe(`req-${i}`);
      expect(res.outputs[0].shape).toEqual([sizes[i], 10]);
      const routes = parseRoutes(res.parameters);
      const conf = parseConfidence(res.parameters);
      const s = await direct.infer(SAVER, reqs[i]);
      const b = await directBase.infer(BASE, reqs[i]);
      const sc = rowConfidence(s.outputs[0].data as Float32Array, sizes[i], 10).confidence;
      for (let k = 0; k < sizes[i]; k++) {
        expect(conf[k]).toBeCloseTo(sc[k], 4); // this request's rows, not a neighbour's
        expect(routes[k]).toBe(conf[k] >= t ? 'saver' : 'base');
        const want = routes[k] === 'saver' ? rowOf(s.outputs[0], k) : rowOf(b.outputs[0], k);
        rowOf(res.outputs[0], k).forEach((v, j) => expect(v).toBeCloseTo(want[j], 4));
      }
    }
  });
});
