// List+watch cache for one resource collection. Relists when the watch's resourceVersion has expired
// (410 Gone, or an ERROR event carrying 410), re-watches from the last seen version when the server
// closes a watch normally, and backs off with jitter on other errors.
import { ApiError, type KubeClient, type WatchEvent } from './client.js';
import { backoffDelay, sleep } from './backoff.js';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export type InformerEvent = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface InformerOptions<T> {
  name: string;
  /** Collection path, e.g. /apis/apps/v1/deployments (all namespaces) or a namespaced one. */
  path: string;
  labelSelector?: string;
  /** `old`: the cached object this event replaces (MODIFIED) or removes (DELETED), when the cache held one */
  onEvent: (type: InformerEvent, obj: T, old?: T) => void;
  onError?: (err: unknown) => void;
  /** Server-side watch timeout; default 240-360 s, randomized so many informers don't re-watch in lockstep. */
  watchTimeoutSeconds?: number;
  /** Counts relists (metrics / tests). */
  onRelist?: (reason: string) => void;
  /**
   * Secondary index: objects grouped by this key (e.g. "namespace/cascade" from a label), read with
   * byIndex(); undefined leaves an object out. Saves a scan of the whole cache per reconcile.
   */
  indexBy?: (obj: T) => string | undefined;
}

/** managedFields are large and unused by controllers reading the cache; dropping them roughly halves memory. */
function slim<T extends KubeObject>(o: T): T {
  if (o?.metadata && 'managedFields' in o.metadata) delete (o.metadata as Record<string, unknown>).managedFields;
  return o;
}

export function objectKey(o: { metadata: { name: string; namespace?: string } }): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

export class Informer<T extends KubeObject> {
  private readonly cache = new Map<string, T>();
  private readonly index = new Map<string, Map<string, T>>();
  private synced = false;
  private syncedWaiters: (() => void)[] = [];
  private loop?: Promise<void>;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: InformerOptions<T>,
  ) {}

  get hasSynced(): boolean {
    return this.synced;
  }

  waitForSync(): Promise<void> {
    return this.synced ? Promise.resolve() : new Promise((r) => this.syncedWaiters.push(r));
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  get size(): number {
    return this.cache.size;
  }

  /** Objects whose indexBy key is `key` (an empty list without indexBy). */
  byIndex(key: string): T[] {
    const m = this.index.get(key);
    return m ? [...m.values()] : [];
  }

  private put(key: string, obj: T): void {
    const old = this.cache.get(key);
    if (old) this.unindex(key, old);
    this.cache.set(key, obj);
    const ik = this.opts.indexBy?.(obj);
    if (ik === undefined) return;
    let m = this.index.get(ik);
    if (!m) this.index.set(ik, (m = new Map()));
    m.set(key, obj);
  }

  private remove(key: string): void {
    const old = this.cache.get(key);
    if (old) this.unindex(key, old);
    this.cache.delete(key);
  }

  private unindex(key: string, obj: T): void {
    const ik = this.opts.indexBy?.(obj);
    if (ik === undefined) return;
    const m = this.index.get(ik);
    if (!m) return;
    m.delete(key);
    if (m.size === 0) this.index.delete(ik);
  }

  start(signal: AbortSignal): void {
    this.loop = this.run(signal);
  }

  async stopped(): Promise<void> {
    await this.loop;
  }

  private async relist(signal: AbortSignal): Promise<string> {
    const list = await this.client.get<{ metadata: { resourceVersion: string }; items: T[] }>(this.opts.path, {
      query: { labelSelector: this.opts.labelSelector },
      signal,
      timeoutMs: 60_000,
    });
    const seen = new Set<string>();
    for (const item of list.items.map(slim)) {
      const key = objectKey(item);
      seen.add(key);
      const old = this.cache.get(key);
      this.put(key, item);
      if (!old) this.opts.onEvent('ADDED', item);
      else if (old.metadata.resourceVersion !== item.metadata.resourceVersion) this.opts.onEvent('MODIFIED', item, old);
    }
    for (const [key, old] of this.cache) {
      if (!seen.has(key)) {
        this.remove(key);
        this.opts.onEvent('DELETED', old);
      }
    }
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncedWaiters.splice(0)) w();
    }
    return list.metadata.resourceVersion;
  }

  private async run(signal: AbortSignal): Promise<void> {
    let rv: string | undefined;
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (rv === undefined) rv = await this.relist(signal);
        let expired = false;
        await this.client.watch(
          this.opts.path,
          {
            labelSelector: this.opts.labelSelector,
            resourceVersion: rv,
            allowWatchBookmarks: true,
            timeoutSeconds: this.opts.watchTimeoutSeconds ?? 240 + Math.floor(Math.random() * 120),
          },
          (ev: WatchEvent<T>) => {
            if (ev.type === 'ERROR') {
              const status = ev.object as unknown as { code?: number; message?: string };
              if (status.code === 410) expired = true;
              else this.opts.onError?.(new Error(`${this.opts.name} watch error: ${status.message ?? 'unknown'}`));
              return;
            }
            const newRv = ev.object?.metadata?.resourceVersion;
            if (newRv) rv = newRv;
            if (ev.type === 'BOOKMARK') return;
            slim(ev.object);
            const key = objectKey(ev.object);
            const old = this.cache.get(key);
            if (ev.type === 'DELETED') this.remove(key);
            else this.put(key, ev.object);
            this.opts.onEvent(ev.type, ev.object, old);
          },
          signal,
        );
        failures = 0;
        if (expired) {
          this.opts.onRelist?.('expired');
          rv = undefined;
        }
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof ApiError && err.status === 410) {
          this.opts.onRelist?.('gone');
          rv = undefined;
          continue;
        }
        this.opts.onError?.(err);
        rv = undefined;
        await sleep(backoffDelay(failures++, { baseMs: 200, maxMs: 30_000 }), signal);
      }
    }
  }
}
