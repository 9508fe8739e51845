import { describe, expect, it } from 'vitest';
import { gatherRows, mergeRows, partitionRows, rowSize, sliceTensorRows } from '../../runtime/router/split.js';

describe('partitionRows', () => {
  it('keeps rows at or above the threshold and escalates the rest, NaN included', () => {
    const p = partitionRows([0.95, 0.5, 0.9, NaN, 0.89999], 0.9);
    expect([...p.saver]).toEqual([0, 2]);
    expect([...p.escalated]).toEqual([1, 3, 4]);
  });
  it('threshold 0 keeps every finite row; threshold above 1 escalates all', () => {
    expect([...partitionRows([0, 1, 0.3], 0).saver]).toEqual([0, 1, 2]);
    expect([...partitionRows([0, 1, 0.3], 1.01).escalated]).toEqual([0, 1, 2]);
  });
});

describe('row gather, slice and merge', () => {
  it('rowSize is the product of the non-batch dims', () => {
    expect(rowSize([4, 1, 28, 28])).toBe(784);
    expect(rowSize([3])).toBe(1);
  });

  it('gathers rows of typed and plain arrays, keeping the array kind', () => {
    const f = gatherRows(new Float32Array([0, 1, 10, 11, 20, 21]), 2, [2, 0]);
    expect(f).toBeInstanceOf(Float32Array);
    expect([...f]).toEqual([20, 21, 0, 1]);
    const b = gatherRows([Buffer.from('a'), Buffer.from('b'), Buffer.from('c')], 1, [1]);
    expect(Array.isArray(b)).toBe(true);
    expect(b[0].toString()).toBe('b');
  });

  it('slices a tensor along dim 0 (a view into a larger buffer included)', () => {
    const backing = new Float32Array([99, 0, 1, 2, 3, 4, 5]);
    const t = { name: 'x', datatype: 'FP32', shape: [3, 2], data: backing.subarray(1) };
    const s = sliceTensorRows(t, [1]);
    expect(s.shape).toEqual([1, 2]);
    expect([...s.data]).toEqual([2, 3]);
    expect(() => sliceTensorRows({ ...t, shape: [] }, [0])).toThrow(/no batch dimension/);
  });

  it('merges base rows back into their original positions', () => {
    const saver = { name: 'logits', datatype: 'FP32', shape: [4, 2], data: new Float32Array([0, 0, 1, 1, 2, 2, 3, 3]) };
    const base = { name: 'logits', datatype: 'FP32', shape: [2, 2], data: new Float32Array([-1, -1, -3, -3]) };
    const merged = mergeRows(saver, base, [1, 3]);
    expect([...merged.data]).toEqual([0, 0, -1, -1, 2, 2, -3, -3]);
    expect([...saver.data]).toEqual([0, 0, 1, 1, 2, 2, 3, 3]); // input untouched
  });

  it('refuses base outputs of the wrong shape, size or datatype', () => {
    const saver = { name: 'logits', datatype: 'FP32', shape: [2, 3], data: new Float32Array(6) };
    expect(() => mergeRows(saver, { name: 'logits', datatype: 'FP32', shape: [1, 2], data: new Float32Array(2) }, [0])).toThrow(
      /shape \[1,2\] for 1 rows/,
    );
    expect(() => mergeRows(saver, { name: 'logits', datatype: 'FP32', shape: [2, 3], data: new Float32Array(6) }, [0])).toThrow(
      /for 1 rows/,
    );
    expect(() => mergeRows(saver, { name: 'logits', datatype: 'FP32', shape: [1, 3], data: new Float32Array(2) }, [0])).toThrow(
      /2 elements, expected 3/,
    );
    expect(() => mergeRows(saver, { name: 'logits', datatype: 'FP64', shape: [1, 3], data: new Float64Array(3) }, [0])).toThrow(/FP64/);
  });
});
