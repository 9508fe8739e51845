// Replica and cost arithmetic of `tinysaver roi` (runtime/roi) against hand-computed cases, the price
// file's checks, and the inputs it reads.
import { describe, expect, it } from 'vitest';
import { parseCapacityFile, parseCapacityNumber, parseOperatingPoint, parseTrafficProfile } from '../../runtime/roi/inputs.js';
import { parsePriceFile, replicaPricePerHour } from '../../runtime/roi/prices.js';
import { accuracyText, formatRoi, roiMarkdown, roiPlotSvg, verdict } from '../../runtime/roi/report.js';
import { type RoiInput, baseShare, computeRoi, replicasFor } from '../../runtime/roi/roi.js';
import { axisTicks } from '../../core/plot/svg.js';
import { CAPACITY_KIND, bestBatch, summarizeRuns, syntheticInputs } from '../../runtime/profile/measure.js';

// Hand-computed reference: peak 1000 rows/s, headroom 1.25 -> 1250 rows/s to provision.
//   base only: ceil(1250 / 300) = 5 base replicas x 2/h = 10/h = 7300 per 730-h month
//   cascade r = 0.8, a = 0.05: base share 1 - 0.8 + 0.04 = 0.24 -> 240 rows/s -> 300 / 300 = 1 base replica;
//     saver ceil(1250 / 2000) = 1 x 0.1/h; 2.1/h = 1533 per month; savings 5767
const A: RoiInput = {
  saverShare: 0.8,
  auditRate: 0.05,
  traffic: { meanRowsPerSecond: 400, peakRowsPerSecond: 1000 },
  saver: { rowsPerSecond: 2000, pricePerHour: 0.1 },
  base: { rowsPerSecond: 300, pricePerHour: 2 },
  headroom: 1.25,
};

