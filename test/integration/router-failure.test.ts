// Base killed mid-stream: with `fallback` every request is still answered (escalated rows marked
// fallback), with `error` the requests that need the base get 503 naming it; both recover when the
// base comes back on the same address (circuit breaker half-open probe).

import { parseRoutes } from '../../runtime/router/row-params.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { V2Client } from '../../runtime/oip/client.js';
import { OipError } from '../../runtime/oip/types.js';
import { startRouter, type RunningRouter } from '../../runtime/router/server.js';
import type { RunningModelServer } from '../../runtime/server/model-server.js';
import {
  BASE,
  QUIET_LOG,
  SAVER,
  eventually,
  imageBatch,
  metricsText,
  rawRequest,
  sample,
  startZooServer,
  testImages,
} from './router-helpers.js';

let saver: RunningModelServer;
let base: RunningModelServer | undefined;
let basePort = 0;
let images: Float32Array;
const routers: RunningRouter[] = [];
const clients: V2Client[] = [];

async function router(failurePolicy: 'fallback' | 'error') {
  const r = await startRouter({
    port: 0,
    saverUrl: saver.url,
    saverModel: SAVER,
    baseUrl: base!.url,
    baseModel: BASE,
    threshold: 0.95,
    auditRate: 0,
    failurePolicy,
    baseTimeoutMs: 1000,
    breakerFailures: 2,
    breakerCooldownMs: 200,
    ...QUIET_LOG,
  });
  routers.push(r);
  const c = new V2Client(r.url, { timeoutMs: 10_000 });
  clients.push(c);
  return { r, c };
}

beforeAll(async () => {
  saver = await startZooServer(SAVER);
  base = await startZooServer(BASE);
  basePort = base.port;
  images = (await testImages(64)).images;
});

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all(routers.map((r) => r.close()));
  await Promise.all([saver?.close(), base?.close()]);
});

describe('base failure', () => {
  it('fallback answers every request while the base is down, error answers 503, both recover', async () => {
    const fb = await router('fallback');
    const er = await router('error');
    const req = imageBatch(images, 16);

    // A steady stream through the fallback router the whole time.
    const seen: Array<{ status: number; routes?: string[]; degraded?: unknown }> = [];
    let streaming = true;
    const stream = (async () => {
      while (streaming) {
        try {
          const res = await fb.c.infer('cascade', req);
          seen.push({ status: 200, routes: parseRoutes(res.parameters), degraded: res.parameters?.tinysaver_degraded });
        } catch (e) {
          seen.push({ status: e instanceof OipError ? e.status : -1 });
        }
      }
    })();

    const erBefore = await er.c.infer('cascade', req);
    expect(parseRoutes(erBefore.parameters).includes('base')).toBe(true);
    expect(await eventually(async () => seen.some((s) => s.routes?.includes('base')))).toBe(true);

    await base!.close();
    base = undefined;
    expect(await eventually(async () => seen.filter((s) => s.routes?.includes('fallback')).length >= 5)).toBe(true);
    const down = await er.c.infer('cascade', req).then(
      () => undefined,
      (e: OipError) => e,
    );
    expect(down?.status).toBe(503);
    expect(down?.message).toMatch(new RegExp(`needed the base model and it failed: .*"${BASE}"`));

    base = await startZooServer(BASE, basePort);
    const mark = seen.length;
    expect(await eventually(async () => seen.slice(mark).some((s) => s.routes?.includes('base')), 15_000)).toBe(true);
    expect(
      await eventually(async () => {
        try {
          await er.c.infer('cascade', req);
          return true;
        } catch {
          return false;
        }
      }, 15_000),
    ).toBe(true);
    streaming = false;
    await stream;

    expect(seen.length).toBeGreaterThan(10);
    expect(seen.filter((s) => s.status !== 200)).toEqual([]);
    for (const s of seen) {
      // per request either the base answered all escalated rows or none (fallback)
      expect(s.routes!.includes('base') && s.routes!.includes('fallback')).toBe(false);
      if (s.routes!.includes('fallback')) expect(String(s.degraded)).toMatch(/base/);
    }
    const text = await metricsText(fb.r.url);
    expect(sample(text, 'tinysaver_rows_total', { route: 'fallback' })).toBeGreaterThan(0);
    expect(sample(text, 'tinysaver_base_failures_total')).toBeGreaterThan(0);
  });

  it('readiness follows the saver: a dead saver makes the router unready and infer 503, until it returns', async () => {
    let ownSaver: RunningModelServer | undefined = await startZooServer(SAVER);
    const port = ownSaver.port;
    try {
      const r = await startRouter({
        port: 0,
        saverUrl: ownSaver.url,
        saverModel: SAVER,
        baseUrl: base!.url,
        baseModel: BASE,
        ...QUIET_LOG,
      });
      routers.push(r);
      const c = new V2Client(r.url);
      clients.push(c);
      expect((await rawRequest(r.url, 'GET', '/v2/health/ready')).status).toBe(200);
      await ownSaver.close();
      ownSaver = undefined;
      expect((await rawRequest(r.url, 'GET', '/v2/health/ready')).status).toBe(400);
      expect((await rawRequest(r.url, 'GET', '/v2/models/cascade/ready')).status).toBe(400);
      expect((await rawRequest(r.url, 'GET', '/v2/health/live')).status).toBe(200);
      const err = await c.infer('cascade', imageBatch(images, 2)).catch((e: OipError) => e);
      expect((err as OipError).status).toBe(503);
      expect((err as OipError).message).toMatch(new RegExp(`saver "${SAVER}" at .*unreachable`));
      ownSaver = await startZooServer(SAVER, port);
      expect((await rawRequest(r.url, 'GET', '/v2/health/ready')).status).toBe(200);
      expect((await c.infer('cascade', imageBatch(images, 2))).outputs[0].shape).toEqual([2, 10]);
    } finally {
      await ownSaver?.close();
    }
  });
});
