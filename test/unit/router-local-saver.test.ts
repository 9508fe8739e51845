// The in-router saver's load-time check: the router merges requests along dim 0, so a saver graph
// with a fixed batch dimension is refused with an error naming the tensor (the ONNX path is covered
// by test/integration/router-in-process.test.ts).
import { describe, expect, it } from 'vitest';
import type { OnnxModel } from '../../runtime/onnx/session.js';
import { localSaver } from '../../runtime/router/local-saver.js';

function graph(inputShape: number[], outputShape: number[]): OnnxModel {
  return {
    path: 'fixed.onnx',
    provider: 'cpu',
    inputs: [{ name: 'input', datatype: 'FP32', shape: inputShape }],
    outputs: [{ name: 'logits', datatype: 'FP32', shape: outputShape }],
    run: async () => ({}),
    release: async () => undefined,
  };
}

describe('localSaver', () => {
  it('refuses a fixed batch dimension on an input or an output, naming it', () => {
    expect(() => localSaver(graph([1, 784], [-1, 10]), 'saver')).toThrow(/tensor 'input' has shape \[1,784\].*dynamic batch dimension/);
    expect(() => localSaver(graph([-1, 784], [1, 10]), 'saver')).toThrow(/tensor 'logits' has shape \[1,10\]/);
  });

  it('accepts a dynamic batch dimension and reports the graph as the saver metadata', () => {
    const s = localSaver(graph([-1, 784], [-1, 10]), 'my-saver');
    expect(s.metadata).toMatchObject({
      name: 'my-saver',
      inputs: [{ name: 'input', shape: [-1, 784] }],
      outputs: [{ name: 'logits', shape: [-1, 10] }],
    });
  });
});
