// The gRPC v2 edge (`inference.GRPCInferenceService`) both servers share, and a gRPC v2 client for
// the router's upstreams. @grpc/grpc-js serves, @grpc/proto-loader reads the spec's .proto
// (runtime/oip/proto/grpc_predict_v2.proto): no protobuf is encoded by hand here.

import type { Http2Session } from 'node:http2';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { PACKAGE_ROOT } from '../../models/zoo.js';
import {
  grpcCode,
  httpStatusOf,
  inferRequestFromGrpc,
  inferRequestToGrpc,
  inferResponseFromGrpc,
  inferResponseToGrpc,
  metadataFromGrpc,
  metadataToGrpc,
  type GrpcInferRequest,
  type GrpcInferResponse,
  type GrpcTensor,
} from './grpc-codec.js';
import { OipError, type InferRequest, type InferResponse, type ModelMetadata } from './types.js';

export const PROTO_PATH = path.join(PACKAGE_ROOT, 'runtime', 'oip', 'proto', 'grpc_predict_v2.proto');
export const SERVICE_NAME = 'inference.GRPCInferenceService';

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true, // field names exactly as in the spec (raw_input_contents, ...)
  longs: String, // int64 shapes and contents exact
  enums: String,
  defaults: true,
  oneofs: true,
};

let definition: grpc.ServiceDefinition | undefined;
let clientCtor: grpc.ServiceClientConstructor | undefined;

function service(): { def: grpc.ServiceDefinition; Client: grpc.ServiceClientConstructor } {
  if (!definition || !clientCtor) {
    const pkg = protoLoader.loadSync(PROTO_PATH, LOADER_OPTIONS);
    const loaded = grpc.loadPackageDefinition(pkg) as unknown as { inference: { GRPCInferenceService: grpc.ServiceClientConstructor } };
    clientCtor = loaded.inference.GRPCInferenceService;
    definition = clientCtor.service;
  }
  return { def: definition, Client: clientCtor };
}

/** What a server supplies to the gRPC edge (the same checks and core as its HTTP edge). */
export interface GrpcV2Service {
  serverMetadata(): { name: string; version: string; extensions: string[] };
  /** throws OipError(404) when `model`/`version` is not served ('' means any version) */
  checkModel(model: string, version: string | undefined): void;
  ready(): boolean | Promise<boolean>;
  modelMetadata(): ModelMetadata;
  /**
   * One decoded request through the server's core (validation, batching or the cascade, metrics);
   * `bytes` is the received message size. `after` runs once the response is sent (router audits).
   */
  infer(req: InferRequest, bytes: number): Promise<{ response: InferResponse; after?: () => void }>;
  /** counts a request refused before it reached `infer` (bad message), with its HTTP-equivalent status */
  refused?(status: number): void;
}

export interface GrpcServerOptions {
  host: string;
  /** 0 picks a free port */
  port: number;
  /** largest message accepted (RESOURCE_EXHAUSTED beyond, by grpc-js before decoding) */
  maxReceiveBytes: number;
  /** HTTP/2 receive window, stream and connection level (default FLOW_CONTROL_WINDOW) */
  flowControlWindow?: number;
}

/**
 * The server's HTTP/2 receive window (per stream and per connection). HTTP/2 starts both at 64 KiB:
 * a 32-row Fashion-MNIST request (100 KiB of raw contents) then stalls half-way until the server's
 * WINDOW_UPDATE reaches the client, and 32 concurrent calls on one connection share 64 KiB in flight.
 * 8 MiB lets a client send a few dozen such requests without waiting (grpc-go's BDP estimation grows
 * its window up to 16 MiB the same way). Only credit: memory is used by what clients actually send,
 * bounded per message by maxReceiveBytes. Measured in bench/grpc.ts (runtime/server/README.md).
 */
export const FLOW_CONTROL_WINDOW = 8 * 1024 * 1024;

/**
 * Raises the HTTP/2 receive window of every connection `server` accepts. grpc-js 1.14 reads
 * `grpc-node.flow_control_window` on its client only (the server side is grpc/grpc-node PR #3058,
 * not released); until then this does what that PR does, through the two members it uses: the
 * settings passed to http2.createServer (per-stream initial window) and each new session's
 * setLocalWindowSize (connection window). Returns false, changing nothing, when grpc-js no longer has
 * them (the server then runs with HTTP/2's 64 KiB default; a unit test notices).
 */
