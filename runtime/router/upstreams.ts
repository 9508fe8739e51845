// The router's upstreams at startup: the saver's metadata (or the in-process saver), the base's
// metadata checked against it, and — under the fallback policy with the base not reachable yet — the
// background re-probe that enables escalation once the base is verified.

import { V2Client } from '../oip/client.js';
import { GrpcV2Client } from '../oip/grpc.js';
import { OipError, type InferRequest, type InferResponse, type ModelMetadata } from '../oip/types.js';
import type { Upstream } from './cascade.js';
import { cascadeMetadata, checkCompatible, type CascadeLayout, type ModelMeta } from './compat.js';
import { localSaver, loadLocalSaver, type LocalSaver } from './local-saver.js';
import type { RouterOptions } from './options.js';
import { upstreamLookup, type UpstreamLookup } from './lookup.js';

/** Longest startup wait for the base under the fallback policy before serving saver-only. */
const FALLBACK_BASE_WAIT_MS = 10_000;

export class IncompatibleError extends Error {}

/** What the router needs of a v2 client; V2Client (HTTP) and GrpcV2Client both are one. */
export type V2Upstream = Pick<V2Client, 'baseUrl' | 'metadata' | 'ready' | 'close'> & {
  infer(model: string, req: InferRequest, opts: { binary?: boolean; timeoutMs?: number }): Promise<InferResponse>;
};

