import { describe, expect, it } from 'vitest';
import { CONFIDENCE_BUCKETS } from '../../core/cascade/buckets.js';
import { bucketsFromVector, parseVectorResponse } from '../../operator/telemetry/prometheus.js';

const answer = (result: unknown) => JSON.stringify({ status: 'success', data: { resultType: 'vector', result } });

describe('Prometheus source parsing', () => {
  it('parses instant vectors and rejects errors and other shapes', () => {
    const v = parseVectorResponse(answer([{ metric: { le: '0.5' }, value: [1700000000, '12.5'] }]));
    expect(v).toEqual([{ metric: { le: '0.5' }, value: 12.5 }]);
    expect(() => parseVectorResponse('<html>')).toThrow(/not JSON/);
    expect(() => parseVectorResponse(JSON.stringify({ status: 'error', error: 'parse error at char 3' }))).toThrow(/parse error at char 3/);
    expect(() => parseVectorResponse(JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: [] } }))).toThrow(
      /instant vector/,
    );
    expect(() => parseVectorResponse(answer([{ metric: {}, value: [1, 3] }]))).toThrow(/result\[0\]/);
  });

  it('turns fractional cumulative increase() buckets into non-negative integer per-bucket counts', () => {
    const edges = CONFIDENCE_BUCKETS;
    const samples = [
      { metric: { le: '0.5', agree: 'true' }, value: 10.4 },
      { metric: { le: '0.9', agree: 'true' }, value: 9.9 }, // extrapolation made it dip: clamped, never negative
      { metric: { le: '1', agree: 'true' }, value: 30.2 },
      { metric: { le: '+Inf', agree: 'true' }, value: 30.2 },
      { metric: { le: '1', agree: 'false' }, value: 99 },
    ];
    const b = bucketsFromVector(samples, { agree: 'true' }, edges);
    expect(b).toHaveLength(edges.length + 1);
    expect(b.every((x) => Number.isInteger(x) && x >= 0)).toBe(true);
    expect(b.reduce((a, x) => a + x, 0)).toBe(30);
    expect(b[edges.indexOf(0.5)]).toBe(10);
    expect(b[edges.indexOf(1)]).toBe(20);
    expect(() => bucketsFromVector([{ metric: { le: '0.33' }, value: 1 }], {}, edges)).toThrow(/grid/);
    expect(() => bucketsFromVector([{ metric: { le: '1' }, value: NaN }], {}, edges)).toThrow(/NaN/);
  });
});
