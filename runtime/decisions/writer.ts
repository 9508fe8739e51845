// The decision log's queue: the request path only pushes a record object into a bounded array (no
// serialization, no I/O); a drain loop, after the current I/O turn, turns batches of records into lines
// and hands them to the sink, one write at a time. When the sink is slower than the traffic (a full pipe,
// a slow disk) the queue fills and further records are dropped and counted
// (tinysaver_decision_log_dropped_total) instead of waiting: the log never blocks a request.

import type { DecisionRecord } from './record.js';
import type { DecisionSink } from './sink.js';

export interface DecisionLogOptions {
  sink: DecisionSink;
  /** records waiting for the sink at most; beyond, records are dropped (default 8192) */
  maxQueue?: number;
  /** records per sink write at most (default 512) */
  batch?: number;
  /** called with the number of records dropped (queue full, or the sink failed) */
  onDrop?: (n: number) => void;
  /** called once per distinct sink error message */
  onError?: (message: string) => void;
}

export interface DecisionLogStats {
  queued: number;
  written: number;
  dropped: number;
  writeErrors: number;
}

export class DecisionLog {
  private queue: DecisionRecord[] = [];
  private draining = false;
  private scheduled = false;
  private closed = false;
  private readonly maxQueue: number;
  private readonly batch: number;
  private idleWaiters: Array<() => void> = [];
  private lastError: string | undefined;
  readonly stats: DecisionLogStats = { queued: 0, written: 0, dropped: 0, writeErrors: 0 };

  constructor(private readonly o: DecisionLogOptions) {
    this.maxQueue = o.maxQueue ?? 8192;
    this.batch = o.batch ?? 512;
    if (!Number.isInteger(this.maxQueue) || this.maxQueue < 1)
      throw new RangeError(`decision log: queue size must be an integer >= 1, got ${o.maxQueue}`);
    if (!Number.isInteger(this.batch) || this.batch < 1)
      throw new RangeError(`decision log: batch must be an integer >= 1, got ${o.batch}`);
  }

  get describe(): string {
    return this.o.sink.describe;
  }

  /** Queue a record; false (and counted as dropped) when the queue is full or the log is closed. */
  push(record: DecisionRecord): boolean {
    if (this.closed || this.queue.length >= this.maxQueue) {
      this.drop(1);
      return false;
    }
    this.queue.push(record);
    this.stats.queued++;
    if (!this.draining && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        void this.drain();
      });
    }
    return true;
  }

  private drop(n: number): void {
    this.stats.dropped += n;
    this.o.onDrop?.(n);
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        const take = this.queue.length <= this.batch ? this.queue.splice(0) : this.queue.splice(0, this.batch);
        const lines = new Array<string>(take.length);
        for (let i = 0; i < take.length; i++) lines[i] = JSON.stringify(take[i]) + '\n';
        try {
          await this.o.sink.write(lines);
          this.stats.written += take.length;
        } catch (e) {
          this.stats.writeErrors++;
          this.drop(take.length);
          const msg = `decision log: writing to ${this.o.sink.describe} failed: ${(e as Error).message}`;
          if (msg !== this.lastError) {
            this.lastError = msg;
            this.o.onError?.(msg);
          }
        }
      }
    } finally {
      this.draining = false;
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /** Resolves when everything queued so far has been written (or dropped), or after timeoutMs. */
  flush(timeoutMs = 5000): Promise<boolean> {
    if (this.queue.length === 0 && !this.draining && !this.scheduled) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref();
      const check = () => {
        if (this.queue.length === 0 && !this.draining) {
          clearTimeout(timer);
          resolve(true);
        } else this.idleWaiters.push(check);
      };
      this.idleWaiters.push(check);
      if (!this.draining && !this.scheduled) void this.drain();
    });
  }

  /** Flush (bounded), then close the sink; records queued after this are dropped. */
  async close(timeoutMs = 5000): Promise<void> {
    await this.flush(timeoutMs);
    this.closed = true;
    if (this.queue.length > 0) this.drop(this.queue.splice(0).length);
    // a sink stuck in a write (full pipe) must not hold the shutdown
    await Promise.race([this.o.sink.close().catch(() => undefined), new Promise((r) => setTimeout(r, 100).unref())]);
  }
}
