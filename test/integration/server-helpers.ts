// Helpers for the model-server integration tests: which committed model to serve, deterministic
// inputs, and a raw HTTP client for sending deliberately broken requests.

import http from 'node:http';
import { existsSync } from 'node:fs';
import { loadZooManifest, zooModelPath } from '../../models/zoo.js';

/** The smallest committed saver and the base (models/zoo). */
export function zooPaths(): { saver: string; base: string } {
  // Escape hatch for trying the suite on other models with the same I/O contract: "saver.onnx,base.onnx".
  const override = process.env.TINYSAVER_SERVER_TEST_MODELS;
  if (override) {
    const [saver, base] = override.split(',');
    return { saver, base: base ?? saver };
  }
  const m = loadZooManifest();
  const savers = m.models.filter((x) => x.role === 'saver').sort((a, b) => a.macs - b.macs);
  const base = m.models.find((x) => x.role === 'base');
  if (savers.length === 0 || !base) throw new Error('models/zoo/manifest.json lists no saver or no base model');
  const paths = { saver: zooModelPath(savers[0].name), base: zooModelPath(base.name) };
  for (const p of Object.values(paths)) if (!existsSync(p)) throw new Error(`committed model missing: ${p}`);
  return paths;
}

/** Deterministic pseudo-random pixels in [0, 1) for `rows` images of 1x28x28. */
export function images(rows: number, seed: number): Float32Array {
  const out = new Float32Array(rows * 784);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (s >>> 0) / 4294967296;
  }
  return out;
}

export interface RawReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json(): { error?: string } & Record<string, unknown>;
}

/** One HTTP request on a fresh connection; `chunked` streams the body without Content-Length. */
export function rawRequest(
  baseUrl: string,
  method: string,
  path: string,
  body?: Buffer | string,
  headers: Record<string, string> = {},
  chunked = false,
): Promise<RawReply> {
  const u = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request({ method, hostname: u.hostname, port: u.port, path, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b, json: () => JSON.parse(b.toString()) });
      });
    });
    req.on('error', reject);
    if (body === undefined) {
      req.end();
    } else if (chunked) {
      const buf = Buffer.isBuffer(body) ? body : Buffer.from(body);
      for (let off = 0; off < buf.length; off += 16384) req.write(buf.subarray(off, off + 16384));
      req.end();
    } else {
      const buf = Buffer.isBuffer(body) ? body : Buffer.from(body);
      req.setHeader('Content-Length', String(buf.length));
      req.end(buf);
    }
  });
}

/** Sum and count of a histogram in Prometheus text, for one metric name (all label sets). */
export function histogramTotals(text: string, name: string): { sum: number; count: number } {
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}_sum`)) sum += Number(line.split(' ').pop());
    if (line.startsWith(`${name}_count`)) count += Number(line.split(' ').pop());
  }
  return { sum, count };
}

export function counterValue(text: string, name: string, labelMatch: string): number {
  let v = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) && line.includes(labelMatch)) v += Number(line.split(' ').pop());
  }
  return v;
}

/** Polls `cond` every 10 ms until it holds (throws after `timeoutMs`). */
export async function waitFor(cond: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Whether the model server at `url` has at least `rows` rows waiting in its batching queue. */
export async function queuedRows(url: string): Promise<number> {
  const text = (await rawRequest(url, 'GET', '/metrics')).body.toString();
  const line = text.split('\n').find((l) => l.startsWith('tinysaver_server_queue_rows{'));
  return line ? Number(line.split(' ').pop()) : 0;
}
