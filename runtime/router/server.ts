// The router's HTTP edge (node:http, no framework: the hot path stays short) and its lifecycle:
// startRouter() listens, waits until saver and base answer compatible metadata, then serves the
// cascade; close() stops it. v2 endpoints + GET /metrics.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { V2Client } from '../oip/client.js';
import { binaryOutputSelector, decodeInferRequest, encodeInferResponse, parseHeaderLength, HEADER_LENGTH_HEADER } from '../oip/codec.js';
import { listen, readBody, sendError, sendInferResponse, sendJson } from '../oip/http.js';
import { OipError, type InferRequest, type ModelMetadata } from '../oip/types.js';
import { CircuitBreaker } from './breaker.js';
import { Cascade, type Upstream } from './cascade.js';
import { cascadeMetadata, checkCompatible, type CascadeLayout, type ModelMeta } from './compat.js';
import { localSaver, loadLocalSaver, type LocalSaver } from './local-saver.js';
import { createRouterMetrics, type RouterMetrics } from './metrics.js';
import { ROUTER_DEFAULTS, type RouterOptions } from './options.js';
import { ThresholdFileWatcher } from './threshold-file.js';

export interface RunningRouter {
  url: string;
  port: number;
  metrics: RouterMetrics;
  /** resolves when in-flight audits have finished (tests) */
  auditsIdle(): Promise<void>;
  /** poll the threshold file now instead of waiting for the interval (tests) */
  reloadThreshold(): Promise<void>;
  close(): Promise<void>;
}

const MODEL_PATH = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/infer|\/ready)?\/?$/;
const CASCADE_VERSION = '1';
/** Longest startup wait for the base under the fallback policy before serving saver-only. */
const FALLBACK_BASE_WAIT_MS = 10_000;
/** How long close() lets in-flight requests finish before cutting connections. */
const SHUTDOWN_DRAIN_MS = 10_000;

