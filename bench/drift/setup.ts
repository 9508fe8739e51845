// Shared setup of the two drift benches (bench/drift.ts: one schedule through a live router on 127.0.0.1;
// bench/drift-suite.ts: many scenarios through an in-process router). One implementation of what both
// compare, so their numbers mean the same thing:
// - flags: help text and range-checked numbers;
// - the test-set split (even rows: clean calibration, odd rows: the stream), the models and their MACs ratio;
// - the calibration: per-bucket counts with every row an audit sample, the fixed threshold they certify,
//   and the same counts as spec.threshold.calibration (the v2 warm start);
// - the bench ModelCascade and the operator's ThresholdController on a simulated clock, with the Kubernetes
//   I/O replaced by local state (the status write is what the bench reads back);
// - per scoring window: replays of a fixed threshold, the label oracle and the agreement oracle.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CONFIDENCE_BUCKETS } from '../../core/cascade/buckets.js';
import { candidateThresholds, certifyThreshold } from '../../core/cascade/certify.js';
import { rowConfidence } from '../../core/cascade/confidence.js';
import { countsFromRows } from '../../core/cascade/histogram.js';
import { loadOnnxModel, type OnnxModel } from '../../runtime/onnx/session.js';
import type { ModelCascade } from '../../operator/api/model-cascade.js';
import { type ThresholdControllerOptions, ThresholdController } from '../../operator/threshold/controller.js';
import type { ControllerKube } from '../../operator/threshold/kube.js';
import type { ThresholdEvent } from '../../operator/threshold/status.js';
import { PIXELS } from '../../runtime/drift/corruptions.js';

// ---- flags

export interface FlagSpec {
  type: 'string' | 'boolean';
  default: string | boolean;
  help: string;
}

export function usage(command: string, flags: Record<string, FlagSpec>): string {
  const width = Math.max(...Object.keys(flags).map((k) => k.length)) + 2;
  const lines = Object.entries(flags).map(
    ([k, v]) => `  --${k.padEnd(width)} ${v.help}${v.type === 'string' ? ` (default ${String(v.default)})` : ''}`,
  );
  return [`Usage: node ${command} [flags]`, '', ...lines].join('\n');
}

/** A flag's value as a number in [lo, hi]; the error names the flag. */
export function numFlag(values: Record<string, unknown>, name: string, lo: number, hi: number, integer = false): number {
  const v = Number(values[name]);
  if (!Number.isFinite(v) || v < lo || v > hi || (integer && !Number.isInteger(v))) {
    throw new Error(`--${name}: expected ${integer ? 'an integer' : 'a number'} in [${lo}, ${hi}], got ${JSON.stringify(values[name])}`);
  }
  return v;
}

/** A comma-separated flag as numbers in [lo, hi]. */
export function numListFlag(values: Record<string, unknown>, name: string, lo: number, hi: number, integer = false): number[] {
  return String(values[name])
    .split(',')
    .map((x) => numFlag({ [name]: x.trim() }, name, lo, hi, integer));
}

// ---- data and models

/** Even test rows: the clean calibration split; odd rows: the stream (disjoint). */
export function splitTestSet(count: number): { calibIdx: number[]; streamIdx: number[] } {
  const calibIdx: number[] = [];
  const streamIdx: number[] = [];
  for (let i = 0; i < count; i++) (i % 2 === 0 ? calibIdx : streamIdx).push(i);
  return { calibIdx, streamIdx };
}

export async function macsOf(file: string): Promise<number | undefined> {
  try {
    const manifest = JSON.parse(await readFile(path.join(path.dirname(file), 'manifest.json'), 'utf8')) as {
      models?: { file: string; macs: number }[];
    };
    return manifest.models?.find((m) => m.file === path.basename(file))?.macs;
  } catch {
    return undefined;
  }
}

export interface BenchModels {
  saver: OnnxModel;
  base: OnnxModel;
  inputName: string;
  /** saver/base MACs (NaN when the zoo manifest does not list both) */
  costRatio: number;
}

export async function loadBenchModels(saverPath: string, basePath: string): Promise<BenchModels> {
  const saver = await loadOnnxModel(saverPath, { intraOpThreads: 1 });
  const base = await loadOnnxModel(basePath, { intraOpThreads: 1 });
  const [macsS, macsB] = [await macsOf(saverPath), await macsOf(basePath)];
  return { saver, base, inputName: saver.inputs[0].name, costRatio: macsS && macsB ? macsS / macsB : NaN };
}

export interface RowPredictions {
  conf: Float64Array;
  saverTop1: Int32Array;
  baseTop1: Int32Array;
}

