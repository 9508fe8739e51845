// The simulator's pure parts on hand-made predictions: JSONL parsing, the sweep metrics, the split,
// both operating-point rules, the ModelCascade snippet against the CRD, and saver ranking.
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { type Predictions, parsePredictionsJsonl, predictionsToJsonl } from '../../runtime/simulate/predictions.js';
import { rankSavers } from '../../runtime/simulate/select.js';
import { paperThreshold, simulate } from '../../runtime/simulate/simulate.js';
import { modelCascadeSnippet } from '../../runtime/simulate/snippet.js';
import { allRows, defaultThresholds, evaluateThreshold, seededSplit } from '../../runtime/simulate/sweep.js';
import { plotSvg } from '../../runtime/simulate/plot.js';
import { certifyThreshold } from '../../core/cascade/certify.js';
import { controlSettings } from '../../operator/threshold/spec.js';
import { decide } from '../../operator/threshold/policy.js';
import { zeroCounters } from '../../operator/telemetry/counters.js';

function preds(rows: Array<[number, number, number, number]>): Predictions {
  return {
    count: rows.length,
    saverConfidence: Float64Array.from(rows.map((r) => r[0])),
    saverTop1: Int32Array.from(rows.map((r) => r[1])),
    baseTop1: Int32Array.from(rows.map((r) => r[2])),
    labels: Int32Array.from(rows.map((r) => r[3])),
  };
}

describe('predictions JSONL', () => {
  it('parses full scores (logits and probabilities) and compact rows', () => {
    const text = [
      JSON.stringify({ saver: [0.1, 0.7, 0.2], base: [0, 5, 1], label: 1 }), // probabilities (sum 1)
      '',
      JSON.stringify({ saver: [0, 0, 0], base: [1, 0, 0], label: 0 }), // logits: softmax -> 1/3
      JSON.stringify({ saverConf: 0.93, saverTop1: 2, baseTop1: 2, label: 2 }),
    ].join('\n');
    const p = parsePredictionsJsonl(text);
    expect(p.count).toBe(3);
    expect(p.saverConfidence[0]).toBeCloseTo(0.7, 12);
    expect(p.saverConfidence[1]).toBeCloseTo(1 / 3, 12);
    expect(p.saverConfidence[2]).toBe(0.93);
    expect(Array.from(p.saverTop1)).toEqual([1, 0, 2]);
    expect(Array.from(p.baseTop1)).toEqual([1, 0, 2]);
    expect(Array.from(p.labels!)).toEqual([1, 0, 2]);
    // round trip through the compact form
    const back = parsePredictionsJsonl(predictionsToJsonl(p));
    expect(Array.from(back.saverConfidence)).toEqual(Array.from(p.saverConfidence));
  });

  it('margin measure on score rows', () => {
    const p = parsePredictionsJsonl(JSON.stringify({ saver: [0.6, 0.3, 0.1], baseTop1: 0 }), { measure: 'margin' });
    expect(p.saverConfidence[0]).toBeCloseTo(0.3, 12);
    expect(p.labels).toBeNull();
  });

  it('names the line and field on bad input', () => {
    expect(() => parsePredictionsJsonl('{"saverConf": 1.5, "saverTop1": 0, "baseTop1": 0}', { source: 'f.jsonl' })).toThrow(
      /f.jsonl line 1: "saverConf" must be a number in \[0, 1\]/,
    );
    expect(() => parsePredictionsJsonl('{"saverConf": 0.5, "saverTop1": -1, "baseTop1": 0}')).toThrow(
      /line 1: "saverTop1" must be an integer/,
    );
    expect(() => parsePredictionsJsonl('{"saver": [1, "x"], "baseTop1": 0}')).toThrow(/line 1: "saver"\[1\] is not a finite number/);
    expect(() => parsePredictionsJsonl('{"saverConf": 0.5, "saverTop1": 0}')).toThrow(/needs "base"/);
    expect(() =>
      parsePredictionsJsonl(
        '{"saverConf": 0.5, "saverTop1": 0, "baseTop1": 0, "label": 1}\n{"saverConf": 0.5, "saverTop1": 0, "baseTop1": 0}',
      ),
    ).toThrow(/line 2: "label" must be on every row or on none/);
    expect(() => parsePredictionsJsonl('{oops')).toThrow(/line 1: not valid JSON/);
    expect(() => parsePredictionsJsonl('[1,2]')).toThrow(/expected a JSON object/);
    expect(() => parsePredictionsJsonl('\n\n')).toThrow(/no rows/);
    expect(() => parsePredictionsJsonl('{"saver": [0.5, 0.5], "baseTop1": 0}\n{"saver": [1, 0, 0], "baseTop1": 0}')).toThrow(
      /line 2: "saver" has 3 scores, earlier rows had 2/,
    );
  });
});