export function boundUpstream(client: V2Upstream, model: string): Upstream {
  return {
    label: `"${model}" at ${client.baseUrl}`,
    infer: (req: InferRequest, timeoutMs: number) => client.infer(model, req, { binary: true, timeoutMs }),
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** Metadata of one upstream model, retried while the upstream is not (yet) reachable or ready. */
export async function fetchMetadata(
  role: string,
  client: V2Upstream,
  model: string,
  deadline: number,
  stop: () => boolean,
): Promise<ModelMetadata> {
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

type UpstreamSettings = Pick<
  RouterOptions,
  | 'name'
  | 'saverUrl'
  | 'saverModel'
  | 'saverOnnx'
  | 'saverSession'
  | 'saverIntraOpThreads'
  | 'saverTimeoutMs'
  | 'baseUrl'
  | 'baseModel'
  | 'baseProtocol'
  | 'baseTimeoutMs'
  | 'output'
  | 'failurePolicy'
  | 'startupTimeoutMs'
>;

/**
 * The saver and base as the router sees them: clients, the cascade's layout and metadata, and whether
 * the base is usable yet. `connect()` verifies both; `onLayout` hears of a layout found later.
 */
export class Upstreams {
  readonly saverClient: V2Client;
  readonly baseClient: V2Upstream;
  /** the saver run in this process (--saver-onnx), or undefined when it is called at saverUrl */
  local: LocalSaver | undefined;
  /** the cascade's metadata once known */
  metadata: ModelMeta | undefined;
  /** why the base is not usable yet, or undefined once verified */
  baseState: string | undefined;
  private saverMeta: ModelMeta | undefined;
  /** the base's model versions from its metadata, once verified (decision-log identity) */
  baseVersions: string[] | undefined;
  private stopped = false;
  private readonly dns: UpstreamLookup;

  constructor(
    private readonly opts: UpstreamSettings,
    private readonly log: (line: string) => void,
    private readonly onLayout: (layout: CascadeLayout) => void,
  ) {
    // one DNS lookup in flight per name, none into a dead resolver (lookup.ts): exit is not held by getaddrinfo
    this.dns = upstreamLookup();
    const lookup = this.dns.lookup;
    this.saverClient = new V2Client(opts.saverUrl, { timeoutMs: opts.saverTimeoutMs, lookup });
    this.baseClient =
      opts.baseProtocol === 'grpc'
        ? new GrpcV2Client(opts.baseUrl, { timeoutMs: opts.baseTimeoutMs })
        : new V2Client(opts.baseUrl, { timeoutMs: opts.baseTimeoutMs, lookup });
    this.baseState = `base "${opts.baseModel}" at ${opts.baseUrl} not verified yet`;
  }

  /** the saver's model versions from its metadata (decision-log identity) */
  get saverVersions(): string[] | undefined {
    return this.saverMeta?.versions;
  }

  get saver(): Upstream {
    return this.local ? this.local.upstream : boundUpstream(this.saverClient, this.opts.saverModel);
  }

  get base(): Upstream {
    return boundUpstream(this.baseClient, this.opts.baseModel);
  }

  /** Saver readiness (the in-process saver is always ready). */
  async saverReady(): Promise<boolean> {
    return this.local !== undefined || (await this.saverClient.ready(this.opts.saverModel, 1000));
  }

  /**
   * Loads or reaches the saver, then verifies the base. Under the fallback policy an unreachable base
   * leaves the saver serving alone (layout from the saver) and a background loop keeps probing it.
   */
  async connect(): Promise<CascadeLayout> {
    const opts = this.opts;
    const deadline = Date.now() + opts.startupTimeoutMs;
    if (opts.saverSession) this.local = localSaver(opts.saverSession, opts.saverModel);
    else if (opts.saverOnnx)
      this.local = await loadLocalSaver(opts.saverOnnx, { name: opts.saverModel, intraOpThreads: opts.saverIntraOpThreads });
    this.saverMeta = this.local
      ? this.local.metadata
      : await fetchMetadata('saver', this.saverClient, opts.saverModel, deadline, () => this.stopped);
    // Layout from the saver alone: used only while the base has not been verified (fallback mode).
    const own = checkCompatible(this.saverMeta, this.saverMeta, opts.output);
    if (!own.ok) throw new IncompatibleError(`saver "${opts.saverModel}": ${own.problems.join('; ')}`);
    try {
      // With the fallback policy the saver alone can serve, so the base gets a shorter wait.
      const layout = await this.verifyBase(
        opts.failurePolicy === 'fallback' ? Math.min(deadline, Date.now() + FALLBACK_BASE_WAIT_MS) : deadline,
      );
      this.baseState = undefined;
      return layout;
    } catch (e) {
      if (e instanceof IncompatibleError || opts.failurePolicy === 'error') throw e;
      // fallback policy: serve saver-only (rows marked fallback) and keep checking the base.
      this.log(`base not reachable at startup, serving saver-only (fallback) until it is: ${(e as Error).message}`);
      this.adopt(own.layout);
      void this.reprobeBase();
      return own.layout;
    }
  }

  stop(): void {
    this.stopped = true;
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.dns.close();
    this.saverClient.close();
    this.baseClient.close();
    await this.local?.close();
  }

  private async reprobeBase(): Promise<void> {
    while (!this.stopped && this.baseState !== undefined) {
      try {
        this.onLayout(await this.verifyBase(Date.now() + 5000));
        this.baseState = undefined;
        this.log(`base "${this.opts.baseModel}" verified; escalation enabled`);
      } catch (err) {
        this.baseState = `base not usable: ${(err as Error).message}`;
        if (err instanceof IncompatibleError) {
          this.log(this.baseState);
          return;
        }
      }
    }
  }

  private async verifyBase(deadline: number): Promise<CascadeLayout> {
    const opts = this.opts;
    const baseMeta = await fetchMetadata('base', this.baseClient, opts.baseModel, deadline, () => this.stopped);
    this.baseVersions = baseMeta.versions ?? [];
    const compat = checkCompatible(this.saverMeta!, baseMeta, opts.output);
    if (!compat.ok) {
      throw new IncompatibleError(
        `saver "${opts.saverModel}" and base "${opts.baseModel}" are not compatible:\n  - ${compat.problems.join('\n  - ')}`,
      );
    }
    this.adopt(compat.layout);
    return compat.layout;
  }

  private adopt(layout: CascadeLayout): void {
    this.metadata = {
      ...cascadeMetadata(this.opts.name, this.saverMeta!, layout),
      parameters: { tinysaver_saver_model: this.opts.saverModel, tinysaver_base_model: this.opts.baseModel },
    };
    if (layout.dropped.length > 0) this.log(`saver outputs not served by the cascade (the base lacks them): ${layout.dropped.join(', ')}`);
  }
}