/** Saver confidence and top-1, base top-1 for n 28x28 images (one model run each). */
export async function predictRows(m: BenchModels, images: Float32Array, n: number): Promise<RowPredictions> {
  const run = async (model: OnnxModel) =>
    Object.values(await model.run({ [m.inputName]: { datatype: 'FP32', shape: [n, 1, 28, 28], data: images } }))[0].data as Float32Array;
  const s = rowConfidence(await run(m.saver), n, 10);
  const b = rowConfidence(await run(m.base), n, 10);
  return { conf: s.confidence, saverTop1: s.top1, baseTop1: b.top1 };
}

const CHUNK = 1000;

/** Predictions of the test images `idx`, in chunks. */
export async function predictIndices(m: BenchModels, images: Float32Array, idx: readonly number[]): Promise<RowPredictions> {
  const out: RowPredictions = {
    conf: new Float64Array(idx.length),
    saverTop1: new Int32Array(idx.length),
    baseTop1: new Int32Array(idx.length),
  };
  for (let i0 = 0; i0 < idx.length; i0 += CHUNK) {
    const n = Math.min(CHUNK, idx.length - i0);
    const buf = new Float32Array(n * PIXELS);
    for (let j = 0; j < n; j++) buf.set(images.subarray(idx[i0 + j] * PIXELS, (idx[i0 + j] + 1) * PIXELS), j * PIXELS);
    const p = await predictRows(m, buf, n);
    out.conf.set(p.conf, i0);
    out.saverTop1.set(p.saverTop1, i0);
    out.baseTop1.set(p.baseTop1, i0);
  }
  return out;
}

export interface Calibration {
  /** every calibration row as an audited row (what `tinysaver simulate` certifies on) */
  counts: ReturnType<typeof countsFromRows>;
  /** the same evidence as spec.threshold.calibration */
  spec: { rows: number[]; disagreements: number[] };
  rows: number;
}

/** The clean calibration split's evidence (disjoint from the stream). */
export async function calibrate(m: BenchModels, images: Float32Array, calibIdx: readonly number[]): Promise<Calibration> {
  const p = await predictIndices(m, images, calibIdx);
  const agree = Array.from(p.saverTop1, (t, i) => t === p.baseTop1[i]);
  const counts = countsFromRows(p.conf, agree, { kind: 'audit' });
  return { counts, spec: { rows: counts.all.slice(), disagreements: counts.auditDisagree.slice() }, rows: calibIdx.length };
}

/** The fixed threshold: certified offline on the calibration (shared certification, as `simulate` does). */
export function fixedThreshold(cal: Calibration, o: { epsilon: number; delta: number; min: number; max: number; strata: number }) {
  return certifyThreshold(cal.counts, o);
}

// ---- the controller on a simulated clock

export interface BenchCascadeOptions {
  name: string;
  saverModel: string;
  baseModel: string;
  initial: number;
  min: number;
  max: number;
  epsilon: number;
  confidence: number;
  auditRate: number;
  auditMax: number;
  intervalSeconds: number;
  windowIntervals: number;
  /** spec.control.maxWindow in intervals (default: the CRD's) */
  maxWindowIntervals?: number;
  maxStep: number;
  minAudits: number;
  falseAlarmRate?: number;
  /** spec.threshold.calibration (v2 warm start) */
  calibration?: { rows: number[]; disagreements: number[] };
}

export function benchCascade(o: BenchCascadeOptions): ModelCascade {
  return {
    apiVersion: 'tinysaver.io/v1alpha1',
    kind: 'ModelCascade',
    metadata: { name: o.name, namespace: 'bench', uid: 'bench-uid', generation: 1, resourceVersion: '1' },
    spec: {
      saver: { model: o.saverModel },
      base: { model: o.baseModel },
      router: { auditRate: o.auditRate },
      threshold: {
        initial: o.initial,
        min: o.min,
        max: o.max,
        mode: 'adaptive',
        ...(o.calibration ? { calibration: o.calibration } : {}),
      },
      budget: { maxAccuracyLoss: o.epsilon, confidence: o.confidence },
      control: {
        interval: `${o.intervalSeconds}s`,
        window: `${o.intervalSeconds * o.windowIntervals}s`,
        ...(o.maxWindowIntervals !== undefined
          ? { maxWindow: `${o.intervalSeconds * Math.max(o.windowIntervals, o.maxWindowIntervals)}s` }
          : {}),
        maxStep: o.maxStep,
        minAudits: o.minAudits,
        maxAuditRate: o.auditMax,
        ...(o.falseAlarmRate !== undefined ? { falseAlarmRate: o.falseAlarmRate } : {}),
      },
    },
  };
}

export interface BenchController {
  controller: ThresholdController;
  /** the ModelCascade as the controller last wrote it (status.threshold, status.auditRate) */
  cascade(): ModelCascade;
  /** the Events a real cluster would have got */
  events: ThresholdEvent[];
  key: string;
}

