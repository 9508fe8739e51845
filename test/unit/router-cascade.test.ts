// The cascade's queueing logic with a gated upstream (the test decides when the saver answers), so
// coalescing and the queue bound are checked deterministically. The HTTP path is covered by the
// integration suites against real model servers.
import { describe, expect, it } from 'vitest';
import { OipError, type InferRequest, type InferResponse } from '../../runtime/oip/types.js';
import { CircuitBreaker } from '../../runtime/router/breaker.js';
import { Cascade, type Upstream } from '../../runtime/router/cascade.js';
import { createRouterMetrics } from '../../runtime/router/metrics.js';

/** Answers each call when release() is called; logits make row i confident iff its input is > 0. */
function gatedUpstream(label: string) {
  const calls: Array<{ req: InferRequest; release: () => void }> = [];
  const up: Upstream = {
    label,
    infer: (req) =>
      new Promise<InferResponse>((resolve) => {
        const x = req.inputs[0];
        const rows = x.shape[0];
        const logits = new Float32Array(rows * 2);
        for (let i = 0; i < rows; i++) logits[i * 2] = (x.data as Float32Array)[i] > 0 ? 20 : 0;
        calls.push({ req, release: () => resolve({ model_name: label, outputs: [{ name: 'logits', datatype: 'FP32', shape: [rows, 2], data: logits }] }) });
      }),
  };
  return { up, calls };
}

function cascade(saver: Upstream, base: Upstream, maxQueueRows = 100) {
  return new Cascade({
    name: 'cascade',
    saver,
    base,
    layout: { scoreOutput: 'logits', classes: 2, outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 2] }], dropped: [] },
    metrics: createRouterMetrics('cascade'),
    settings: { threshold: 0.9, auditRate: 0 },
    measure: 'max-prob',
    probabilities: false,
    failurePolicy: 'fallback',
    saverTimeoutMs: 1000,
    baseTimeoutMs: 1000,
    breaker: new CircuitBreaker({ failureThreshold: 5, cooldownMs: 1000 }),
    auditConcurrency: 0,
    seed: 1,
    maxSaverCalls: 1,
    maxCoalesceRows: 64,
    maxQueueRows,
    baseUsable: () => undefined,
  });
}

const req = (...values: number[]): InferRequest => ({ inputs: [{ name: 'x', datatype: 'FP32', shape: [values.length, 1], data: Float32Array.from(values) }] });
const tick = () => new Promise((r) => setImmediate(r));

describe('Cascade queueing', () => {
  it('sends a lone request at once, merges those that wait, and answers each with its own rows', async () => {
    const saver = gatedUpstream('saver');
    const base = gatedUpstream('base');
    const c = cascade(saver.up, base.up);
    const first = c.infer(req(1));
    expect(saver.calls).toHaveLength(1); // no waiting for company
    const second = c.infer(req(1, -1));
    const third = c.infer(req(-1));
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
    expect(r1.response.parameters?.tinysaver_routes).toEqual(['saver']);
    expect(r2.response.parameters?.tinysaver_routes).toEqual(['saver', 'base']);
    expect(r3.response.parameters?.tinysaver_routes).toEqual(['base']);
    expect(r2.response.outputs[0].shape).toEqual([2, 2]);
  });

  it('answers 429 naming the limit when too many rows wait, and recovers', async () => {
    const saver = gatedUpstream('saver');
    const c = cascade(saver.up, gatedUpstream('base').up, 4);
    const inFlight = c.infer(req(1, 1, 1, 1, 1, 1)); // bigger than the limit, but the queue was empty
    const waiting = c.infer(req(1, 1, 1));
    await expect(c.infer(req(1, 1))).rejects.toThrow(OipError);
    await expect(c.infer(req(1, 1))).rejects.toThrow(/router queue full: 3 rows waiting .*--max-queue-rows/);
    saver.calls[0].release();
    await tick();
    saver.calls[1].release();
    await Promise.all([inFlight, waiting]);
    const later = c.infer(req(1, 1));
    saver.calls[2].release();
    expect((await later).response.outputs[0].shape).toEqual([2, 2]);
  });
});
