import { describe, expect, it } from 'vitest';
import { takeGroup } from '../../runtime/router/coalesce.js';
import { concatRows, sliceRowRange } from '../../runtime/router/split.js';

describe('takeGroup', () => {
  it('takes the head and later items with its key within the row cap, FIFO, and leaves the rest in order', () => {
    const q = [
      { id: 1, key: 'a', rows: 2 },
      { id: 2, key: 'b', rows: 1 },
      { id: 3, key: 'a', rows: 3 },
      { id: 4, key: 'a', rows: 4 },
      { id: 5, key: 'a', rows: 1 },
    ];
    const g = takeGroup(q, 6);
    expect(g.map((x) => x.id)).toEqual([1, 3, 5]);
    expect(q.map((x) => x.id)).toEqual([2, 4]);
    expect(takeGroup(q, 6).map((x) => x.id)).toEqual([2]);
    expect(takeGroup(q, 1).map((x) => x.id)).toEqual([4]); // the head goes even when over the cap
    expect(q).toEqual([]);
  });
});

describe('concatRows / sliceRowRange', () => {
  it('stacks along dim 0 and slices back without mixing rows', () => {
    const a = { name: 'x', datatype: 'FP32', shape: [1, 2], data: new Float32Array([1, 2]) };
    const b = { name: 'x', datatype: 'FP32', shape: [2, 2], data: new Float32Array([3, 4, 5, 6]) };
    const ab = concatRows([a, b]);
    expect(ab.shape).toEqual([3, 2]);
    expect(ab.data).toBeInstanceOf(Float32Array);
    expect([...ab.data]).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...sliceRowRange(ab, 1, 2).data]).toEqual([3, 4, 5, 6]);
    expect(sliceRowRange(ab, 1, 2).shape).toEqual([2, 2]);
    expect(sliceRowRange(ab, 0, 3)).toBe(ab);
    const s = concatRows([
      { name: 's', datatype: 'BYTES', shape: [1], data: [Buffer.from('p')] },
      { name: 's', datatype: 'BYTES', shape: [1], data: [Buffer.from('q')] },
    ]);
    expect(s.data.map(String)).toEqual(['p', 'q']);
    expect(sliceRowRange(s, 1, 1).data.map(String)).toEqual(['q']);
  });
});