describe('sweep metrics', () => {
  // conf, saverTop1, baseTop1, label
  const p = preds([
    [0.99, 1, 1, 1], // kept at 0.9, agree, right
    [0.95, 2, 3, 2], // kept at 0.9, disagree, saver right
    [0.92, 4, 5, 5], // kept at 0.9, disagree, saver wrong
    [0.6, 0, 1, 1], // escalated at 0.9, base right
    [0.3, 7, 7, 8], // escalated, both wrong
  ]);
  it('at t = 0.9: share, cost, agreement, accuracy, per-kept accuracies, worked by hand', () => {
    const pt = evaluateThreshold(p, allRows(5), 0.9, 0.1, 0.5);
    expect(pt.saverShare).toBeCloseTo(3 / 5, 15);
    expect(pt.relativeCost).toBeCloseTo(0.1 + 0.4 + 0.5 * 0.6, 15);
    expect(pt.deltaCost).toBeCloseTo(0.1 - 0.6, 15);
    expect(pt.disagreement).toBeCloseTo(2 / 5, 15);
    expect(pt.agreement).toBeCloseTo(3 / 5, 15);
    expect(pt.accuracy).toBeCloseTo(3 / 5, 15); // rows 0, 1, 3
    expect(pt.accuracyLoss).toBeCloseTo(3 / 5 - 3 / 5, 15); // base right on rows 0, 2, 3
    expect(pt.saverAccuracyKept).toBeCloseTo(2 / 3, 15);
    expect(pt.baseAccuracyKept).toBeCloseTo(2 / 3, 15);
  });
  it('endpoints: t = 0 is the saver alone, Infinity the base alone', () => {
    const s = evaluateThreshold(p, allRows(5), 0, 0.1);
    expect(s.saverShare).toBe(1);
    expect(s.accuracy).toBeCloseTo(2 / 5, 15);
    const b = evaluateThreshold(p, allRows(5), Infinity, 0.1);
    expect(b.saverShare).toBe(0);
    expect(b.accuracy).toBeCloseTo(3 / 5, 15);
    expect(b.relativeCost).toBeCloseTo(1.1, 15);
  });
  it('paper rule: lowest threshold where the saver is at least as accurate on the rows it keeps', () => {
    // t = 0.9 keeps rows 0-2: saver 2/3, base 2/3 -> satisfied; lower thresholds keep row 3 too: saver 2/4 < base 3/4
    expect(paperThreshold(p, allRows(5), defaultThresholds(0.05))).toBe(0.65);
  });
  it('threshold grid: 0, fine grid, all bucket edges, 1, Infinity; sorted', () => {
    const g = defaultThresholds(0.1);
    expect(g[0]).toBe(0);
    expect(g[g.length - 1]).toBe(Infinity);
    expect(g).toContain(0.9995);
    expect(g).toContain(0.3);
    for (let i = 1; i < g.length; i++) expect(g[i]).toBeGreaterThan(g[i - 1]);
  });
  it('split: disjoint, complete, seeded', () => {
    const a = seededSplit(101, 0.5, 7);
    const b = seededSplit(101, 0.5, 7);
    const c = seededSplit(101, 0.5, 8);
    expect(Array.from(a.calibration)).toEqual(Array.from(b.calibration));
    expect(Array.from(a.calibration)).not.toEqual(Array.from(c.calibration));
    const all = new Set([...a.calibration, ...a.evaluation]);
    expect(all.size).toBe(101);
    expect(a.calibration.length).toBe(51);
    expect(() => seededSplit(10, 1, 1)).toThrow(/fraction/);
  });
});

