import { describe, expect, it } from 'vitest';
import { WorkQueue } from '../../operator/kube/workqueue.js';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe('WorkQueue', () => {
  it('never runs one key on two workers at once and re-runs a key added while it was processing', async () => {
    let active = 0;
    let maxActive = 0;
    const runs: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const q = new WorkQueue(
      async (key) => {
        active++;
        maxActive = Math.max(maxActive, active);
        runs.push(key);
        if (runs.length === 1) await gate;
        active--;
      },
      { workers: 4, baseMs: 1, maxMs: 10 },
    );
    q.start();
    q.add('ns/a');
    await tick();
    q.add('ns/a'); // while processing: marked dirty, not run concurrently
    q.add('ns/a'); // deduplicated
    await tick();
    expect(maxActive).toBe(1);
    expect(runs).toEqual(['ns/a']);
    release();
    for (let i = 0; i < 100 && runs.length < 2; i++) await tick(10);
    expect(runs).toEqual(['ns/a', 'ns/a']);
    await q.stop();
  });

  it('runs different keys in parallel', async () => {
    let active = 0;
    let maxActive = 0;
    const q = new WorkQueue(
      async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        await tick(10);
        active--;
      },
      { workers: 3, baseMs: 1, maxMs: 10 },
    );
    q.start();
    for (const k of ['a', 'b', 'c']) q.add(k);
    await tick(30);
    expect(maxActive).toBe(3);
    await q.stop();
  });

  it('retries failures with backoff, reports them, and resets the count after a success', async () => {
    const delays: number[] = [];
    let calls = 0;
    const q = new WorkQueue(
      async () => {
        calls++;
        if (calls <= 3) throw new Error(`fail ${calls}`);
      },
      { workers: 1, baseMs: 4, maxMs: 1000, onError: (_k, err, retryInMs) => delays.push(retryInMs) },
    );
    q.start();
    q.add('k');
    for (let i = 0; i < 200 && calls < 4; i++) await tick(10);
    await tick(20);
    expect(calls).toBe(4);
    expect(delays).toHaveLength(3);
    // Jittered within [d/2, d] with d = 4, 8, 16 ms.
    expect(delays[0]).toBeGreaterThanOrEqual(2);
    expect(delays[0]).toBeLessThanOrEqual(4);
    expect(delays[2]).toBeGreaterThanOrEqual(8);
    expect(delays[2]).toBeLessThanOrEqual(16);
    await q.stop();
  });

  it('stop() waits for in-flight work and drops pending retries', async () => {
    let finished = false;
    const q = new WorkQueue(
      async () => {
        await tick(20);
        finished = true;
      },
      { workers: 1, baseMs: 1, maxMs: 10 },
    );
    q.start();
    q.add('k');
    await tick(2);
    await q.stop();
    expect(finished).toBe(true);
    q.add('k2');
    expect(q.length).toBe(0);
  });
});
