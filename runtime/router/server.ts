// The router's HTTP edge (the shared v2 edge of runtime/oip/edge.ts; node:http, no framework: the hot
// path stays short) and its lifecycle: startRouter() listens, waits until saver and base answer
// compatible metadata (upstreams.ts), then serves the cascade; close() drains and stops it.

import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { binaryOutputSelector, decodeInferRequest, encodeInferResponse, parseHeaderLength, HEADER_LENGTH_HEADER } from '../oip/codec.js';
import { createV2HttpServer, type V2Service } from '../oip/edge.js';
import { listen, readBody, sendInferResponse } from '../oip/http.js';
import { OipError } from '../oip/types.js';
import { startGrpcServer, type RunningGrpcServer } from '../oip/grpc.js';
import type { ModelMeta } from './compat.js';
import type { ModelMetadata } from '../oip/types.js';
import { CircuitBreaker } from './breaker.js';
import { Cascade } from './cascade.js';
import { startLiveSettings } from './live-settings.js';
import { createRouterMetrics, type RouterMetrics } from './metrics.js';
import { ROUTER_DEFAULTS, type RouterOptions } from './options.js';
import { sleep, Upstreams } from './upstreams.js';
import { modelIdentity, startDecisionLog, type StartedDecisionLog } from '../decisions/start.js';

export interface RunningRouter {
  url: string;
  port: number;
  /** the gRPC port (when grpcPort was given) */
  grpcPort?: number;
  /** host:port of the gRPC endpoint */
  grpcAddress?: string;
  metrics: RouterMetrics;
  /** resolves when in-flight audits have finished (tests) */
  auditsIdle(): Promise<void>;
  /** poll the threshold file now instead of waiting for the interval (tests) */
  reloadThreshold(): Promise<void>;
  close(): Promise<void>;
}

const CASCADE_VERSION = '1';
/** How long close() lets in-flight requests finish before cutting connections. */
const SHUTDOWN_DRAIN_MS = 10_000;

