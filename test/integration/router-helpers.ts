// Shared set-up of the router integration suites: real model servers on 127.0.0.1 (port 0) with
// the committed ONNX models, a slice of the Fashion-MNIST test set, and small HTTP helpers.

import http from 'node:http';
import { loadFashionMnist } from '../../models/dataset/fashion-mnist.js';
import { zooModelPath } from '../../models/zoo.js';
import type { InferRequest, Tensor } from '../../runtime/oip/types.js';
import { startModelServer, type RunningModelServer } from '../../runtime/server/model-server.js';

export const SAVER = 'saver-linear';
export const BASE = 'base-cnn';
const quiet = () => undefined;
export const QUIET_LOG = { log: quiet };

export async function startZooServer(model: string, port = 0): Promise<RunningModelServer> {
  return startModelServer({ modelPath: zooModelPath(model), name: model, host: '127.0.0.1', port, maxQueueDelayMs: 0 });
}

export async function testImages(count: number, offset = 0): Promise<{ images: Float32Array; labels: Uint8Array }> {
  const d = await loadFashionMnist('test');
  return { images: d.images.slice(offset * 784, (offset + count) * 784), labels: d.labels.slice(offset, offset + count) };
}

export function imageBatch(images: Float32Array, rows: number[] | number, offset = 0): InferRequest {
  const idx = typeof rows === 'number' ? Array.from({ length: rows }, (_, i) => offset + i) : rows;
  const data = new Float32Array(idx.length * 784);
  idx.forEach((r, i) => data.set(images.subarray(r * 784, (r + 1) * 784), i * 784));
  return { inputs: [{ name: 'input', datatype: 'FP32', shape: [idx.length, 1, 28, 28], data }] };
}

export function rowOf(t: Tensor, row: number): number[] {
  const size = t.shape.slice(1).reduce((a, b) => a * b, 1);
  return Array.from((t.data as Float32Array).subarray(row * size, (row + 1) * size));
}

export interface RawReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json(): any;
}

/** One raw HTTP request (for malformed bodies the typed client cannot produce). */
export function rawRequest(
  url: string,
  method: string,
  path: string,
  body?: Buffer | string,
  headers: Record<string, string> = {},
): Promise<RawReply> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname: u.hostname, port: u.port, method, path, headers: { Connection: 'close', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b, json: () => JSON.parse(b.toString('utf8')) });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

export async function metricsText(url: string): Promise<string> {
  const r = await rawRequest(url, 'GET', '/metrics');
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  return r.body.toString('utf8');
}

/** Value of one sample line `name{labels} value` in Prometheus text (labels in any order). */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const kv of (m[3] ?? '').split(',').filter(Boolean)) {
      const [k, v] = kv.split('=');
      got[k] = v.replace(/^"|"$/g, '');
    }
    if (Object.keys(labels).length !== Object.keys(got).length) continue;
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[4]);
  }
  return NaN;
}

/** Polls `check` until it returns true or `timeoutMs` passes (returns the last result). */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000, everyMs = 50): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
