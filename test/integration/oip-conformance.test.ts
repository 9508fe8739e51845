// What a strict v2 client trips on (issue 14, items 1-5), checked on the model server, the router
// with a saver model server (Sidecar layout) and the router running the saver in-process (InRouter):
// per-output `binary_data`, scalar-only response parameters, readiness answered 4xx, draining that
// answers every request it reads with `Connection: close`, and a 413 (not a reset) for a 64 MiB + 1 body.

import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zooModelPath } from '../../models/zoo.js';
import { encodeInferRequest } from '../../runtime/oip/codec.js';
import { V2Client } from '../../runtime/oip/client.js';
import { parseConfidence, parseRoutes } from '../../runtime/router/row-params.js';
import { startRouter, type RunningRouter } from '../../runtime/router/server.js';
import type { RunningModelServer } from '../../runtime/server/model-server.js';
import { BASE, QUIET_LOG, SAVER, imageBatch, rawRequest, startZooServer, testImages } from './router-helpers.js';

let saver: RunningModelServer;
let base: RunningModelServer;
let images: Float32Array;

beforeAll(async () => {
  [saver, base] = await Promise.all([startZooServer(SAVER), startZooServer(BASE)]);
  images = (await testImages(32)).images;
}, 60_000);

afterAll(async () => {
  await Promise.all([saver?.close(), base?.close()]);
});

function sidecarRouter(): Promise<RunningRouter> {
  return startRouter({ ...QUIET_LOG, port: 0, saverUrl: saver.url, saverModel: SAVER, baseUrl: base.url, baseModel: BASE, threshold: 0.7 });
}

function inRouter(): Promise<RunningRouter> {
  return startRouter({
    ...QUIET_LOG,
    port: 0,
    saverOnnx: zooModelPath(SAVER),
    saverModel: SAVER,
    baseUrl: base.url,
    baseModel: BASE,
    threshold: 0.7,
  });
}

/** JSON infer request body for `rows` images with the given `outputs` and request parameters. */
function jsonBody(rows: number, outputs?: unknown[], parameters?: Record<string, unknown>): string {
  const req = imageBatch(images, rows);
  const t = req.inputs[0];
  return JSON.stringify({
    ...(parameters ? { parameters } : {}),
    inputs: [{ name: t.name, datatype: t.datatype, shape: t.shape, data: Array.from(t.data as Float32Array) }],
    ...(outputs ? { outputs } : {}),
  });
}

describe.each([
  ['model server', async () => ({ url: saver.url, model: SAVER, close: async () => undefined })],
  [
    'router (Sidecar)',
    async () => {
      const r = await sidecarRouter();
      return { url: r.url, model: 'cascade', close: r.close };
    },
  ],
  [
    'router (InRouter)',
    async () => {
      const r = await inRouter();
      return { url: r.url, model: 'cascade', close: r.close };
    },
  ],
] as const)('%s', (_label, start) => {
  let target: { url: string; model: string; close: () => Promise<void> };
  beforeAll(async () => {
    target = await start();
  }, 60_000);
  afterAll(async () => {
    await target?.close();
  });

  it('item 1: per-output binary_data picks binary; binary_data false overrides a request-level binary_data_output', async () => {
    const path = `/v2/models/${target.model}/infer`;
    const headers = { 'Content-Type': 'application/json' };
    const bin = await rawRequest(target.url, 'POST', path, jsonBody(2, [{ name: 'logits', parameters: { binary_data: true } }]), headers);
    expect(bin.status).toBe(200);
    const hl = Number(bin.headers['inference-header-content-length']);
    expect(hl).toBeGreaterThan(0);
    const head = JSON.parse(bin.body.subarray(0, hl).toString('utf8'));
    expect(head.outputs[0].parameters.binary_data_size).toBe(2 * 10 * 4);
    expect(bin.body.length - hl).toBe(2 * 10 * 4);

    const json = await rawRequest(
      target.url,
      'POST',
      path,
      jsonBody(2, [{ name: 'logits', parameters: { binary_data: false } }], { binary_data_output: true }),
      headers,
    );
    expect(json.status).toBe(200);
    expect(json.headers['inference-header-content-length']).toBeUndefined();
    expect(json.json().outputs).toMatchObject([{ name: 'logits', shape: [2, 10] }]);
    expect((json.json().outputs as Array<{ data: number[] }>)[0].data).toHaveLength(20);
  });

  it('item 2: every response parameter is a string, number or boolean', async () => {
    const r = await rawRequest(target.url, 'POST', `/v2/models/${target.model}/infer`, jsonBody(4), { 'Content-Type': 'application/json' });
    expect(r.status).toBe(200);
    for (const [k, v] of Object.entries((r.json().parameters ?? {}) as Record<string, unknown>)) {
      expect(['string', 'number', 'boolean'], `parameter ${k}`).toContain(typeof v);
    }
    if (target.model === 'cascade') {
      const params = r.json().parameters as Record<string, unknown>;
      expect(parseRoutes(params)).toHaveLength(4);
      for (const route of parseRoutes(params)) expect(['saver', 'base', 'fallback']).toContain(route);
      expect(parseConfidence(params).every((c) => c >= 0 && c <= 1)).toBe(true);
    }
  });

  it('item 5: a 64 MiB + 1 byte body gets 413, not a reset', async () => {
    // Like curl or a Python client: send the whole body first, read the answer afterwards. A server
    // that answers early and closes makes the kernel reset the connection, and the answer is lost.
    const size = 64 * 1024 * 1024 + 1;
    const u = new URL(target.url);
    const reply = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(Number(u.port), u.hostname);
      sock.pause();
      const chunks: Buffer[] = [];
      sock.on('error', reject);
      sock.on('data', (c: Buffer) => chunks.push(c));
      sock.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
      sock.write(
        `POST /v2/models/${target.model}/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`,
      );
      const chunk = Buffer.alloc(1 << 20, 0x20);
      let sent = 0;
      const write = (): void => {
        while (sent < size) {
          const n = Math.min(chunk.length, size - sent);
          sent += n;
          if (!sock.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void sock.once('drain', write);
        }
        sock.end(() => sock.resume());
      };
      write();
    });
    expect(reply).toMatch(/^HTTP\/1\.1 413 /);
    expect(reply).toMatch(/exceeds the limit/);
  }, 60_000);
});

