// The cascade's queueing logic with a gated upstream (the test decides when the saver answers), so
// coalescing and the queue bound are checked deterministically. The HTTP path is covered by the
// integration suites against real model servers.
import { parseRoutes } from '../../runtime/router/row-params.js';
import { describe, expect, it } from 'vitest';
import { OipError, type InferRequest, type InferResponse } from '../../runtime/oip/types.js';
import { CircuitBreaker } from '../../runtime/router/breaker.js';
import { Cascade, type Upstream } from '../../runtime/router/cascade.js';
import { createRouterMetrics } from '../../runtime/router/metrics.js';

/**
 * Answers each call when release() is called; logits make row i confident iff its input is > 0. A
 * negative input (keep it in (-1, 0): still unconfident) is echoed as the second logit, so a test can
 * tell which rows came back where.
 */
function gatedUpstream(label: string) {
  const calls: Array<{ req: InferRequest; release: () => void; fail: (e: Error) => void }> = [];
  const up: Upstream = {
    label,
    infer: (req) =>
      new Promise<InferResponse>((resolve, reject) => {
        const x = req.inputs[0];
        const rows = x.shape[0];
        const logits = new Float32Array(rows * 2);
        for (let i = 0; i < rows; i++) {
          const v = (x.data as Float32Array)[i];
          logits[i * 2] = v > 0 ? 20 : 0;
          logits[i * 2 + 1] = v < 0 ? v : 0;
        }
        calls.push({
          req,
          fail: reject,
          release: () => resolve({ model_name: label, outputs: [{ name: 'logits', datatype: 'FP32', shape: [rows, 2], data: logits }] }),
        });
      }),
  };
  return { up, calls };
}

function cascade(saver: Upstream, base: Upstream, maxQueueRows = 100, over: { maxSaverCalls?: number; maxBaseCalls?: number } = {}) {
  return new Cascade({
    name: 'cascade',
    saver,
    base,
    layout: { scoreOutput: 'logits', classes: 2, outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 2] }], dropped: [] },
    metrics: createRouterMetrics('cascade'),
    settings: { threshold: 0.9, auditRate: 0 },
    confidence: 'max-prob',
    probabilities: false,
    failurePolicy: 'fallback',
    saverTimeoutMs: 1000,
    baseTimeoutMs: 1000,
    breaker: new CircuitBreaker({ failureThreshold: 5, cooldownMs: 1000 }),
    auditConcurrency: 0,
    seed: 1,
    maxSaverCalls: over.maxSaverCalls ?? 1,
    maxCoalesceRows: 64,
    maxQueueRows,
    maxBaseCalls: over.maxBaseCalls ?? 4,
    baseUsable: () => undefined,
  });
}

const req = (...values: number[]): InferRequest => ({
  inputs: [{ name: 'x', datatype: 'FP32', shape: [values.length, 1], data: Float32Array.from(values) }],
});
const tick = () => new Promise((r) => setImmediate(r));

