import { describe, expect, it } from 'vitest';
import { cascadeMetadata, checkCompatible, classCount, type ModelMeta } from '../../runtime/router/compat.js';

const model = (name: string, over: Partial<ModelMeta> = {}): ModelMeta => ({
  name,
  platform: 'onnxruntime',
  inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 1, 28, 28] }],
  outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 10] }],
  ...over,
});

describe('checkCompatible', () => {
  it('accepts matching models and serves the saver tensors under the cascade name', () => {
    const r = checkCompatible(model('saver'), model('base'));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.layout).toMatchObject({ scoreOutput: 'logits', classes: 10, dropped: [] });
    const meta = cascadeMetadata('cascade', model('saver'), r.layout);
    expect(meta.name).toBe('cascade');
    expect(meta.inputs).toEqual(model('saver').inputs);
    expect(meta.outputs).toEqual(model('saver').outputs);
  });

  it('treats -1 as compatible with a fixed dimension', () => {
    const base = model('base', { inputs: [{ name: 'input', datatype: 'FP32', shape: [8, 1, 28, 28] }] });
    expect(checkCompatible(model('saver'), base).ok).toBe(true);
  });

  it('lists every problem with names', () => {
    const base = model('base', {
      inputs: [{ name: 'pixels', datatype: 'FP16', shape: [-1, 784] }],
      outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 100] }],
    });
    const r = checkCompatible(model('saver'), base);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.join('\n')).toMatch(/input "input" of the saver "saver" is missing in the base "base" \(it has: pixels\)/);
    expect(r.problems.join('\n')).toMatch(/input "pixels" of the base "base" is missing in the saver/);
    expect(r.problems.join('\n')).toMatch(/saver "saver" has 10 classes, base "base" has 100/);
  });

  it('names a wrong datatype, shape and --output', () => {
    const r1 = checkCompatible(model('s'), model('b', { inputs: [{ name: 'input', datatype: 'FP64', shape: [-1, 1, 28, 28] }] }));
    expect(r1.ok ? '' : r1.problems.join()).toMatch(/saver "s" takes FP32, base "b" takes FP64/);
    const r2 = checkCompatible(model('s'), model('b', { inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3, 28, 28] }] }));
    expect(r2.ok ? '' : r2.problems.join()).toMatch(/shape \[-1,1,28,28\], base "b" shape \[-1,3,28,28\]/);
    const r3 = checkCompatible(model('s'), model('b'), 'probs');
    expect(r3.ok ? '' : r3.problems.join()).toMatch(
      /scores output "probs" \(--output\) is not an output of the saver "s" \(it has: logits\)/,
    );
  });

  it('drops saver outputs the base lacks, keeps the scores output', () => {
    const saver = model('s', {
      outputs: [
        { name: 'logits', datatype: 'FP32', shape: [-1, 10] },
        { name: 'embedding', datatype: 'FP32', shape: [-1, 64] },
      ],
    });
    const r = checkCompatible(saver, model('b'));
    expect(r.ok && r.layout.dropped).toEqual(['embedding']);
    expect(r.ok && r.layout.outputs.map((t) => t.name)).toEqual(['logits']);
  });

  it('classCount', () => {
    expect(classCount([-1, 10])).toBe(10);
    expect(classCount([-1, -1])).toBe(-1);
    expect(classCount([-1, 2, 5])).toBe(10);
  });
});
