// The v2 HTTP edge both servers share (model server and router): path matching of the v2 routes,
// the health/metadata/metrics endpoints, method checks, graceful draining of the node:http server,
// and the wait for SIGINT/SIGTERM of the commands. Each server supplies only what differs: its
// model check, readiness, metadata and the infer handler.

import http from 'node:http';
import { OipError } from './types.js';
import { sendError, sendJson } from './http.js';

export type V2Route =
  | { kind: 'live' | 'ready' | 'server' | 'metrics' }
  | { kind: 'model' | 'modelReady' | 'infer'; model: string; version?: string };

const MODEL_PATH = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/ready|\/infer)?\/?$/;

/** The v2 route of a request URL (query ignored); undefined for any other path. */
export function matchV2Route(url: string): V2Route | undefined {
  const q = url.indexOf('?');
  const p = q < 0 ? url : url.slice(0, q);
  switch (p) {
    case '/v2/health/live':
      return { kind: 'live' };
    case '/v2/health/ready':
      return { kind: 'ready' };
    case '/v2':
    case '/v2/':
      return { kind: 'server' };
    case '/metrics':
      return { kind: 'metrics' };
  }
  const m = MODEL_PATH.exec(p);
  if (!m) return undefined;
  let model: string;
  try {
    model = decodeURIComponent(m[1]);
  } catch {
    return undefined;
  }
  const kind = m[3] === '/infer' ? 'infer' : m[3] === '/ready' ? 'modelReady' : 'model';
  return { kind, model, version: m[2] };
}

/** What a v2 server supplies to the shared edge. */
export interface V2Service {
  /** model name served (readiness bodies name it) */
  readonly name: string;
  /** body of GET /v2 */
  serverMetadata(): Record<string, unknown>;
  /** throws OipError(404) naming the problem when `model`/`version` is not served here */
  checkModel(model: string, version: string | undefined): void;
  /** server (and model) readiness */
  ready(): boolean | Promise<boolean>;
  /** body of GET /v2/models/{name}; may throw OipError(503) while unknown */
  modelMetadata(): unknown;
  /** Prometheus text for GET /metrics */
  metrics(): Promise<{ contentType: string; text: string }>;
  /** POST /v2/models/{name}/infer (the model already checked) */
  infer(req: http.IncomingMessage, res: http.ServerResponse): Promise<void>;
}

/** Dispatches one HTTP request to the v2 endpoints of `svc`; errors are answered as `{"error": ...}`. */
export async function handleV2(svc: V2Service, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const r = matchV2Route(req.url ?? '/');
  if (!r) throw new OipError(404, `no such endpoint: ${req.method} ${req.url}`);
  const method = req.method ?? 'GET';
  const want = r.kind === 'infer' ? 'POST' : 'GET';
  if (method !== want && !(want === 'GET' && method === 'HEAD')) {
    res.setHeader('Allow', want);
    throw new OipError(405, `${method} not allowed on ${req.url} (use ${want})`);
  }
  switch (r.kind) {
    case 'live':
      return sendJson(res, 200, { live: true });
    case 'ready': {
      const ready = await svc.ready();
      return sendJson(res, ready ? 200 : 503, { ready });
    }
    case 'server':
      return sendJson(res, 200, svc.serverMetadata());
    case 'metrics': {
      const { contentType, text } = await svc.metrics();
      res.writeHead(200, { 'Content-Type': contentType });
      res.end(text);
      return;
    }
    case 'model':
      svc.checkModel(r.model, r.version);
      return sendJson(res, 200, svc.modelMetadata());
    case 'modelReady': {
      svc.checkModel(r.model, r.version);
      const ready = await svc.ready();
      return sendJson(res, ready ? 200 : 503, { name: svc.name, ready });
    }
    case 'infer':
      svc.checkModel(r.model, r.version);
      return svc.infer(req, res);
  }
}

export interface V2HttpServer {
  server: http.Server;
  /** true once drain() has been called */
  readonly draining: boolean;
  /**
   * Stop accepting connections, let in-flight requests finish (`beforeClose` runs meanwhile, e.g. a
   * batch queue's drain), close idle keep-alive connections, and cut whatever is left after `timeoutMs`.
   */
  drain(timeoutMs: number, beforeClose?: () => Promise<void>): Promise<void>;
}

/** A node:http server answering the v2 endpoints of `svc`, with the timeouts both servers use. */
export function createV2HttpServer(svc: V2Service): V2HttpServer {
  let inFlight = 0;
  let draining = false;
  const server = http.createServer((req, res) => {
    inFlight++;
    res.once('close', () => inFlight--);
    handleV2(svc, req, res).catch((e) => {
      req.resume(); // a body left unread (refused early, e.g. unknown model) is discarded
      sendError(res, e);
    });
  });
  server.keepAliveTimeout = 65_000; // longer than typical client idle timeouts: fewer reset races
  server.requestTimeout = 60_000; // a client trickling a body cannot hold a socket forever
  server.headersTimeout = 30_000;

  const drain = async (timeoutMs: number, beforeClose?: () => Promise<void>): Promise<void> => {
    draining = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // keep-alive connections are closed as soon as they go idle (not after keepAliveTimeout)
    const idle = setInterval(() => server.closeIdleConnections(), 50);
    server.closeIdleConnections();
    const deadline = Date.now() + timeoutMs;
    try {
      await beforeClose?.();
      while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const cut = setTimeout(() => server.closeAllConnections(), Math.max(0, deadline - Date.now()));
      await closed;
      clearTimeout(cut);
    } finally {
      clearInterval(idle);
    }
  };

  return {
    server,
    get draining() {
      return draining;
    },
    drain,
  };
}

/** Resolves with the signal's name once SIGINT or SIGTERM arrives (the commands' shutdown wait). */
export function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.once('SIGINT', on);
    process.once('SIGTERM', on);
  });
}
