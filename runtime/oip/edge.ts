// The v2 HTTP edge both servers share (model server and router): path matching of the v2 routes,
// the health/metadata/metrics endpoints, method checks, graceful draining of the node:http server,
// and the wait for SIGINT/SIGTERM of the commands. Each server supplies only what differs: its
// model check, readiness, metadata and the infer handler.

import http from 'node:http';
import type { Socket } from 'node:net';
import { OipError } from './types.js';
import { sendError, sendJson } from './http.js';

export type V2Route =
  { kind: 'live' | 'ready' | 'server' | 'metrics' } | { kind: 'model' | 'modelReady' | 'infer'; model: string; version?: string };

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

/**
 * Status of a readiness answer that says "not ready" (GET /v2/health/ready, /v2/models/{name}/ready).
 * The v2 spec: "200 indicating true and a 4xx status code indicating false"; 400 as Triton answers.
 * Kubernetes HTTP probes count any status >= 400 as a failure, so the pod still leaves the Service
 * endpoints while not ready. Infer while not ready stays 503 (an error, not a yes/no answer).
 */
export const NOT_READY_STATUS = 400;

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
      return sendJson(res, ready ? 200 : NOT_READY_STATUS, { ready });
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
      return sendJson(res, ready ? 200 : NOT_READY_STATUS, { name: svc.name, ready });
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
   * Graceful stop: stop accepting connections; from now on every response says `Connection: close`
   * (the client opens no further request on that connection), every request read is answered,
   * in-flight requests finish (`beforeClose` runs meanwhile, e.g. a batch queue's drain); keep-alive
   * connections idle for `idleGraceMs` are closed; whatever is left after `timeoutMs` is cut.
   */
  drain(timeoutMs: number, beforeClose?: () => Promise<void>): Promise<void>;
}

/**
 * A keep-alive connection idle this long during a drain is closed. Closing an idle HTTP/1.1
 * connection always races with a client that sends on it at that instant (the request is then
 * reset unanswered); a connection in use gets `Connection: close` on its next response instead, so
 * only connections idle for a while are closed, where that race is unlikely.
 */
export const DRAIN_IDLE_GRACE_MS = 1000;

interface ConnState {
  active: number;
  idleSince: number;
}

/** A node:http server answering the v2 endpoints of `svc`, with the timeouts both servers use. */
export function createV2HttpServer(svc: V2Service, opts: { idleGraceMs?: number } = {}): V2HttpServer {
  const idleGraceMs = opts.idleGraceMs ?? DRAIN_IDLE_GRACE_MS;
  let draining = false;
  const conns = new Map<Socket, ConnState>();
  const open = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const conn = conns.get(req.socket);
    if (conn) conn.active++;
    open.add(res);
    res.once('close', () => {
      open.delete(res);
      if (conn) {
        conn.active--;
        conn.idleSince = Date.now();
      }
    });
    if (draining) res.setHeader('Connection', 'close');
    handleV2(svc, req, res).catch((e) => {
      req.resume(); // a body left unread (refused early, e.g. unknown model) is discarded
      sendError(res, e);
    });
  });
  server.on('connection', (socket: Socket) => {
    conns.set(socket, { active: 0, idleSince: Date.now() });
    socket.once('close', () => conns.delete(socket));
  });
  server.keepAliveTimeout = 65_000; // longer than typical client idle timeouts: fewer reset races
  server.requestTimeout = 60_000; // a client trickling a body cannot hold a socket forever
  server.headersTimeout = 30_000;

  const closeIdle = (minIdleMs: number) => {
    const now = Date.now();
    for (const [socket, c] of conns) if (c.active === 0 && now - c.idleSince >= minIdleMs) socket.destroy();
  };

  const drain = async (timeoutMs: number, beforeClose?: () => Promise<void>): Promise<void> => {
    draining = true;
    for (const res of open) if (!res.headersSent) res.setHeader('Connection', 'close');
    // http.Server.close() would also close every idle keep-alive connection at once, racing with
    // clients about to send on them; stop accepting only, and close idle ones after the grace.
    const own = server.closeIdleConnections;
    server.closeIdleConnections = () => undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections = own;
    const idle = setInterval(() => closeIdle(idleGraceMs), 50);
    const deadline = Date.now() + timeoutMs;
    const cut = setTimeout(() => server.closeAllConnections(), timeoutMs);
    try {
      await beforeClose?.();
      while (open.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await closed;
    } finally {
      clearInterval(idle);
      clearTimeout(cut);
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