function boundUpstream(client: V2Client, model: string): Upstream {
  return {
    label: `"${model}" at ${client.baseUrl}`,
    infer: (req: InferRequest, timeoutMs: number) => client.infer(model, req, { binary: true, timeoutMs }),
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** Metadata of one upstream model, retried while the upstream is not (yet) reachable or ready. */
async function fetchMetadata(role: string, client: V2Client, model: string, deadline: number, stop: () => boolean): Promise<ModelMetadata> {
  let wait = 100;
  for (;;) {
    try {
      return await client.metadata(model);
    } catch (e) {
      const status = e instanceof OipError ? e.status : 0;
      const retriable = status === 0 || status === 404 || status === 429 || status >= 500;
      if (!retriable || Date.now() + wait > deadline || stop()) {
        throw new Error(`${role} model "${model}" at ${client.baseUrl}: ${(e as Error).message}`);
      }
    }
    await sleep(wait);
    wait = Math.min(wait * 2, 1000);
  }
}

export async function startRouter(partial: Partial<RouterOptions> = {}): Promise<RunningRouter> {
  const opts: RouterOptions = { ...ROUTER_DEFAULTS, ...partial };
  const log = opts.log ?? ((line: string) => console.error(`router: ${line}`));
  const metrics = createRouterMetrics(opts.name);
  const settings = { threshold: opts.threshold, auditRate: opts.auditRate };
  const setGauges = () => {
    metrics.threshold.set(settings.threshold);
    metrics.auditRate.set(settings.auditRate);
  };
  setGauges();

  let watcher: ThresholdFileWatcher | undefined;
  if (opts.thresholdFile) {
    watcher = new ThresholdFileWatcher({
      path: opts.thresholdFile,
      intervalMs: opts.reloadIntervalMs,
      onChange: (v) => {
        const before = settings.threshold;
        settings.threshold = v.threshold;
        settings.auditRate = v.auditRate ?? opts.auditRate;
        setGauges();
        if (before !== v.threshold) log(`threshold ${before} -> ${v.threshold} (from ${opts.thresholdFile})`);
      },
      onInvalid: (error) => {
        metrics.thresholdReloadErrors.inc();
        log(`threshold file ignored, keeping threshold ${settings.threshold}: ${error}`);
      },
    });
    await watcher.poll();
    watcher.start();
  }

  const saverClient = new V2Client(opts.saverUrl, { timeoutMs: opts.saverTimeoutMs });
  const baseClient = new V2Client(opts.baseUrl, { timeoutMs: opts.baseTimeoutMs });
  const breaker = new CircuitBreaker({ failureThreshold: opts.breakerFailures, cooldownMs: opts.breakerCooldownMs });
  let closing = false;
  let cascade: Cascade | undefined;
  /** the saver run in this process (--saver-onnx), or undefined when it is called at saverUrl */
  let local: LocalSaver | undefined;
  let metadata: ModelMeta | undefined;
  let saverMeta: ModelMeta | undefined;
  let baseState: string | undefined = `base "${opts.baseModel}" at ${opts.baseUrl} not verified yet`;

  const server = http.createServer((req, res) => {
    void handle(req, res).catch((e) => {
      req.resume(); // a body left unread (refused early) is discarded
      sendError(res, e);
    });
  });
  server.keepAliveTimeout = 65_000;
  // A client that stops sending mid-body gets cut off instead of holding a socket forever.
  server.requestTimeout = 60_000;
  server.headersTimeout = 30_000;

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const path = url.indexOf('?') >= 0 ? url.slice(0, url.indexOf('?')) : url;
    const method = req.method ?? 'GET';
    const m = MODEL_PATH.exec(path);
    if (m) {
      let model = m[1];
      try {
        model = decodeURIComponent(m[1]);
      } catch {
        // not valid percent-encoding: reported as an unknown model below
      }
      if (model !== opts.name) throw new OipError(404, `unknown model "${model}"; this router serves "${opts.name}"`);
      if (m[2] !== undefined && m[2] !== CASCADE_VERSION) {
        throw new OipError(404, `unknown version "${m[2]}" of model "${opts.name}" (available: ${CASCADE_VERSION})`);
      }
      if (m[3] === '/infer') {
        if (method !== 'POST') throw new OipError(405, `use POST for ${path}`);
        return infer(req, res);
      }
      if (method !== 'GET') throw new OipError(405, `use GET for ${path}`);
      if (m[3] === '/ready') {
        const ready = await isReady();
        return sendJson(res, ready ? 200 : 503, { name: opts.name, ready });
      }
      if (!metadata) throw new OipError(503, 'router not ready: waiting for the saver and base metadata');
      return sendJson(res, 200, metadata);
    }
    if (method !== 'GET') {
      throw new OipError(405, `method ${method} not allowed for ${path}`);
    }
    switch (path) {
      case '/metrics': {
        const text = await metrics.registry.metrics();
        res.writeHead(200, { 'Content-Type': metrics.registry.contentType });
        res.end(text);
        return;
      }
      case '/v2/health/live':
        return sendJson(res, 200, { live: true });
      case '/v2/health/ready': {
        const ready = await isReady();
        return sendJson(res, ready ? 200 : 503, { ready });
      }
      case '/v2':
        return sendJson(res, 200, { name: 'tinysaver-router', version: '0.1.0', extensions: ['binary_tensor_data'] });
      default:
        throw new OipError(404, `no route for ${method} ${path}`);
    }
  }

  // The saver sits on 127.0.0.1 next to the router where kubelet probes cannot reach it, so the
  // router's readiness includes the saver's: a pod whose saver is down takes no traffic.
  async function isReady(): Promise<boolean> {
    return cascade !== undefined && !closing && (local !== undefined || (await saverClient.ready(opts.saverModel, 1000)));
  }

  async function infer(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!cascade || closing) {
      throw new OipError(503, closing ? 'router shutting down' : 'router not ready: waiting for the saver and base metadata');
    }
    const body = await readBody(req, opts.maxBodyBytes);
    const request = decodeInferRequest(body, parseHeaderLength(req.headers[HEADER_LENGTH_HEADER]));
    const result = await cascade.infer(request);
    sendInferResponse(res, encodeInferResponse(result.response, binaryOutputSelector(request)));
    result.startAudit?.();
  }

  await listen(server, opts.port, opts.host);
  const port = (server.address() as AddressInfo).port;
  const hostForUrl = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host.includes(':') ? `[${opts.host}]` : opts.host;

  const shutdown = async (): Promise<void> => {
    if (closing) return;
    closing = true;
    watcher?.stop();
    // In-flight requests finish; keep-alive connections are closed as soon as they go idle (not
    // after keepAliveTimeout), and whatever is left after the drain time is cut.
    await new Promise<void>((resolve) => {
      const idle = setInterval(() => server.closeIdleConnections(), 50);
      const cut = setTimeout(() => server.closeAllConnections(), SHUTDOWN_DRAIN_MS);
      server.close(() => {
        clearInterval(idle);
        clearTimeout(cut);
        resolve();
      });
      server.closeIdleConnections();
    });
    if (cascade) await Promise.race([cascade.auditRunner.idle(), sleep(opts.baseTimeoutMs)]);
    saverClient.close();
    baseClient.close();
    await local?.close();
  };

  const adopt = (layout: CascadeLayout, saver: ModelMeta) => {
    metadata = {
      ...cascadeMetadata(opts.name, saver, layout),
      parameters: { tinysaver_saver_model: opts.saverModel, tinysaver_base_model: opts.baseModel },
    };
    if (layout.dropped.length > 0) log(`saver outputs not served by the cascade (the base lacks them): ${layout.dropped.join(', ')}`);
  };

  const verifyBase = async (deadline: number): Promise<CascadeLayout> => {
    const baseMeta = await fetchMetadata('base', baseClient, opts.baseModel, deadline, () => closing);
    const compat = checkCompatible(saverMeta!, baseMeta, opts.output);
    if (!compat.ok) {
      throw new IncompatibleError(
        `saver "${opts.saverModel}" and base "${opts.baseModel}" are not compatible:\n  - ${compat.problems.join('\n  - ')}`,
      );
    }
    adopt(compat.layout, saverMeta!);
    cascade?.setLayout(compat.layout);
    return compat.layout;
  };

  try {
    const deadline = Date.now() + opts.startupTimeoutMs;
    if (opts.saverSession) local = localSaver(opts.saverSession, opts.saverModel);
    else if (opts.saverOnnx) local = await loadLocalSaver(opts.saverOnnx, { name: opts.saverModel, intraOpThreads: opts.saverIntraOpThreads });
    saverMeta = local ? local.metadata : await fetchMetadata('saver', saverClient, opts.saverModel, deadline, () => closing);
    // Layout from the saver alone: used only while the base has not been verified (fallback mode).
    const own = checkCompatible(saverMeta, saverMeta, opts.output);
    if (!own.ok) throw new IncompatibleError(`saver "${opts.saverModel}": ${own.problems.join('; ')}`);
    let layout: CascadeLayout;
    try {
      // With the fallback policy the saver alone can serve, so the base gets a shorter wait.
      layout = await verifyBase(opts.failurePolicy === 'fallback' ? Math.min(deadline, Date.now() + FALLBACK_BASE_WAIT_MS) : deadline);
      baseState = undefined;
    } catch (e) {
      if (e instanceof IncompatibleError || opts.failurePolicy === 'error') throw e;
      // fallback policy: serve saver-only (rows marked fallback) and keep checking the base.
      log(`base not reachable at startup, serving saver-only (fallback) until it is: ${(e as Error).message}`);
      layout = own.layout;
      adopt(layout, saverMeta);
      void (async () => {
        while (!closing && baseState !== undefined) {
          try {
            await verifyBase(Date.now() + 5000);
            baseState = undefined;
            log(`base "${opts.baseModel}" verified; escalation enabled`);
          } catch (err) {
            baseState = `base not usable: ${(err as Error).message}`;
            if (err instanceof IncompatibleError) {
              log(baseState);
              return;
            }
          }
        }
      })();
    }
    cascade = new Cascade({
      name: opts.name,
      saver: local ? local.upstream : boundUpstream(saverClient, opts.saverModel),
      base: boundUpstream(baseClient, opts.baseModel),
      layout,
      metrics,
      settings,
      measure: opts.confidence,
      probabilities: opts.probabilities,
      failurePolicy: opts.failurePolicy,
      saverTimeoutMs: opts.saverTimeoutMs,
      baseTimeoutMs: opts.baseTimeoutMs,
      breaker,
      auditConcurrency: opts.auditConcurrency,
      seed: opts.seed,
      maxSaverCalls: opts.maxSaverCalls,
      maxCoalesceRows: opts.maxCoalesceRows,
      maxQueueRows: opts.maxQueueRows,
      maxBaseCalls: opts.maxBaseCalls,
      baseUsable: () => baseState,
    });
  } catch (e) {
    await shutdown();
    throw e;
  }

  return {
    url: `http://${hostForUrl}:${port}`,
    port,
    metrics,
    auditsIdle: () => cascade!.auditRunner.idle(),
    reloadThreshold: async () => {
      await watcher?.poll();
    },
    close: shutdown,
  };
}

class IncompatibleError extends Error {}