export function raiseFlowControlWindow(server: grpc.Server, window: number): boolean {
  const internals = server as unknown as {
    commonServerOptions?: { settings?: Record<string, unknown> };
    createHttp2Server?: (credentials: unknown) => { on(event: 'session', listener: (s: Http2Session) => void): unknown };
  };
  const own = internals.createHttp2Server;
  if (!internals.commonServerOptions || typeof own !== 'function') return false;
  internals.commonServerOptions.settings = { ...internals.commonServerOptions.settings, initialWindowSize: window };
  internals.createHttp2Server = function (credentials: unknown) {
    const h2 = own.call(this, credentials);
    h2.on('session', (session: Http2Session) => {
      const raise = () => {
        if (!session.destroyed) session.setLocalWindowSize(window);
      };
      if (session.connecting) session.once('connect', raise);
      else raise();
    });
    return h2;
  };
  return true;
}

export interface RunningGrpcServer {
  port: number;
  /** host:port for clients */
  address: string;
  /** stop accepting calls; in-flight calls finish, cut after `timeoutMs` */
  drain(timeoutMs: number): Promise<void>;
}

function toServiceError(e: unknown): Partial<grpc.StatusObject> {
  if (e instanceof OipError) return { code: grpcCode(e.status), details: e.message };
  console.error('internal error:', e);
  return { code: grpc.status.INTERNAL, details: 'internal server error' };
}

function unary<Req, Res>(fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res> | Res): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => fn(call.request, call))
      .then(
        (res) => callback(null, res),
        (e) => callback(toServiceError(e) as grpc.ServiceError),
      );
  };
}

const version = (v: string | undefined) => (v ? v : undefined);

export async function startGrpcServer(svc: GrpcV2Service, opts: GrpcServerOptions): Promise<RunningGrpcServer> {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': opts.maxReceiveBytes,
    'grpc.max_send_message_length': -1,
    // channelz (per-call counters and traces for the grpc.channelz service) is not served here; off,
    // it is one object and a few timestamps less per call
    'grpc.enable_channelz': 0,
  });
  raiseFlowControlWindow(server, opts.flowControlWindow ?? FLOW_CONTROL_WINDOW);
  const { def } = service();
  server.addService(def, {
    ServerLive: unary(() => ({ live: true })),
    ServerReady: unary(async () => ({ ready: await svc.ready() })),
    ModelReady: unary(async (r: { name: string; version: string }) => {
      svc.checkModel(r.name, version(r.version));
      return { ready: await svc.ready() };
    }),
    ServerMetadata: unary(() => svc.serverMetadata()),
    ModelMetadata: unary((r: { name: string; version: string }) => {
      svc.checkModel(r.name, version(r.version));
      return metadataToGrpc(svc.modelMetadata());
    }),
    ModelInfer: (call: grpc.ServerUnaryCall<GrpcInferRequest, GrpcInferResponse>, callback: grpc.sendUnaryData<GrpcInferResponse>) => {
      const m = call.request;
      let after: (() => void) | undefined;
      Promise.resolve()
        .then(() => {
          svc.checkModel(m.model_name, version(m.model_version));
          let req: InferRequest;
          try {
            req = inferRequestFromGrpc(m);
          } catch (e) {
            if (e instanceof OipError) svc.refused?.(e.status);
            throw e;
          }
          return svc.infer(req, rawSize(m));
        })
        .then(
          (r) => {
            after = r.after;
            callback(null, inferResponseToGrpc(r.response));
            after?.();
          },
          (e) => callback(toServiceError(e) as grpc.ServiceError),
        );
    },
  });
  const hostPort = `${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}`;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(hostPort, grpc.ServerCredentials.createInsecure(), (err, p) => {
      if (err) {
        reject(
          new Error(
            `gRPC: cannot listen on ${hostPort}: ${err.message}${/in use/i.test(err.message) ? ' (another server on that port?); pick another --grpc-port' : ''}`,
          ),
        );
      } else resolve(p);
    });
  });
  const shownHost = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  let draining: Promise<void> | undefined;
  return {
    port,
    address: `${shownHost}:${port}`,
    drain: (timeoutMs: number) => {
      draining ??= new Promise<void>((resolve) => {
        const cut = setTimeout(() => server.forceShutdown(), timeoutMs);
        server.tryShutdown(() => {
          clearTimeout(cut);
          resolve();
        });
      });
      return draining;
    },
  };
}

