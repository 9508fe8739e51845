// Shared set-up for the threshold-controller suites: a real cascade (two model servers + the router on
// 127.0.0.1, committed ONNX models), a corrupted Fashion-MNIST stream, and an in-memory stand-in for the
// controller's Kubernetes I/O (the e2e suite uses the real apiserver instead).

import http from 'node:http';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadFashionMnist } from '../../models/dataset/fashion-mnist.js';
import { ZOO_DIR, zooModelPath } from '../../models/zoo.js';
import { V2Client } from '../../runtime/oip/client.js';
import { startRouter, type RunningRouter } from '../../runtime/router/server.js';
import { startModelServer, type RunningModelServer } from '../../runtime/server/model-server.js';
import { CORRUPTIONS, PIXELS, corrupt } from '../../runtime/drift/corruptions.js';
import { seededRandom } from '../../core/random.js';
import type { ModelCascade } from '../../operator/api/model-cascade.js';
import type { PodLike } from '../../operator/telemetry/scrape.js';
import { METRICS_PORT_ANNOTATION } from '../../operator/telemetry/scrape.js';
import type { ControllerKube } from '../../operator/threshold/kube.js';
import type { ThresholdEvent } from '../../operator/threshold/status.js';

export const SAVER_MODEL = 'saver-tinycnn';
/** base-cnn once the zoo has it; the bigger saver stands in before that */
export const BASE_MODEL = existsSync(path.join(ZOO_DIR, 'base-cnn.onnx')) ? 'base-cnn' : 'saver-mlp';

export interface Cascade {
  saver: RunningModelServer;
  base: RunningModelServer;
  router: RunningRouter;
  thresholdFile: string;
  client: V2Client;
  close(): Promise<void>;
}

export async function startCascade(opts: { threshold: number; auditRate: number; seed?: number; host?: string }): Promise<Cascade> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tinysaver-ctl-'));
  const thresholdFile = path.join(dir, 'threshold.json');
  await writeFile(thresholdFile, JSON.stringify({ threshold: opts.threshold, auditRate: opts.auditRate }));
  const saver = await startModelServer({
    modelPath: zooModelPath(SAVER_MODEL),
    name: 'saver',
    port: 0,
    maxBatchSize: 512,
    maxQueueDelayMs: 0,
  });
  const base = await startModelServer({
    modelPath: zooModelPath(BASE_MODEL),
    name: 'base',
    port: 0,
    maxBatchSize: 512,
    maxQueueDelayMs: 0,
  });
  const router = await startRouter({
    host: opts.host ?? '127.0.0.1',
    port: 0,
    saverUrl: saver.url,
    saverModel: 'saver',
    baseUrl: base.url,
    baseModel: 'base',
    threshold: opts.threshold,
    thresholdFile,
    reloadIntervalMs: 200,
    auditRate: opts.auditRate,
    auditConcurrency: 16,
    seed: opts.seed ?? 3,
    log: () => undefined,
  });
  return {
    saver,
    base,
    router,
    thresholdFile,
    client: new V2Client(router.url),
    async close() {
      await router.close();
      await saver.close();
      await base.close();
    },
  };
}

/** A seeded stream of test images, corrupted at `severity` (0 = clean). */
export async function corruptedStream(seed: number) {
  const data = await loadFashionMnist('test');
  const rand = seededRandom(seed);
  return (rows: number, severity: number): Float32Array => {
    const out = new Float32Array(rows * PIXELS);
    for (let j = 0; j < rows; j++) {
      const idx = Math.floor(rand() * data.count);
      const kind = CORRUPTIONS[Math.floor(rand() * CORRUPTIONS.length)];
      out.set(corrupt(kind, data.images.subarray(idx * PIXELS, (idx + 1) * PIXELS), severity, rand), j * PIXELS);
    }
    return out;
  };
}

export async function send(c: Cascade, images: Float32Array, batch = 100): Promise<void> {
  const rows = images.length / PIXELS;
  for (let r = 0; r < rows; r += batch) {
    const n = Math.min(batch, rows - r);
    await c.client.infer('cascade', {
      inputs: [{ name: 'input', datatype: 'FP32', shape: [n, 1, 28, 28], data: images.slice(r * PIXELS, (r + n) * PIXELS) }],
    });
  }
  await c.router.auditsIdle();
}

export function routerPod(name: string, url: string, extra: { uid?: string; ready?: boolean } = {}): PodLike {
  const u = new URL(url);
  return {
    metadata: { name, namespace: 'test', uid: extra.uid ?? `uid-${name}`, annotations: { [METRICS_PORT_ANNOTATION]: u.port } },
    status: {
      phase: 'Running',
      podIP: u.hostname,
      conditions: [{ type: 'Ready', status: extra.ready === false ? 'False' : 'True' }],
    },
  };
}

/** In-memory ControllerKube: status merges into `mc`, events are collected, the pod list is settable. */
export function memoryIO(initial: ModelCascade) {
  const state = { mc: initial, pods: [] as PodLike[], events: [] as ThresholdEvent[], configApplies: 0, listFails: false };
  const io: ControllerKube = {
    listRouterPods: async () => {
      if (state.listFails) throw new Error('apiserver unavailable');
      return state.pods;
    },
    applyStatus: async (obj, status) => {
      state.mc = {
        ...obj,
        metadata: { ...obj.metadata, resourceVersion: String(Number(obj.metadata.resourceVersion ?? '1') + 1) },
        status: { ...obj.status, ...status },
      };
      return state.mc;
    },
    applyRouterConfig: async () => {
      state.configApplies++;
    },
    emitEvent: async (_o, e) => {
      state.events.push(e);
    },
  };
  return { state, io };
}

export function cascadeObject(
  spec: Partial<ModelCascade['spec']> & { threshold: NonNullable<ModelCascade['spec']['threshold']> },
): ModelCascade {
  return {
    apiVersion: 'tinysaver.io/v1alpha1',
    kind: 'ModelCascade',
    metadata: { name: 'ctl', namespace: 'test', uid: 'ctl-uid', generation: 1, resourceVersion: '1' },
    spec: { saver: { model: SAVER_MODEL }, base: { model: BASE_MODEL }, ...spec },
  };
}

/** An HTTP server that plays a broken router: `hang` never answers, `garbage` answers HTML. */
export async function brokenRouter(kind: 'hang' | 'garbage'): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    if (kind === 'garbage') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>502 Bad Gateway</body></html>\n');
    }
    // hang: keep the request open forever
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
