// A small v2 client over node:http with a keep-alive Agent (no fetch: the router's hot path wants
// the lowest per-request overhead). Errors are OipErrors: the upstream's status and message when it
// answered, 503 when it could not be reached, 504 on timeout, 502 when its answer was malformed.

import http from 'node:http';
import type { LookupFunction } from 'node:net';
import { decodeInferResponse, encodeInferRequest, parseHeaderLength, HEADER_LENGTH_HEADER } from './codec.js';
import { BodyCollector } from './body.js';
import { OipError, type InferRequest, type InferResponse, type ModelMetadata } from './types.js';

export interface V2ClientOptions {
  /** default per-request timeout (ms); default 30000 */
  timeoutMs?: number;
  /** max concurrent sockets to the upstream; default 64 */
  maxSockets?: number;
  /** largest response body accepted (bytes); default 256 MiB */
  maxResponseBytes?: number;
  /** name resolution for new connections (default dns.lookup); the router shares one lookup per name */
  lookup?: LookupFunction;
}

export interface InferOptions {
  /** send inputs and ask for outputs in the binary tensor extension (default true) */
  binary?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
}

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export class V2Client {
  readonly baseUrl: string;
  private readonly agent: http.Agent;
  private readonly hostname: string;
  private readonly port: number;
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly lookup: LookupFunction | undefined;

  constructor(baseUrl: string, opts: V2ClientOptions = {}) {
    const u = new URL(baseUrl);
    if (u.protocol !== 'http:') throw new Error(`V2Client: only http:// URLs are supported, got ${baseUrl}`);
    this.baseUrl = baseUrl;
    this.hostname = u.hostname.replace(/^\[|\]$/g, '');
    this.port = u.port ? Number(u.port) : 80;
    this.prefix = u.pathname.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.maxResponseBytes = opts.maxResponseBytes ?? 256 * 1024 * 1024;
    this.lookup = opts.lookup;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 64, scheduling: 'lifo' });
  }

  async infer(model: string, req: InferRequest, opts: InferOptions = {}): Promise<InferResponse> {
    const binary = opts.binary ?? true;
    const enc = encodeInferRequest(req, { binaryInputs: binary, binaryOutputs: binary });
    const r = await this.request(
      'POST',
      `/v2/models/${encodeURIComponent(model)}/infer`,
      enc.body,
      enc.headers,
      opts.timeoutMs,
      opts.signal,
    );
    if (r.status !== 200) throw upstreamError(r);
    try {
      return decodeInferResponse(r.body, parseHeaderLength(r.headers[HEADER_LENGTH_HEADER]));
    } catch (e) {
      if (e instanceof OipError) throw new OipError(502, `malformed response from ${this.baseUrl}: ${e.message}`);
      throw e;
    }
  }

  async metadata(model: string): Promise<ModelMetadata> {
    const r = await this.request('GET', `/v2/models/${encodeURIComponent(model)}`);
    if (r.status !== 200) throw upstreamError(r);
    try {
      return JSON.parse(r.body.toString('utf8')) as ModelMetadata;
    } catch (e) {
      throw new OipError(502, `malformed metadata from ${this.baseUrl}: ${(e as Error).message}`);
    }
  }

  /** Server readiness (no model) or one model's readiness; false on any error. */
  async ready(model?: string, timeoutMs?: number): Promise<boolean> {
    const path = model === undefined ? '/v2/health/ready' : `/v2/models/${encodeURIComponent(model)}/ready`;
    try {
      const r = await this.request('GET', path, undefined, undefined, timeoutMs);
      return r.status === 200;
    } catch {
      return false;
    }
  }

  close(): void {
    this.agent.destroy();
  }

  private request(
    method: string,
    path: string,
    body?: Buffer,
    headers?: Record<string, string>,
    timeoutMs?: number,
    signal?: AbortSignal,
    retried = false,
  ): Promise<RawResponse> {
    if (signal?.aborted) return Promise.reject(new OipError(503, `request to ${this.baseUrl} aborted`));
    return new Promise<RawResponse>((resolve, reject) => {
      let done = false;
      const finish = (err: Error | null, value?: RawResponse): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(value!);
      };
      const req = http.request(
        {
          method,
          hostname: this.hostname,
          port: this.port,
          path: this.prefix + path,
          agent: this.agent,
          headers,
          ...(this.lookup ? { lookup: this.lookup } : {}),
        },
        (res) => {
          const tooBig = (): void => {
            req.destroy(new OipError(502, `response from ${this.baseUrl} exceeds ${this.maxResponseBytes} bytes`));
          };
          const declared = Number(res.headers['content-length']);
          if (declared > this.maxResponseBytes) return tooBig();
          let hl = 0;
          try {
            hl = parseHeaderLength(res.headers[HEADER_LENGTH_HEADER]) ?? 0;
          } catch {
            // a bad header length is reported by the decoder
          }
          const body = new BodyCollector(Number.isSafeInteger(declared) ? declared : undefined, hl);
          res.on('data', (c: Buffer) => {
            if (body.length + c.length > this.maxResponseBytes) return tooBig();
            body.push(c);
          });
          res.once('end', () => finish(null, { status: res.statusCode ?? 0, headers: res.headers, body: body.finish() }));
          res.once('error', (e) => finish(toOipError(e, this.baseUrl)));
        },
      );
      const limit = timeoutMs ?? this.timeoutMs;
      const timer = setTimeout(
        () => req.destroy(new OipError(504, `request to ${this.baseUrl}${path} timed out after ${limit} ms`)),
        limit,
      );
      const onAbort = (): void => {
        req.destroy(new OipError(503, `request to ${this.baseUrl} aborted`));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      req.once('error', (e: NodeJS.ErrnoException) => {
        // A keep-alive socket the server closed while idle: safe to retry once (nothing was answered).
        if (!retried && !done && req.reusedSocket && e.code === 'ECONNRESET') {
          done = true;
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          this.request(method, path, body, headers, timeoutMs, signal, true).then(resolve, reject);
          return;
        }
        finish(toOipError(e, this.baseUrl));
      });
      req.end(body);
    });
  }
}

function toOipError(e: Error, baseUrl: string): OipError {
  if (e instanceof OipError) return e;
  const code = (e as NodeJS.ErrnoException).code ?? e.message;
  return new OipError(503, `upstream ${baseUrl} unreachable: ${code}`);
}

function upstreamError(r: RawResponse): OipError {
  let message = `upstream answered HTTP ${r.status}`;
  try {
    const j = JSON.parse(r.body.toString('utf8')) as { error?: unknown };
    if (typeof j.error === 'string') message = j.error;
  } catch {
    // not JSON: keep the generic message
  }
  return new OipError(r.status, message);
}