describe('roi arithmetic', () => {
  it('replicas round up, with a floor, and a load landing exactly on capacity buys no extra replica', () => {
    expect(replicasFor(240, 300, 1.25)).toBe(1); // 300 / 300 exactly
    expect(replicasFor(241, 300, 1.25)).toBe(2); // 301.25 / 300
    expect(replicasFor(0, 300, 1.25)).toBe(1); // min replicas
    expect(replicasFor(0, 300, 1.25, 0)).toBe(0);
    expect(replicasFor(1000, 300, 1)).toBe(4); // 3.33 -> 4
    expect(baseShare(0.8, 0.05)).toBeCloseTo(0.24, 12);
  });

  it('base only vs cascade against the hand-computed case', () => {
    const r = computeRoi(A);
    expect(r.baseOnly.replicas).toEqual({ saver: 0, base: 5 });
    expect(r.baseOnly.perHour).toBeCloseTo(10, 9);
    expect(r.baseOnly.perMonth).toBeCloseTo(7300, 6);
    expect(r.cascade.replicas).toEqual({ saver: 1, base: 1 });
    expect(r.cascade.peakLoad.base).toBeCloseTo(240, 9);
    expect(r.cascade.perMonth).toBeCloseTo(1533, 6);
    expect(r.savingsPerMonth).toBeCloseTo(5767, 6);
    expect(r.savingsShare).toBeCloseTo(5767 / 7300, 9);
    expect(r.pays).toBe(true);
    // per million requests: 400 rows/s x 3600 x 730 = 1 051 200 000 requests a month
    expect(r.baseOnly.perMillionRequests).toBeCloseTo((7300 / 1_051_200_000) * 1e6, 9);
    // money cost ratio s = (0.1 / 2000) / (2 / 300) = 0.0075; fluid break-even s / (1 - a)
    expect(r.moneyCostRatio).toBeCloseTo(0.0075, 12);
    expect(r.breakEven.fluid).toBeCloseTo(0.0075 / 0.95, 12);
    expect(r.fluidRelativeCost).toBeCloseTo(0.0075 + 0.2 + 0.04, 12);
    // whole replicas: the base may keep k = 4 (4 x 2 + 0.1 < 10); 4 x 300 = 1200 of 1250 -> base share 0.96 -> r = 0.04 / 0.95
    expect(r.breakEven.wholeReplicas).toBeCloseTo(0.04 / 0.95, 6);
    expect(r.paybackMonths).toBeNull();
    expect(verdict(r)).toMatch(/^The cascade pays: it saves 5,767\.00 per month \(79\.0% of base only\)/);
  });

  it('the whole-replica break-even is where the cost actually drops below base only', () => {
    const be = computeRoi(A).breakEven.wholeReplicas;
    expect(computeRoi({ ...A, saverShare: Math.min(1, be + 1e-6) }).pays).toBe(true);
    expect(computeRoi({ ...A, saverShare: be - 1e-3 }).pays).toBe(false);
  });

  it('peak sizes the replicas, mean prices the requests', () => {
    const a = computeRoi(A);
    const b = computeRoi({ ...A, traffic: { meanRowsPerSecond: 800, peakRowsPerSecond: 1000 } });
    expect(b.baseOnly.replicas).toEqual(a.baseOnly.replicas);
    expect(b.cascade.perMonth).toBeCloseTo(a.cascade.perMonth, 9);
    expect(b.cascade.perMillionRequests).toBeCloseTo(a.cascade.perMillionRequests / 2, 9);
    const c = computeRoi({ ...A, traffic: { meanRowsPerSecond: 400, peakRowsPerSecond: 2000 } });
    expect(c.baseOnly.replicas.base).toBe(9); // ceil(2500 / 300)
  });

  it('zero saver share: the cascade costs more (the saver replicas on top), and the report says so', () => {
    const r = computeRoi({ ...A, saverShare: 0 });
    // base load = peak (+ a x 0): 5 base replicas plus 1 saver
    expect(r.cascade.replicas).toEqual({ saver: 1, base: 5 });
    expect(r.savingsPerMonth).toBeCloseTo(-0.1 * 730, 9);
    expect(r.pays).toBe(false);
    expect(verdict(r)).toMatch(/costs MORE than the base alone: 73\.00 per month extra/);
    expect(verdict(r)).toMatch(/at least 4\.2% of the rows/);
  });

  it('r = 1: the base keeps min replicas for escalations; audits still cost base capacity', () => {
    const r1 = computeRoi({ ...A, saverShare: 1, auditRate: 0 });
    expect(r1.cascade.replicas).toEqual({ saver: 1, base: 1 });
    expect(computeRoi({ ...A, saverShare: 1, auditRate: 0, minReplicas: 0 }).cascade.replicas.base).toBe(0);
    // audit cost: r = 1, a = 0.5 -> 500 rows/s to the base -> ceil(625 / 300) = 3
    const audited = computeRoi({ ...A, saverShare: 1, auditRate: 0.5 });
    expect(audited.cascade.peakLoad.base).toBeCloseTo(500, 9);
    expect(audited.cascade.replicas.base).toBe(3);
    expect(audited.breakEven.fluid).toBeCloseTo(0.0075 / 0.5, 12);
  });

  it('no share pays when the saver replicas alone cost as much as the base', () => {
    const r = computeRoi({ ...A, saver: { rowsPerSecond: 2000, pricePerHour: 10 } });
    expect(r.breakEven.wholeReplicas).toBe(Infinity);
    expect(r.pays).toBe(false);
    expect(verdict(r)).toMatch(/no saver share pays/);
  });

  it('payback of a training cost, and never when nothing is saved', () => {
    expect(computeRoi({ ...A, trainingCost: 11534 }).paybackMonths).toBeCloseTo(2, 9);
    expect(computeRoi({ ...A, saverShare: 0, trainingCost: 100 }).paybackMonths).toBe(Infinity);
  });

  it('a daily profile: static sized for its peak, autoscaled per slot', () => {
    const r = computeRoi({ ...A, traffic: { meanRowsPerSecond: 550, peakRowsPerSecond: 1000, slots: [100, 1000] } });
    // slot 100: base only 1 replica (2/h); cascade 1 saver + 1 base (2.1/h). slot 1000: 10/h vs 2.1/h
    expect(r.autoscaled!.baseOnlyPerMonth).toBeCloseTo(((2 + 10) / 2) * 730, 9);
    expect(r.autoscaled!.cascadePerMonth).toBeCloseTo(2.1 * 730, 9);
  });

  it('bad input names the field', () => {
    expect(() => computeRoi({ ...A, saver: { rowsPerSecond: 0, pricePerHour: 1 } })).toThrow(
      /saver capacity \(rows\/s per replica\): must be a finite number > 0, got 0/,
    );
    expect(() => computeRoi({ ...A, base: { rowsPerSecond: 300, pricePerHour: -1 } })).toThrow(
      /base price per replica-hour: must be a finite number >= 0/,
    );
    expect(() => computeRoi({ ...A, base: { rowsPerSecond: 300, pricePerHour: 0 } })).toThrow(/base price per replica-hour: is 0/);
    expect(() => computeRoi({ ...A, saverShare: 1.5 })).toThrow(/saver share r: must be in \[0, 1\]/);
    expect(() => computeRoi({ ...A, headroom: 0.5 })).toThrow(/headroom: must be a number >= 1/);
    expect(() => computeRoi({ ...A, traffic: { meanRowsPerSecond: 2000, peakRowsPerSecond: 1000 } })).toThrow(
      /mean 2000 rows\/s is above peak 1000/,
    );
    expect(() => computeRoi({ ...A, traffic: { meanRowsPerSecond: NaN, peakRowsPerSecond: 1000 } })).toThrow(/traffic mean rows\/s/);
  });
});