describe('draining (items 3 and 4)', () => {
  it.each([
    ['router (Sidecar)', sidecarRouter],
    ['router (InRouter)', inRouter],
  ] as const)(
    '%s: every request read after close() starts is served (200) with Connection: close; readiness answers 400',
    async (_label, start) => {
      const r = await start();
      const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
      const body = encodeInferRequest(imageBatch(images, 1), { binaryInputs: true, binaryOutputs: true });
      const u = new URL(r.url);
      const send = (path: string, method = 'POST') =>
        new Promise<{ status: number; connection: string | undefined; ready?: boolean }>((resolve, reject) => {
          const req = http.request(
            { method, hostname: u.hostname, port: u.port, path, agent, headers: method === 'POST' ? body.headers : {} },
            (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (c: Buffer) => chunks.push(c));
              res.on('end', () => {
                const text = Buffer.concat(chunks).toString('utf8');
                resolve({
                  status: res.statusCode ?? 0,
                  connection: res.headers.connection,
                  ready: path.endsWith('/ready') ? JSON.parse(text).ready : undefined,
                });
              });
            },
          );
          req.on('error', reject);
          req.end(method === 'POST' ? body.body : undefined);
        });
      let closing = false;
      let closed = false;
      const duringDrain: Array<{ status: number; connection: string | undefined; ready?: boolean }> = [];
      const errors: string[] = [];
      const loop = async (k: number) => {
        for (let i = 0; i < 2000 && !closed; i++) {
          const path = k === 0 && i % 2 === 1 ? '/v2/health/ready' : '/v2/models/cascade/infer';
          const wasClosing = closing;
          try {
            const res = await send(path, path.endsWith('/ready') ? 'GET' : 'POST');
            if (wasClosing) duringDrain.push(res);
          } catch (e) {
            const code = (e as NodeJS.ErrnoException).code;
            // a refused connection is an honest answer (the listener is gone); a reset is not
            if (code === 'ECONNREFUSED') return;
            errors.push(`${code}: ${(e as Error).message}`);
            return;
          }
        }
      };
      const loops = Array.from({ length: 6 }, (_, k) => loop(k));
      // One request certainly in flight when the drain starts: headers and half its body sent.
      const slow = net.connect(Number(u.port), u.hostname);
      await new Promise((res) => slow.once('connect', res));
      let slowReply = '';
      slow.on('data', (c: Buffer) => (slowReply += c.toString('latin1')));
      const slowEnded = new Promise((res) => slow.once('close', res));
      slow.write(
        `POST /v2/models/cascade/infer HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n${Object.entries(body.headers)
          .map(([k, v]) => `${k}: ${v}\r\n`)
          .join('')}\r\n`,
      );
      slow.write(body.body.subarray(0, 100));
      await new Promise((res) => setTimeout(res, 300));
      closing = true;
      const done = r.close().then(() => (closed = true));
      slow.write(body.body.subarray(100));
      await Promise.all(loops);
      await done;
      await slowEnded;
      agent.destroy();
      expect(errors).toEqual([]);
      // answered (not reset), and told to close the connection
      // served, not refused: a rolling update sends such requests on clients' keep-alive connections
      expect(slowReply).toMatch(/^HTTP\/1\.1 200 /);
      expect(slowReply.split('\r\n\r\n')[0].toLowerCase()).toContain('connection: close');
      for (const res of duringDrain) {
        expect(res.connection).toBe('close');
        if (res.ready !== undefined) expect(res.status).toBe(res.ready ? 200 : 400);
        else expect(res.status).toBe(200);
      }
    },
    60_000,
  );
});

describe('readiness (item 3)', () => {
  it('a router whose saver is gone answers readiness 400 {"ready": false}; Kubernetes probes fail on >= 400', async () => {
    const lone = await startZooServer(SAVER);
    const r = await startRouter({ ...QUIET_LOG, port: 0, saverUrl: lone.url, saverModel: SAVER, baseUrl: base.url, baseModel: BASE });
    try {
      expect((await rawRequest(r.url, 'GET', '/v2/health/ready')).status).toBe(200);
      await lone.close();
      const ready = await rawRequest(r.url, 'GET', '/v2/health/ready');
      expect(ready.status).toBe(400);
      expect(ready.json()).toEqual({ ready: false });
      const model = await rawRequest(r.url, 'GET', '/v2/models/cascade/ready');
      expect(model.status).toBe(400);
      expect(model.json()).toEqual({ name: 'cascade', ready: false });
    } finally {
      await r.close();
    }
  }, 60_000);

  it('the V2Client reads 400 as not ready', async () => {
    const lone = await startZooServer(SAVER);
    const c = new V2Client(lone.url);
    expect(await c.ready()).toBe(true);
    await lone.close();
    expect(await c.ready()).toBe(false);
    c.close();
  });
});