/**
 * The operator's ThresholdController with the Kubernetes I/O replaced by local state: applyStatus keeps the
 * written status (the bench mirrors it to its router), Events are collected. `pods` lists the router pods to
 * scrape (bench/drift.ts); `source` replaces the scrape (bench/drift-suite.ts).
 */
export function benchController(
  initial: ModelCascade,
  o: Pick<ThresholdControllerOptions, 'now' | 'v1' | 'policyDefaults' | 'source'> & {
    pods?: Awaited<ReturnType<ControllerKube['listRouterPods']>>;
  },
): BenchController {
  let mc = initial;
  const events: ThresholdEvent[] = [];
  const io: ControllerKube = {
    listRouterPods: async () => o.pods ?? [],
    applyStatus: async (obj, status) => {
      mc = {
        ...obj,
        metadata: { ...obj.metadata, resourceVersion: String(Number(obj.metadata.resourceVersion) + 1) },
        status: { ...obj.status, ...status },
      };
      return mc;
    },
    applyRouterConfig: async () => {},
    emitEvent: async (_obj, e) => {
      events.push(e);
    },
  };
  const controller = new ThresholdController({
    io,
    get: () => mc,
    log: () => {},
    ...(o.now ? { now: o.now } : {}),
    ...(o.v1 ? { v1: true } : {}),
    ...(o.policyDefaults ? { policyDefaults: o.policyDefaults } : {}),
    ...(o.source ? { source: o.source } : {}),
  });
  return { controller, cascade: () => mc, events, key: `bench/${initial.metadata.name}` };
}

// ---- scoring

/** Per-row facts a replay needs; label -1: out of domain (no class), scored against the base. */
export interface ScoredRows {
  conf: ArrayLike<number>;
  saverTop1: ArrayLike<number>;
  baseTop1: ArrayLike<number>;
  label: ArrayLike<number>;
}

/**
 * Loss vs the base of one row: 0 when the base answers; when the saver answers, (base right) - (saver right)
 * in domain, and (saver != base) out of domain (the base's answer is the only reference there).
 */
export function rowLoss(s: ScoredRows, r: number, saverAnswers: boolean): number {
  if (!saverAnswers) return 0;
  if (s.label[r] < 0) return s.saverTop1[r] !== s.baseTop1[r] ? 1 : 0;
  return (s.baseTop1[r] === s.label[r] ? 1 : 0) - (s.saverTop1[r] === s.label[r] ? 1 : 0);
}

export interface Replay {
  threshold: number;
  /** realized loss vs the base, saver share, disagreement share (saver answers and differs from the base) */
  loss: number;
  share: number;
  disagree: number;
  /** of the disagreeing rows the saver answered: saver matched the label / the base did (in domain) */
  saverRight: number;
  baseRight: number;
}

/** A fixed threshold t replayed on rows [b0, b1). */
export function replay(s: ScoredRows, b0: number, b1: number, t: number): Replay {
  let loss = 0;
  let kept = 0;
  let dis = 0;
  let saverRight = 0;
  let baseRight = 0;
  for (let r = b0; r < b1; r++) {
    const sv = s.conf[r] >= t;
    if (sv) {
      kept++;
      if (s.saverTop1[r] !== s.baseTop1[r]) {
        dis++;
        if (s.label[r] >= 0 && s.saverTop1[r] === s.label[r]) saverRight++;
        else if (s.label[r] >= 0 && s.baseTop1[r] === s.label[r]) baseRight++;
      }
    }
    loss += rowLoss(s, r, sv);
  }
  const n = b1 - b0;
  return { threshold: t, loss: loss / n, share: kept / n, disagree: dis / n, saverRight: saverRight / n, baseRight: baseRight / n };
}

/**
 * The two oracles of a window: the label oracle (lowest grid threshold whose realized loss is <= ε) and the
 * agreement oracle (lowest grid threshold whose disagreement share is <= ε: knows the base's answer on
 * every row, no labels, no confidence margin). `max` when nothing qualifies.
 */
export function windowOracles(
  s: ScoredRows,
  b0: number,
  b1: number,
  o: { epsilon: number; min: number; max: number; edges?: readonly number[] },
): { oracle: Replay; agree: Replay } {
  let oracle = replay(s, b0, b1, o.max);
  let agree = oracle;
  // candidates run strictest first; keep the lowest feasible (largest share)
  for (const t of candidateThresholds(o.min, o.max, o.edges ?? CONFIDENCE_BUCKETS)) {
    const x = replay(s, b0, b1, t);
    if (x.loss <= o.epsilon + 1e-12 && x.share >= oracle.share) oracle = x;
    if (x.disagree <= o.epsilon + 1e-12 && x.share >= agree.share) agree = x;
  }
  return { oracle, agree };
}
