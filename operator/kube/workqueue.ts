// Work queue keyed by "namespace/name": a key is never processed by two workers at once, a key added
// while it is being processed runs once more afterwards, and failures retry with exponential backoff and
// jitter (the retry count resets after a success).
import { backoffDelay, type BackoffOptions } from './backoff.js';

export type Handler = (key: string) => Promise<void>;

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private waiters: (() => void)[] = [];
  private stopped = false;
  private running: Promise<void>[] = [];

  constructor(
    private readonly handler: Handler,
    private readonly opts: BackoffOptions & { workers: number; onError?: (key: string, err: unknown, retryInMs: number) => void },
  ) {}

  get length(): number {
    return this.queue.length;
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.waiters.shift()?.();
  }

  addAfter(key: string, ms: number): void {
    if (this.stopped || this.timers.has(key)) return;
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        this.add(key);
      }, ms),
    );
  }

  start(): void {
    for (let i = 0; i < this.opts.workers; i++) this.running.push(this.worker());
  }

  /** Stops taking work; resolves when in-flight handlers finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const w of this.waiters) w();
    this.waiters = [];
    await Promise.all(this.running);
  }

  private next(): Promise<string | undefined> {
    return new Promise((resolve) => {
      const take = () => {
        if (this.stopped) return resolve(undefined);
        const key = this.queue.shift();
        if (key === undefined) {
          this.waiters.push(take);
          return;
        }
        this.queued.delete(key);
        // marked before the worker resumes: an add() in between must not hand the key to a second worker
        this.processing.add(key);
        resolve(key);
      };
      take();
    });
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.next();
      if (key === undefined) return;
      try {
        await this.handler(key);
        this.failures.delete(key);
      } catch (err) {
        const n = this.failures.get(key) ?? 0;
        this.failures.set(key, n + 1);
        const delay = backoffDelay(n, this.opts);
        this.opts.onError?.(key, err, delay);
        this.addAfter(key, delay);
      } finally {
        this.processing.delete(key);
        if (this.dirty.delete(key)) this.add(key);
      }
    }
  }
}