describe('price file', () => {
  it('prices replicas by cores, GPUs or node type', () => {
    const p = parsePriceFile('currency: EUR\ncpuCoreHour: 0.05\ngpuHour: 2\nnodeHour:\n  big: 3.5\n');
    expect(p).toEqual({ currency: 'EUR', cpuCoreHour: 0.05, gpuHour: 2, nodeHour: { big: 3.5 } });
    expect(replicaPricePerHour(p, { cores: 2, gpus: 1 }, 'base')).toBeCloseTo(2.1, 12);
    expect(replicaPricePerHour(p, { node: 'big' }, 'base')).toBe(3.5);
    expect(parsePriceFile('{"gpuHour": 1}')).toEqual({ gpuHour: 1 }); // JSON works too
  });

  it('rejects unknown keys, negative or non-numeric prices, and an empty file, naming the field', () => {
    expect(() => parsePriceFile('gpuHours: 2\n', 'p.yaml')).toThrow(/p\.yaml: unknown key "gpuHours"/);
    expect(() => parsePriceFile('gpuHour: -2\n', 'p.yaml')).toThrow(/p\.yaml: gpuHour: must be >= 0, got -2/);
    expect(() => parsePriceFile('cpuCoreHour: cheap\n', 'p.yaml')).toThrow(/p\.yaml: cpuCoreHour: must be a number/);
    expect(() => parsePriceFile('nodeHour:\n  a: -1\n', 'p.yaml')).toThrow(/nodeHour\.a: must be >= 0/);
    expect(() => parsePriceFile('currency: USD\n', 'p.yaml')).toThrow(
      /no prices: set cpuCoreHour, gpuHour or nodeHour \(nothing is defaulted\)/,
    );
    expect(() => parsePriceFile('- 1\n', 'p.yaml')).toThrow(/expected a mapping/);
  });

  it('a missing price is an error naming it, never a default', () => {
    const gpuOnly = parsePriceFile('gpuHour: 2\n');
    expect(() => replicaPricePerHour(gpuOnly, { cores: 1, gpus: 0 }, 'saver')).toThrow(
      /cpuCoreHour is missing \(a saver replica takes 1 core\(s\)/,
    );
    expect(() => replicaPricePerHour(parsePriceFile('cpuCoreHour: 1\n'), { cores: 0, gpus: 1 }, 'base')).toThrow(/gpuHour is missing/);
    expect(() => replicaPricePerHour(gpuOnly, { node: 'x' }, 'base')).toThrow(/nodeHour\.x is missing/);
    expect(() => replicaPricePerHour(gpuOnly, { cores: 0, gpus: 0 }, 'base')).toThrow(/takes no cores and no GPUs/);
  });
});

describe('roi inputs', () => {
  const sim = {
    auditRate: 0,
    sweep: [
      { threshold: 0, saverShare: 1 },
      { threshold: 0.5, saverShare: 0.9 },
      { threshold: 0.9, saverShare: 0.8 },
      { threshold: 'Infinity', saverShare: 0 },
    ],
    paper: null,
    paperNote: 'needs labels',
    budget: {
      threshold: 0.9,
      evaluation: { saverShare: 0.8, accuracyLoss: 0.002, disagreement: 0.006 },
      certification: { bound: 0.0087, epsilon: 0.01, delta: 0.05 },
    },
  };

  it('reads simulate --json: point, certified bound, sweep without the base-only row', () => {
    const p = parseOperatingPoint(JSON.stringify(sim), 'sim.json');
    expect(p).toMatchObject({ threshold: 0.9, saverShare: 0.8, lossBound: 0.0087, epsilon: 0.01, accuracyLoss: 0.002, auditRate: 0 });
    expect(p.confidence).toBeCloseTo(0.95, 12);
    expect(p.sweep).toHaveLength(3);
    expect(accuracyText(p)).toMatch(/at most 0\.87% of rows .* at 95% confidence, budget 1\.00%.*-0\.20 points/);
    expect(() => parseOperatingPoint(JSON.stringify(sim), 'sim.json', { point: 'paper' })).toThrow(
      /no paper operating point \(needs labels\)/,
    );
    expect(() => parseOperatingPoint('{"a":1}', 'x.json')).toThrow(/expected the output of tinysaver simulate --json/);
    expect(() => parseOperatingPoint('nope', 'x.json')).toThrow(/x\.json: not JSON/);
  });

  it('reads select --json: rank 1 or the saver named', () => {
    const sel = {
      ranking: [
        { rank: 1, name: 'a', budget: sim.budget },
        { rank: 2, name: 'b', budget: { ...sim.budget, evaluation: { saverShare: 0.5 } } },
      ],
    };
    expect(parseOperatingPoint(JSON.stringify(sel), 's.json').saverShare).toBe(0.8);
    expect(parseOperatingPoint(JSON.stringify(sel), 's.json', { saver: 'b' }).saverShare).toBe(0.5);
    expect(() => parseOperatingPoint(JSON.stringify(sel), 's.json', { saver: 'c' })).toThrow(/no saver "c" in the ranking \(have: a, b\)/);
  });

  it('capacities: a number, or a profile --measure file (its shape comes along); zero is refused', () => {
    expect(parseCapacityNumber('--base-capacity', '1200')?.rowsPerSecond).toBe(1200);
    expect(parseCapacityNumber('--base-capacity', 'cap.json')).toBeNull();
    expect(() => parseCapacityNumber('--base-capacity', '0')).toThrow(
      /--base-capacity: capacity must be a number of rows\/s per replica > 0, got 0/,
    );
    const file = {
      kind: CAPACITY_KIND,
      model: 'm.onnx',
      provider: 'cpu',
      cores: 2,
      measuredAt: 'now',
      batches: [],
      capacity: { batch: 64, rowsPerSecond: 900, rowsPerSecondPerCore: 450 },
    };
    expect(parseCapacityFile('--saver-capacity', 'c.json', JSON.stringify(file))).toMatchObject({
      rowsPerSecond: 900,
      shape: { cores: 2, gpus: 0 },
    });
    expect(parseCapacityFile('--saver-capacity', 'c.json', JSON.stringify({ ...file, provider: 'cuda' })).shape).toEqual({
      cores: 0,
      gpus: 1,
    });
    expect(() => parseCapacityFile('--saver-capacity', 'c.json', JSON.stringify({ ...file, capacity: { rowsPerSecond: 0 } }))).toThrow(
      /capacity\.rowsPerSecond must be a number > 0/,
    );
    expect(() => parseCapacityFile('--saver-capacity', 'c.json', '{"kind":"other"}')).toThrow(/not a capacity file/);
    const two = [file, { ...file, model: '/x/base.onnx' }];
    expect(parseCapacityFile('--base-capacity', 'c.json', JSON.stringify(two), 'base').source).toMatch(/^\/x\/base\.onnx/);
    expect(() => parseCapacityFile('--base-capacity', 'c.json', JSON.stringify(two))).toThrow(/holds 2 models/);
  });

  it('a traffic profile: numbers by comma, space or line, comments skipped', () => {
    expect(parseTrafficProfile('# hourly\n100, 200\n300 # peak\n', 'p')).toEqual([100, 200, 300]);
    expect(() => parseTrafficProfile('100\n-5\n', 'p.txt')).toThrow(/p\.txt: line 2: "-5"/);
    expect(() => parseTrafficProfile('# nothing\n', 'p.txt')).toThrow(/no values/);
  });
});

describe('roi report', () => {
  const point = parseOperatingPoint(
    JSON.stringify({
      auditRate: 0,
      sweep: [0, 0.2, 0.4, 0.6, 0.8, 0.9, 1].map((t) => ({ threshold: t, saverShare: 1 - t * 0.9 })),
      budget: {
        threshold: 0.8,
        evaluation: { saverShare: 0.28, accuracyLoss: 0.001 },
        certification: { bound: 0.009, epsilon: 0.01, delta: 0.05 },
      },
      paper: null,
    }),
    'sim.json',
  );
  const ctx = {
    point,
    auditRateSource: 'test',
    currency: 'EUR',
    shapes: { saver: { cores: 1, gpus: 0 }, base: { cores: 0, gpus: 1 } },
    capacitySources: { saver: 's', base: 'b' },
    plotFile: 'r.svg',
  };
  const r = computeRoi({ ...A, saverShare: point.saverShare });

  it('table, Markdown and SVG carry the same numbers', () => {
    const text = formatRoi(r, ctx);
    expect(text).toMatch(/base only\s+0\s+5\s+10\.00 EUR\s+7,300\.00 EUR/);
    const md = roiMarkdown(r, ctx, 'Will it pay off?');
    expect(md).toMatch(/^# Will it pay off\?/);
    expect(md).toContain('| base only | 0 | 5 | 10.00 EUR | 7,300.00 EUR |');
    expect(md).toContain('![monthly cost vs threshold](r.svg)');
    const svg = roiPlotSvg(r, ctx, 't')!;
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).not.toMatch(/NaN|Infinity/);
    expect(svg).toContain('base only: 7,300.00 EUR');
    // round tick labels on the money axis
    for (const m of svg.matchAll(/text-anchor="end">([0-9,]+)<\/text>/g)) expect(Number(m[1].replace(/,/g, '')) % 1000).toBe(0);
  });

  it('no plot without a sweep', () => {
    expect(roiPlotSvg(r, { ...ctx, point: { ...point, sweep: [] } }, 't')).toBeNull();
  });
});

describe('shared chart axis', () => {
  it('round ticks covering the range, starting and ending on a tick', () => {
    expect(axisTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(axisTicks(0, 4599)).toEqual([0, 1000, 2000, 3000, 4000, 5000]);
    const t = axisTicks(0.897, 0.933);
    expect(t[0]).toBeLessThanOrEqual(0.897);
    expect(t[t.length - 1]).toBeGreaterThanOrEqual(0.933);
    for (const v of t) expect(String(v)).toMatch(/^0\.\d{1,3}$/);
    expect(axisTicks(5, 5).length).toBeGreaterThan(1);
  });
});

describe('capacity measurement arithmetic', () => {
  it('rows/s per replica and per core, p50/p99, best batch', () => {
    const m = summarizeRuns(8, [1, 2, 3, 4], 10, 2);
    expect(m).toMatchObject({ batch: 8, runs: 4, p50Ms: 2, p99Ms: 4, meanMs: 2.5 });
    expect(m.rowsPerSecond).toBeCloseTo(3200, 9); // 32 rows in 10 ms
    expect(m.rowsPerSecondPerCore).toBeCloseTo(1600, 9);
    expect(summarizeRuns(1, [1], 1, null).rowsPerSecondPerCore).toBeNull();
    expect(bestBatch([m, summarizeRuns(64, [10], 10, 2)])).toMatchObject({ batch: 64, rowsPerSecond: 6400 });
  });

  it('synthetic inputs need a leading batch dimension and fixed others', () => {
    const feeds = syntheticInputs([{ name: 'x', datatype: 'FP32', shape: [-1, 1, 28, 28] }], 3);
    expect(feeds.x.shape).toEqual([3, 1, 28, 28]);
    expect(feeds.x.data.length).toBe(3 * 784);
    expect(() => syntheticInputs([{ name: 'x', datatype: 'FP32', shape: [-1, -1] }], 3)).toThrow(
      /input 'x' has a dynamic dimension at axis 1/,
    );
    expect(() => syntheticInputs([{ name: 'x', datatype: 'FP32', shape: [1, 4] }], 3)).toThrow(/fixed batch dimension 1/);
  });
});

describe('roi from decision logs (simulate --decisions --json)', () => {
  it('takes the certified point and sweep of the logged version', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { simulateDecisions } = await import('../../runtime/simulate/decisions.js');
    const { logTraffic, population } = await import('../support/decision-traffic.js');
    const dir = mkdtempSync(join(tmpdir(), 'roi-dlog-'));
    const log = join(dir, 'a.jsonl');
    const records: unknown[] = [];
    await logTraffic(population(3000, 7), { threshold: 0.8, auditRate: 0.3, sampleRate: 1, seed: 1 }, (r: unknown) => records.push(r));
    writeFileSync(log, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const w = await simulateDecisions([log], { costRatio: 0.05, epsilon: 0.05, delta: 0.05, step: 0.05 });
    const text = JSON.stringify({ title: 't', ...w }, (_k, v) => (v === Infinity ? 'Infinity' : v));
    const p = parseOperatingPoint(text, 'd.json');
    const cert = w.versions[0].report.certification;
    expect(p.source).toMatch(/^decision logs d\.json: cascade /);
    expect(p.threshold).toBe(cert.threshold);
    expect(p.saverShare).toBeGreaterThan(0);
    expect(p.sweep.length).toBeGreaterThan(5);
    expect(() => parseOperatingPoint(text, 'd.json', { saver: 'nope' })).toThrow(/no version of "nope"/);
  });
});