/** Bytes a request holds in memory (its raw contents; typed contents counted at 8 bytes per value). */
function rawSize(m: GrpcInferRequest): number {
  let n = 0;
  for (const b of m.raw_input_contents ?? []) n += b.length;
  for (const t of m.inputs ?? []) {
    const c = t.contents;
    if (!c) continue;
    for (const v of Object.values(c)) if (Array.isArray(v)) n += v.length * 8;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// client

export interface GrpcV2ClientOptions {
  timeoutMs?: number;
  maxReceiveBytes?: number;
}

/**
 * A v2 client over gRPC with the V2Client's shape (infer/metadata/ready/close, OipErrors carrying the
 * HTTP-equivalent status), so the router can call a gRPC-only upstream (--base-protocol grpc).
 */
export class GrpcV2Client {
  readonly baseUrl: string;
  private readonly client: grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  private readonly timeoutMs: number;

  /** `target`: host:port (a grpc:// or http:// prefix is accepted and dropped) */
  constructor(target: string, opts: GrpcV2ClientOptions = {}) {
    const hostPort = target.replace(/^[a-z]+:\/\//, '').replace(/\/+$/, '');
    this.baseUrl = `grpc://${hostPort}`;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    const { Client } = service();
    this.client = new Client(hostPort, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': opts.maxReceiveBytes ?? 256 * 1024 * 1024,
      'grpc.max_send_message_length': -1,
      // the client side of the same window (grpc-js reads it on clients): large answers do not stall
      'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW,
      'grpc.enable_channelz': 0,
    }) as unknown as grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  }

  private call<Res>(method: string, req: unknown, timeoutMs?: number): Promise<Res> {
    const limit = timeoutMs ?? this.timeoutMs;
    return new Promise<Res>((resolve, reject) => {
      this.client[method](req, { deadline: Date.now() + limit }, (err: grpc.ServiceError | null, res: Res) => {
        if (!err) return resolve(res);
        const status = httpStatusOf(err.code);
        const what = err.code === grpc.status.DEADLINE_EXCEEDED ? `timed out after ${limit} ms` : err.details || err.message;
        reject(
          new OipError(
            status,
            status === 503 && err.code === grpc.status.UNAVAILABLE && !err.details ? `upstream ${this.baseUrl} unreachable` : `${what}`,
          ),
        );
      });
    });
  }

  async infer(model: string, req: InferRequest, opts: { timeoutMs?: number } = {}): Promise<InferResponse> {
    const res = await this.call<GrpcInferResponse>('ModelInfer', inferRequestToGrpc(model, req), opts.timeoutMs);
    return inferResponseFromGrpc(res);
  }

  async metadata(model: string): Promise<ModelMetadata> {
    const m = await this.call<{ name: string; versions: string[]; platform: string; inputs: GrpcTensor[]; outputs: GrpcTensor[] }>(
      'ModelMetadata',
      { name: model, version: '' },
    );
    return metadataFromGrpc(m);
  }

  async ready(model?: string, timeoutMs?: number): Promise<boolean> {
    try {
      const r =
        model === undefined
          ? await this.call<{ ready: boolean }>('ServerReady', {}, timeoutMs)
          : await this.call<{ ready: boolean }>('ModelReady', { name: model, version: '' }, timeoutMs);
      return r.ready === true;
    } catch {
      return false;
    }
  }

  async serverMetadata(): Promise<{ name: string; version: string; extensions: string[] }> {
    return this.call('ServerMetadata', {});
  }

  async live(): Promise<boolean> {
    return (await this.call<{ live: boolean }>('ServerLive', {})).live;
  }

  close(): void {
    this.client.close();
  }
}