// A synthetic saver/base pair: base right 90%; the saver disagrees with the base with probability
// 0.6 (1 - conf)^k, so a larger k is a saver whose confidence says more.
function synthetic(n: number, seed: number, k: number): Predictions {
  let a = seed;
  const r = () => {
    a = (a * 1103515245 + 12345) % 2147483648;
    return a / 2147483648;
  };
  const rows: Array<[number, number, number, number]> = [];
  for (let i = 0; i < n; i++) {
    const label = i % 10;
    const base = r() < 0.9 ? label : (label + 1) % 10;
    const conf = r();
    const agree = r() >= 0.6 * Math.pow(1 - conf, k);
    rows.push([conf, agree ? base : (base + 3) % 10, base, label]);
  }
  return preds(rows);
}

describe('simulate: operating points', () => {
  const p = synthetic(20_000, 3, 4);
  const rep = simulate(p, { costRatio: 0.05, budget: 0.02, delta: 0.05, min: 0, seed: 5 });

  it('picks on calibration rows and reports on the disjoint evaluation rows', () => {
    expect(rep.split.calibrationRows + rep.split.evaluationRows).toBe(20_000);
    expect(rep.split.note).toMatch(/calibration rows \(10000, seeded shuffle 5\)/);
    expect(rep.budget.evaluation.rows).toBe(rep.split.evaluationRows);
    expect(rep.budget.calibration.rows).toBe(rep.split.calibrationRows);
    expect(rep.sweep.every((s) => s.rows === rep.split.evaluationRows)).toBe(true);
  });

  it('budget point: certified bound <= ε, and the held-out disagreement stays within ε', () => {
    const c = rep.budget.certification!;
    expect(c.certifiedThreshold).not.toBeNull();
    expect(c.bound!).toBeLessThanOrEqual(0.02);
    expect(rep.budget.calibration.disagreement).toBeLessThanOrEqual(c.bound!);
    expect(rep.budget.evaluation.disagreement).toBeLessThanOrEqual(0.02);
    expect(rep.budget.evaluation.saverShare).toBeGreaterThan(0.1);
  });

  it('sweep endpoints are the saver-only and base-only accuracies', () => {
    expect(rep.sweep[0].threshold).toBe(0);
    expect(rep.sweep[0].accuracy).toBe(rep.saverAccuracy);
    expect(rep.sweep[rep.sweep.length - 1].accuracy).toBe(rep.baseAccuracy);
  });

  it('writes a plot with both points marked', () => {
    const svg = plotSvg(rep, 'synthetic');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toMatch(/\(b\) budget/);
    expect(svg).not.toMatch(/NaN/);
  });

  it('snippet: a ModelCascade whose spec fields exist in crds/modelcascade.yaml', () => {
    const text = modelCascadeSnippet(rep, {
      name: 'fmnist',
      saverModel: 'pvc://models/s.onnx',
      baseModel: 'pvc://models/b.onnx',
      measure: 'max-prob',
      min: 0.5,
      max: 1,
    });
    const doc = yaml.load(text) as any;
    expect(doc.apiVersion).toBe('tinysaver.io/v1alpha1');
    expect(doc.kind).toBe('ModelCascade');
    expect(doc.spec.threshold.initial).toBe(rep.budget.threshold);
    expect(doc.spec.threshold.min).toBeLessThanOrEqual(doc.spec.threshold.initial);
    expect(doc.spec.budget).toEqual({ maxAccuracyLoss: 0.02, confidence: 0.95 });
    // every field we write is declared by the CRD schema
    const crd = yaml.load(readFileSync('crds/modelcascade.yaml', 'utf8')) as any;
    const schema = crd.spec.versions.find((v: any) => v.name === 'v1alpha1').schema.openAPIV3Schema.properties.spec;
    const check = (obj: any, sch: any, path: string) => {
      for (const [k, v] of Object.entries(obj)) {
        expect(sch.properties?.[k], `${path}.${k} in the CRD`).toBeDefined();
        if (Array.isArray(v)) {
          // count arrays (threshold.calibration): lengths and item types as the schema declares them
          const a = sch.properties[k];
          expect(a.type, `${path}.${k}`).toBe('array');
          expect(v.length).toBeGreaterThanOrEqual(a.minItems ?? 0);
          expect(v.length).toBeLessThanOrEqual(a.maxItems ?? Infinity);
          for (const x of v)
            expect(a.items.type === 'integer' ? Number.isInteger(x) && x >= (a.items.minimum ?? -Infinity) : true).toBe(true);
        } else if (v && typeof v === 'object') check(v, sch.properties[k], `${path}.${k}`);
        else if (sch.properties[k].enum) expect(sch.properties[k].enum).toContain(v);
      }
    };
    check(doc.spec, schema, 'spec');
  });

  it('snippet: spec.threshold.calibration carries the certification evidence; the controller parses it and holds initial at its start', () => {
    const text = modelCascadeSnippet(rep, {
      name: 'fmnist',
      saverModel: 'pvc://models/s.onnx',
      baseModel: 'pvc://models/b.onnx',
      measure: 'max-prob',
      min: 0.5,
      max: 1,
    });
    expect(text).toMatch(/# threshold\.calibration: the 10000 calibration rows/);
    const doc = yaml.load(text) as any;
    const cal = doc.spec.threshold.calibration;
    expect(cal.rows.reduce((a: number, b: number) => a + b, 0)).toBe(rep.split.calibrationRows);
    // the same evidence certifies the same threshold (strata as simulate used: its default 3)
    const counts = zeroCounters();
    cal.rows.forEach((r: number, b: number) => {
      counts.all[b] = r;
      counts.auditDisagree[b] = cal.disagreements[b];
      counts.auditAgree[b] = r - cal.disagreements[b];
    });
    expect(certifyThreshold(counts, { epsilon: 0.02, delta: 0.05, min: 0, max: 1, strata: 3 }).threshold).toBe(doc.spec.threshold.initial);
    // the operator reads it as prior evidence (errors would name spec.threshold.calibration)
    const { settings, errors } = controlSettings({ ...doc, metadata: { name: 'fmnist', namespace: 'ns' } });
    expect(errors).toEqual([]);
    expect(settings!.prior!.auditDisagree).toEqual(cal.disagreements);
    // warm start: on a first, small window of clean traffic at initial (no audits yet) the controller keeps
    // initial with the prior, and would ask for audits without it
    const window = zeroCounters();
    const initial = doc.spec.threshold.initial;
    const hi = window.all.length - 2;
    window.all[hi] = 300;
    window.rowsSaver = 300;
    const input = { window: { counters: window, rows: 300, ageMs: 0 }, current: initial, spec: settings!.policy };
    const warm = decide({ ...input, prior: settings!.prior });
    expect(warm.direction).not.toBe('raise');
    expect(warm.boundAtCurrent).toBeLessThanOrEqual(0.02);
    const cold = decide(input);
    expect(cold.boundAtCurrent).toBeGreaterThan(0.02);
  });

  it('snippet from logged decisions (a weighted sample): no calibration, and the header says why', () => {
    const text = modelCascadeSnippet(
      { ...rep, budget: { ...rep.budget, evidence: undefined } },
      { name: 'x', saverModel: 's', baseModel: 'b', measure: 'max-prob', min: 0.5, max: 1 },
    );
    expect((yaml.load(text) as any).spec.threshold.calibration).toBeUndefined();
    expect(text).toMatch(/No threshold\.calibration/);
  });
});

describe('select: ranking by ΔC', () => {
  it('a cheap, confident saver beats a costly one; ties go to the cheaper', () => {
    const good = synthetic(10_000, 11, 4);
    const weak = synthetic(10_000, 12, 0.5);
    const sel = rankSavers(
      [
        { name: 'costly', macs: 500, predictions: good },
        { name: 'cheap-good', macs: 50, predictions: good },
        { name: 'cheap-weak', macs: 50, predictions: weak },
      ],
      1000,
      { budget: 0.02, delta: 0.05, min: 0 },
    );
    expect(sel.ranking.map((r) => r.name)[0]).toBe('cheap-good');
    expect(sel.ranking.find((r) => r.name === 'costly')!.deltaCost).toBeCloseTo(sel.ranking[0].deltaCost + 0.45, 12);
    for (let i = 1; i < sel.ranking.length; i++) expect(sel.ranking[i].deltaCost).toBeGreaterThanOrEqual(sel.ranking[i - 1].deltaCost);
    expect(sel.why).toMatch(/^cheap-good wins/);
  });
});