describe('Cascade queueing', () => {
  it('sends a lone request after its own turn, merges those that wait, and answers each with its own rows', async () => {
    const saver = gatedUpstream('saver');
    const base = gatedUpstream('base');
    const c = cascade(saver.up, base.up);
    const first = c.infer(req(1));
    await tick();
    expect(saver.calls).toHaveLength(1); // no waiting for company beyond this turn
    const second = c.infer(req(1, -1));
    await tick();
    const third = c.infer(req(-1));
    await tick();
    expect(saver.calls).toHaveLength(1); // queued behind the call in flight
    saver.calls[0].release();
    await tick();
    expect(saver.calls).toHaveLength(2);
    expect(saver.calls[1].req.inputs[0].shape).toEqual([3, 1]); // second + third merged
    saver.calls[1].release();
    await tick();
    expect(base.calls).toHaveLength(1);
    expect([...(base.calls[0].req.inputs[0].data as Float32Array)]).toEqual([-1, -1]); // the unconfident rows, once
    base.calls[0].release();
    const [r1, r2, r3] = await Promise.all([first, second, third]);
    expect(parseRoutes(r1.response.parameters)).toEqual(['saver']);
    expect(parseRoutes(r2.response.parameters)).toEqual(['saver', 'base']);
    expect(parseRoutes(r3.response.parameters)).toEqual(['base']);
    expect(r2.response.outputs[0].shape).toEqual([2, 2]);
  });

  it('requests arriving in the same event-loop turn share one saver call even with free slots', async () => {
    const saver = gatedUpstream('saver');
    const c = cascade(saver.up, gatedUpstream('base').up, 100, { maxSaverCalls: 4 });
    const replies = [c.infer(req(1)), c.infer(req(1, 1)), c.infer(req(1))];
    expect(saver.calls).toHaveLength(0);
    await tick();
    expect(saver.calls).toHaveLength(1);
    expect(saver.calls[0].req.inputs[0].shape).toEqual([4, 1]);
    saver.calls[0].release();
    const shapes = (await Promise.all(replies)).map((r) => r.response.outputs[0].shape);
    expect(shapes).toEqual([
      [1, 2],
      [2, 2],
      [1, 2],
    ]);
  });

  it('merges escalations that wait for a base call; each request gets its own base rows back', async () => {
    const saver = gatedUpstream('saver');
    const base = gatedUpstream('base');
    const c = cascade(saver.up, base.up, 100, { maxSaverCalls: 4, maxBaseCalls: 1 });
    const first = c.infer(req(-0.1));
    await tick();
    saver.calls[0].release();
    await tick();
    expect(base.calls).toHaveLength(1); // a lone escalation goes out at once
    const second = c.infer(req(-0.2, 1, -0.3));
    await tick();
    const third = c.infer(req(-0.4));
    await tick();
    expect(saver.calls).toHaveLength(3); // separate saver calls (different turns, free slots)
    saver.calls[1].release();
    saver.calls[2].release();
    await tick();
    expect(base.calls).toHaveLength(1); // waiting for the one base slot
    base.calls[0].release();
    await tick();
    expect(base.calls).toHaveLength(2);
    expect([...(base.calls[1].req.inputs[0].data as Float32Array)].map((v) => Math.round(v * 10) / 10)).toEqual([-0.2, -0.3, -0.4]);
    base.calls[1].release();
    const [r1, r2, r3] = await Promise.all([first, second, third]);
    const echo = (r: typeof r1) => {
      const d = r.response.outputs[0].data as Float32Array;
      return Array.from({ length: d.length / 2 }, (_, i) => Math.round(d[i * 2 + 1] * 10) / 10);
    };
    expect(echo(r1)).toEqual([-0.1]);
    expect(parseRoutes(r2.response.parameters)).toEqual(['base', 'saver', 'base']);
    expect(echo(r2)).toEqual([-0.2, 0, -0.3]);
    expect(echo(r3)).toEqual([-0.4]);
    expect(c.baseBatcher.calls).toBe(2);
  });

  it('a failed merged base call falls back for every request in it, naming the error', async () => {
    const saver = gatedUpstream('saver');
    const base = gatedUpstream('base');
    const c = cascade(saver.up, base.up, 100, { maxSaverCalls: 4, maxBaseCalls: 1 });
    const first = c.infer(req(-0.1));
    await tick();
    saver.calls[0].release();
    await tick();
    const second = c.infer(req(-0.2));
    await tick();
    const third = c.infer(req(-0.3, 1));
    await tick();
    saver.calls[1].release();
    saver.calls[2].release();
    await tick();
    base.calls[0].release();
    await tick();
    base.calls[1].fail(new Error('boom'));
    const [r1, r2, r3] = await Promise.all([first, second, third]);
    expect(parseRoutes(r1.response.parameters)).toEqual(['base']);
    expect(parseRoutes(r2.response.parameters)).toEqual(['fallback']);
    expect(parseRoutes(r3.response.parameters)).toEqual(['fallback', 'saver']);
    expect(r3.response.parameters?.tinysaver_degraded).toBe('base base: boom');
  });

  it('answers 429 naming the limit when too many rows wait, and recovers', async () => {
    const saver = gatedUpstream('saver');
    const c = cascade(saver.up, gatedUpstream('base').up, 4);
    const inFlight = c.infer(req(1, 1, 1, 1, 1, 1)); // bigger than the limit, but the queue was empty
    await tick();
    const waiting = c.infer(req(1, 1, 1));
    await expect(c.infer(req(1, 1))).rejects.toThrow(OipError);
    await expect(c.infer(req(1, 1))).rejects.toThrow(/router queue full: 3 rows waiting .*--max-queue-rows/);
    saver.calls[0].release();
    await tick();
    saver.calls[1].release();
    await Promise.all([inFlight, waiting]);
    const later = c.infer(req(1, 1));
    await tick();
    saver.calls[2].release();
    expect((await later).response.outputs[0].shape).toEqual([2, 2]);
  });
});