export async function startRouter(partial: Partial<RouterOptions> = {}): Promise<RunningRouter> {
  const opts: RouterOptions = { ...ROUTER_DEFAULTS, ...partial };
  const log = opts.log ?? ((line: string) => console.error(`router: ${line}`));
  const metrics = createRouterMetrics(opts.name);
  let decisions: StartedDecisionLog | undefined;
  /** decision-log sample rate from the threshold file (hot reload) */
  let fileSampleRate: number | undefined;
  const settings = await startLiveSettings(opts, metrics, log, (v) => {
    fileSampleRate = v.decisionSampleRate;
    decisions?.router.settings(
      { threshold: v.threshold, auditRate: v.auditRate ?? opts.auditRate, sampleRate: v.decisionSampleRate ?? opts.decisionSampleRate },
      'file',
    );
  });
  let closing = false;
  let cascade: Cascade | undefined;
  const upstreams = new Upstreams(opts, log, (layout) => cascade?.setLayout(layout));

  // The saver sits on 127.0.0.1 next to the router where kubelet probes cannot reach it, so the
  // router's readiness includes the saver's: a pod whose saver is down takes no traffic.
  const isReady = async (): Promise<boolean> => cascade !== undefined && !closing && (await upstreams.saverReady());

  const service: V2Service = {
    name: opts.name,
    serverMetadata: () => ({ name: 'tinysaver-router', version: '0.1.0', extensions: ['binary_tensor_data'] }),
    checkModel: (model, version) => {
      if (model !== opts.name) throw new OipError(404, `unknown model "${model}"; this router serves "${opts.name}"`);
      if (version !== undefined && version !== CASCADE_VERSION) {
        throw new OipError(404, `unknown version "${version}" of model "${opts.name}" (available: ${CASCADE_VERSION})`);
      }
    },
    ready: isReady,
    modelMetadata: () => {
      if (!upstreams.metadata) throw new OipError(503, 'router not ready: waiting for the saver and base metadata');
      return upstreams.metadata;
    },
    metrics: async () => ({ contentType: metrics.registry.contentType, text: await metrics.registry.metrics() }),
    infer: async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
      // checked once, when the request arrives: a request read during a drain is still answered
      const c = serving();
      const body = await readBody(req, opts.maxBodyBytes);
      const request = decodeInferRequest(body, parseHeaderLength(req.headers[HEADER_LENGTH_HEADER]));
      const result = await c.infer(request);
      sendInferResponse(res, encodeInferResponse(result.response, binaryOutputSelector(request)));
      result.startAudit?.();
    },
  };
  const edge = createV2HttpServer(service);

  /**
   * The cascade, or the 503 saying why there is none to serve with. A request read during the drain is
   * served like any other (the cascade stays intact until the drain ends; its response says
   * `Connection: close`): in a rolling update such requests arrive on clients' keep-alive connections, and a
   * 503 there would be a failed request the client cannot tell from an outage.
   */
  function serving(): Cascade {
    if (!cascade) throw new OipError(503, closing ? 'router shutting down' : 'router not ready: waiting for the saver and base metadata');
    return cascade;
  }

  await listen(edge.server, opts.port, opts.host);
  const port = (edge.server.address() as AddressInfo).port;
  let grpcServer: RunningGrpcServer | undefined;
  if (opts.grpcPort !== undefined) {
    try {
      grpcServer = await startGrpcServer(
        {
          serverMetadata: () => ({ name: 'tinysaver-router', version: '0.1.0', extensions: [] }),
          checkModel: service.checkModel,
          ready: isReady,
          modelMetadata: () => ({ platform: 'tinysaver_cascade', ...(service.modelMetadata() as ModelMeta) }) as ModelMetadata,
          infer: async (request) => {
            const result = await serving().infer(request);
            return { response: result.response, after: result.startAudit };
          },
        },
        { host: opts.host, port: opts.grpcPort, maxReceiveBytes: opts.maxBodyBytes },
      );
    } catch (e) {
      await edge.drain(0);
      throw e;
    }
  }
  const hostForUrl = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host.includes(':') ? `[${opts.host}]` : opts.host;

  const shutdown = async (): Promise<void> => {
    if (closing) return;
    closing = true;
    upstreams.stop();
    settings.stop();
    await Promise.all([edge.drain(SHUTDOWN_DRAIN_MS), grpcServer?.drain(SHUTDOWN_DRAIN_MS)]);
    if (cascade) await Promise.race([cascade.auditRunner.idle(), sleep(opts.baseTimeoutMs)]);
    await upstreams.close();
    await decisions?.close();
  };

  try {
    const layout = await upstreams.connect();
    decisions = await startDecisionLog(
      { ...opts, decisionSampleRate: fileSampleRate ?? opts.decisionSampleRate },
      {
        cascade: opts.name,
        saver: await modelIdentity(opts.saverId, opts.saverSession ? undefined : opts.saverOnnx, opts.saverModel, upstreams.saverVersions),
        base: await modelIdentity(opts.baseId, undefined, opts.baseModel, upstreams.baseVersions),
        seed: opts.seed,
        threshold: settings.values.threshold,
        auditRate: settings.values.auditRate,
        onDrop: (n) => metrics.decisionLogDropped.inc(n),
        log,
      },
    );
    const breaker = new CircuitBreaker({ failureThreshold: opts.breakerFailures, cooldownMs: opts.breakerCooldownMs });
    metrics.setBaseState(() => (upstreams.baseState !== undefined ? 'unverified' : breaker.state === 'closed' ? 'up' : 'circuit-open'));
    cascade = new Cascade({
      ...opts,
      saver: upstreams.saver,
      base: upstreams.base,
      layout,
      metrics,
      settings: settings.values,
      breaker,
      baseUsable: () => upstreams.baseState,
      decisions: decisions?.router,
    });
  } catch (e) {
    await shutdown();
    throw e;
  }

  return {
    url: `http://${hostForUrl}:${port}`,
    port,
    grpcPort: grpcServer?.port,
    grpcAddress: grpcServer?.address,
    metrics,
    auditsIdle: () => cascade!.auditRunner.idle(),
    reloadThreshold: () => settings.poll(),
    close: shutdown,
  };
}
