// `tinysaver simulate` on the bundled models: the curve's endpoints (t = 0: saver only; t > 1: base
// only) must equal the saver-only and base-only accuracies measured directly with onnxruntime on the
// same evaluation rows; the plot and the ModelCascade snippet are written.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import yaml from 'js-yaml';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFashionMnist } from '../../models/dataset/fashion-mnist.js';
import { zooModelPath } from '../../models/zoo.js';
import { seededSplit } from '../../runtime/simulate/sweep.js';

const N = 2000; // first N test images keep the test quick; the README numbers use all 10 000
const SAVER = 'saver-tinycnn';
const BASE = 'base-cnn';

async function directAccuracy(model: string, images: Float32Array, labels: Uint8Array, rows: Int32Array): Promise<number> {
  const session = await ort.InferenceSession.create(zooModelPath(model));
  try {
    const input = session.inputNames[0];
    const output = session.outputNames[0];
    const res = await session.run({ [input]: new ort.Tensor('float32', images.slice(0, N * 784), [N, 1, 28, 28]) });
    const logits = res[output].data as Float32Array;
    let correct = 0;
    for (const i of rows) {
      let best = 0;
      for (let c = 1; c < 10; c++) if (logits[i * 10 + c] > logits[i * 10 + best]) best = c;
      if (best === labels[i]) correct++;
    }
    return correct / rows.length;
  } finally {
    await session.release();
  }
}

describe('tinysaver simulate on the bundled saver/base', () => {
  let dir: string;
  let report: any;
  let saverAcc: number;
  let baseAcc: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ts-simulate-'));
    const data = await loadFashionMnist('test');
    const { evaluation } = seededSplit(N, 0.5, 1);
    saverAcc = await directAccuracy(SAVER, data.images, data.labels, evaluation);
    baseAcc = await directAccuracy(BASE, data.images, data.labels, evaluation);
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        'bin/tinysaver.js',
        'simulate',
        '--limit',
        String(N),
        '--json',
        '--plot',
        join(dir, 'plot.svg'),
        '--snippet',
        join(dir, 'cascade.yaml'),
      ],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    report = JSON.parse(stdout);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('endpoints equal the directly measured saver-only and base-only accuracies', () => {
    expect(report.split.evaluationRows).toBe(N / 2);
    const first = report.sweep[0];
    const last = report.sweep[report.sweep.length - 1];
    expect(first.threshold).toBe(0);
    expect(first.saverShare).toBe(1);
    expect(first.accuracy).toBeCloseTo(saverAcc, 12);
    expect(last.threshold).toBe('Infinity');
    expect(last.saverShare).toBe(0);
    expect(last.accuracy).toBeCloseTo(baseAcc, 12);
    expect(report.saverAccuracy).toBeCloseTo(saverAcc, 12);
    expect(report.baseAccuracy).toBeCloseTo(baseAcc, 12);
    // the base is the stronger model here, so the two ends differ
    expect(baseAcc).toBeGreaterThan(saverAcc);
  });

  it('saver share falls and cost rises as the threshold rises', () => {
    for (let i = 1; i < report.sweep.length; i++) {
      expect(report.sweep[i].saverShare).toBeLessThanOrEqual(report.sweep[i - 1].saverShare);
      expect(report.sweep[i].relativeCost).toBeGreaterThanOrEqual(report.sweep[i - 1].relativeCost - 1e-12);
    }
  });

  it('the budget point is certified, saves compute and stays within ε on held-out rows', () => {
    const b = report.budget;
    expect(b.certification.bound).toBeLessThanOrEqual(0.01);
    expect(b.evaluation.relativeCost).toBeLessThan(1);
    expect(b.evaluation.disagreement).toBeLessThanOrEqual(0.01 + 0.01); // held-out noise on 1000 rows
  });

  it('writes the SVG plot and a ModelCascade snippet at the chosen threshold', () => {
    const svg = readFileSync(join(dir, 'plot.svg'), 'utf8');
    expect(svg).toMatch(/^<svg /);
    expect(svg).toMatch(/\(b\) budget/);
    const doc = yaml.load(readFileSync(join(dir, 'cascade.yaml'), 'utf8')) as any;
    expect(doc.kind).toBe('ModelCascade');
    expect(doc.spec.threshold.initial).toBe(report.budget.threshold);
    expect(doc.spec.budget).toEqual({ maxAccuracyLoss: 0.01, confidence: 0.95 });
    expect(doc.spec.saver.model).toBe(`file://${zooModelPath(SAVER)}`);
    // the warm start: every calibration row with its saver/base agreement, per confidence bucket
    const cal = doc.spec.threshold.calibration;
    expect(cal.rows.reduce((a: number, b: number) => a + b, 0)).toBe(report.split.calibrationRows);
    expect(cal.disagreements).toEqual(report.budget.evidence.disagreements);
    expect(cal.disagreements.every((d: number, i: number) => d <= cal.rows[i])).toBe(true);
  });

  it('--snippet - prints the manifest on stdout (the report on stderr)', async () => {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['bin/tinysaver.js', 'simulate', '--limit', '500', '--snippet', '-', '--name', 'piped'],
      { maxBuffer: 16 * 1024 * 1024 },
    );
    const doc = yaml.load(stdout) as any;
    expect(doc.metadata.name).toBe('piped');
    expect(doc.spec.threshold.calibration.rows.reduce((a: number, b: number) => a + b, 0)).toBe(250);
    expect(stderr).toMatch(/\(b\) budget/);
  });

  it('rejects bad flags with exit code 2 and the flag named', async () => {
    const e = await promisify(execFile)(process.execPath, ['bin/tinysaver.js', 'simulate', '--budget', '2']).catch((x) => x);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(/--budget: 2 is outside \[0, 1\]/);
    const e2 = await promisify(execFile)(process.execPath, ['bin/tinysaver.js', 'simulate', '--predictions', '/nonexistent.jsonl']).catch(
      (x) => x,
    );
    expect(e2.code).toBe(2);
    expect(e2.stderr).toMatch(/--cost-ratio is required with --predictions/);
  });
});

describe('tinysaver select on the bundled candidates', () => {
  it('ranks every bundled saver by ΔC = s - r at the certified point and explains the winner', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['bin/tinysaver.js', 'select', '--limit', String(N), '--json'], {
      maxBuffer: 16 * 1024 * 1024,
    });
    const sel = JSON.parse(stdout);
    expect(sel.ranking.map((r: any) => r.name).sort()).toEqual(['saver-linear', 'saver-mlp', 'saver-tinycnn']);
    for (const r of sel.ranking) {
      expect(r.deltaCost).toBeCloseTo(r.costRatio - r.budget.evaluation.saverShare, 12);
      expect(r.budget.certification.bound).toBeLessThanOrEqual(0.01);
    }
    for (let i = 1; i < sel.ranking.length; i++) expect(sel.ranking[i].deltaCost).toBeGreaterThanOrEqual(sel.ranking[i - 1].deltaCost);
    expect(sel.why).toMatch(new RegExp(`^${sel.ranking[0].name} wins`));
  });
});
