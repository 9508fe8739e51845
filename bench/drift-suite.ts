// Drift suite: the threshold controller under several drift families, seeds and budgets.
//
// bench/drift.ts runs ONE schedule through a live router on 127.0.0.1. This suite runs many (scenario
// families x seeds x budgets x controller versions), so it replaces only the router's HTTP hop with an
// in-process router simulation: per row, confidence >= t -> saver (audited with probability a, seeded),
// else escalated, counted into the router's metric shape (per-bucket histograms + row counters). The
// controller is the operator's ThresholdController, unchanged (`source` hands it the simulated router's
// cumulative counters where it would scrape /metrics): deltas, window, change detector, policy and the
// shared certification are the code that runs in a cluster. Predictions are the real ONNX models'.
//
// Compared per scoring window (block of rows):
//   fixed            - the threshold certified offline on the clean calibration split (never moved);
//   v2               - the controller (change detector, dead band, warm start from the calibration);
//   v1               - the same controller with the v2 features off (fixed-length window, no prior, no dead band);
//   label oracle     - per window the lowest grid threshold whose realized loss stays within ε;
//   agreement oracle - per window the lowest grid threshold whose saver/base disagreement stays within ε.
// Realized loss = (base correct - cascade correct) on in-domain rows, plus, on out-of-domain rows (no
// correct class), every row where the saver answered and differs from the base.
//
// Run: npm run build && node dist/bench/drift-suite.js [--scale 0.25 --seeds 1] (see --help).
// Writes bench/out/drift-suite.{md,json}; --docs DIR copies the tables to DIR/drift-suite-run.md.

import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { bucketIndex } from '../core/cascade/buckets.js';
import { relativeCost } from '../core/cascade/cost.js';
import { seededRandom } from '../core/random.js';
import { loadFashionMnist } from '../models/dataset/fashion-mnist.js';
import { effectiveAuditRate, effectiveThreshold } from '../operator/reconcile/builders/router-config.js';
import { cloneCounters, zeroCounters } from '../operator/telemetry/counters.js';
import type { ScrapeResult } from '../operator/telemetry/scrape.js';
import { PIXELS, corrupt } from '../runtime/drift/corruptions.js';
import { outOfDomain } from './drift/ood.js';
import { SCENARIOS, type Scenario } from './drift/scenarios.js';
import {
  type BenchModels,
  type FlagSpec,
  type RowPredictions,
  benchCascade,
  benchController,
  calibrate,
  fixedThreshold,
  loadBenchModels,
  numFlag,
  numListFlag,
  predictIndices,
  predictRows,
  replay,
  rowLoss,
  splitTestSet,
  usage,
  windowOracles,
} from './drift/setup.js';

const FLAGS = {
  scenarios: { type: 'string', default: SCENARIOS.map((s) => s.name).join(','), help: 'comma-separated scenario families' },
  seeds: { type: 'string', default: '1,2,3', help: 'comma-separated seeds (stream order, drift draws, audit coins)' },
  epsilons: { type: 'string', default: '0.02,0.01', help: 'comma-separated budgets ε (max accuracy loss vs base)' },
  scale: { type: 'string', default: '1', help: "multiply every scenario's stream length (e.g. 0.25 while iterating)" },
  'interval-rows': { type: 'string', default: '500', help: 'rows per control interval' },
  'interval-seconds': { type: 'string', default: '30', help: 'simulated length of one control interval' },
  'window-intervals': { type: 'string', default: '16', help: 'spec.control.window in intervals' },
  'max-window-intervals': {
    type: 'string',
    default: '120',
    help: 'spec.control.maxWindow in intervals (v2: evidence while no change is detected)',
  },
  'block-rows': { type: 'string', default: '1000', help: 'rows per scoring window' },
  confidence: { type: 'string', default: '0.95', help: 'confidence level of the bound (1 - delta)' },
  'false-alarm-rate': { type: 'string', default: '0.01', help: 'spec.control.falseAlarmRate (change detector, per interval)' },
  min: { type: 'string', default: '0.5', help: 'lowest threshold' },
  max: { type: 'string', default: '1', help: 'highest threshold' },
  'max-step': { type: 'string', default: '0.02', help: 'largest downward move per interval' },
  'min-audits': { type: 'string', default: '200', help: 'fewest audits above a lower threshold before lowering' },
  'audit-rate': { type: 'string', default: '0.01', help: 'audit-rate floor (spec.router.auditRate)' },
  'audit-max': { type: 'string', default: '0.25', help: 'audit-rate ceiling (spec.control.maxAuditRate)' },
  v1: { type: 'boolean', default: true, help: 'also run the v1 controller for comparison (--no-v1 to skip)' },
  saver: { type: 'string', default: 'models/zoo/saver-tinycnn.onnx', help: 'saver ONNX model' },
  base: { type: 'string', default: 'models/zoo/base-cnn.onnx', help: 'base ONNX model' },
  out: { type: 'string', default: 'bench/out', help: 'output directory (drift-suite.md, drift-suite.json)' },
  docs: { type: 'string', default: '', help: 'also copy the tables to DIR/drift-suite-run.md (e.g. docs)' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const satisfies Record<string, FlagSpec>;

const USAGE = usage('dist/bench/drift-suite.js', FLAGS);

interface Config {
  scenarios: Scenario[];
  seeds: number[];
  epsilons: number[];
  scale: number;
  intervalRows: number;
  intervalSeconds: number;
  windowIntervals: number;
  maxWindowIntervals: number;
  blockRows: number;
  confidence: number;
  falseAlarmRate: number;
  min: number;
  max: number;
  maxStep: number;
  minAudits: number;
  auditRate: number;
  auditMax: number;
  v1: boolean;
}

function parseConfig(values: Record<string, unknown>): Config {
  const num = (name: string, lo: number, hi: number, integer = false) => numFlag(values, name, lo, hi, integer);
  const list = (name: string, lo: number, hi: number, integer = false) => numListFlag(values, name, lo, hi, integer);
  const names = String(values.scenarios)
    .split(',')
    .map((s) => s.trim());
  const scenarios = names.map((n) => {
    const s = SCENARIOS.find((x) => x.name === n);
    if (!s) throw new Error(`--scenarios: unknown scenario ${JSON.stringify(n)} (known: ${SCENARIOS.map((x) => x.name).join(', ')})`);
    return s;
  });
  const cfg: Config = {
    scenarios,
    seeds: list('seeds', 0, 2 ** 31, true),
    epsilons: list('epsilons', 1e-4, 0.5),
    scale: num('scale', 0.01, 100),
    intervalRows: num('interval-rows', 10, 1_000_000, true),
    intervalSeconds: num('interval-seconds', 1, 86_400, true),
    windowIntervals: num('window-intervals', 1, 10_000, true),
    maxWindowIntervals: num('max-window-intervals', 1, 100_000, true),
    blockRows: num('block-rows', 10, 1_000_000, true),
    confidence: num('confidence', 0.5, 0.999999),
    falseAlarmRate: num('false-alarm-rate', 1e-6, 0.5),
    min: num('min', 0, 1),
    max: num('max', 0, 1),
    maxStep: num('max-step', 1e-4, 1),
    minAudits: num('min-audits', 1, 1e8, true),
    auditRate: num('audit-rate', 0, 1),
    auditMax: num('audit-max', 0, 1),
    v1: Boolean(values.v1),
  };
  if (cfg.min > cfg.max) throw new Error(`--min ${cfg.min} > --max ${cfg.max}`);
  if (cfg.blockRows % cfg.intervalRows !== 0)
    throw new Error(`--block-rows ${cfg.blockRows} must be a multiple of --interval-rows ${cfg.intervalRows}`);
  return cfg;
}

/** Per-row predictions of a stream: saver confidence and top-1, base top-1, label (-1 = out of domain). */
interface Stream {
  conf: Float64Array;
  saverTop1: Int32Array;
  baseTop1: Int32Array;
  label: Int32Array;
  phase: string[];
  level: Float32Array;
}

async function buildStream(
  sc: Scenario,
  rows: number,
  seed: number,
  m: BenchModels,
  data: { images: Float32Array; labels: Uint8Array | ArrayLike<number> },
  streamIdx: number[],
  clean: RowPredictions & { pos: Map<number, number> },
): Promise<Stream> {
  const rand = seededRandom(seed * 1009 + sc.name.length);
  const s: Stream = {
    conf: new Float64Array(rows),
    saverTop1: new Int32Array(rows),
    baseTop1: new Int32Array(rows),
    label: new Int32Array(rows),
    phase: new Array(rows),
    level: new Float32Array(rows),
  };
  const byClass: number[][] = Array.from({ length: 10 }, () => []);
  for (const i of streamIdx) byClass[data.labels[i]].push(i);
  let order = streamIdx.slice();
  let pos = 0;
  const nextIdx = () => {
    if (pos % order.length === 0) {
      order = order.slice();
      for (let i = order.length - 1; i > 0; i--) {
        const k = Math.floor(rand() * (i + 1));
        [order[i], order[k]] = [order[k], order[i]];
      }
      pos = 0;
    }
    return order[pos++];
  };
  // rows whose image must go through the models (corrupted / out of domain), batched
  const pending: { row: number; img: Float32Array }[] = [];
  const flush = async () => {
    if (pending.length === 0) return;
    const buf = new Float32Array(pending.length * PIXELS);
    pending.forEach((p, j) => buf.set(p.img, j * PIXELS));
    const p = await predictRows(m, buf, pending.length);
    pending.forEach((q, j) => {
      s.conf[q.row] = p.conf[j];
      s.saverTop1[q.row] = p.saverTop1[j];
      s.baseTop1[q.row] = p.baseTop1[j];
    });
    pending.length = 0;
  };
  for (let r = 0; r < rows; r++) {
    const f = r / rows;
    const ph = sc.phaseAt(f);
    s.phase[r] = ph.phase;
    s.level[r] = ph.level;
    const { source, pickClass } = sc.row(f, rand);
    const idx = pickClass === undefined ? nextIdx() : byClass[pickClass][Math.floor(rand() * byClass[pickClass].length)];
    const img = data.images.subarray(idx * PIXELS, (idx + 1) * PIXELS);
    if (source.kind === 'clean') {
      const c = clean.pos.get(idx) as number;
      s.conf[r] = clean.conf[c];
      s.saverTop1[r] = clean.saverTop1[c];
      s.baseTop1[r] = clean.baseTop1[c];
      s.label[r] = data.labels[idx];
    } else if (source.kind === 'corrupt') {
      pending.push({ row: r, img: corrupt(source.corruption, img, source.severity, rand) });
      s.label[r] = data.labels[idx];
    } else {
      pending.push({ row: r, img: outOfDomain(source.ood, img, rand) });
      s.label[r] = -1;
    }
    if (pending.length >= 1000) await flush();
  }
  await flush();
  return s;
}

interface Trace {
  /** threshold and audit rate the router used for each row */
  threshold: Float32Array;
  saver: Uint8Array;
  audited: Uint8Array;
  intervals: { row: number; threshold: number; auditRate: number; reason: string; detected?: string; bound: number; message: string }[];
}

/** The router, in process: route, audit, count in the router's metric shape; the controller every interval. */
async function runControlled(
  stream: Stream,
  rows: number,
  cfg: Config,
  epsilon: number,
  tFixed: number,
  calibration: { rows: number[]; disagreements: number[] },
  seed: number,
  v1: boolean,
): Promise<Trace> {
  const rand = seededRandom(seed * 7919 + (v1 ? 1 : 2) + Math.round(epsilon * 1e4));
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const cum = zeroCounters();
  let t = tFixed;
  let a = cfg.auditRate;
  const source = async (): Promise<ScrapeResult> => ({
    observed: [
      { key: 'bench/router-0', uid: 'router-0', startedAtMs: 0, snapshot: { counters: cloneCounters(cum), threshold: t, auditRate: a } },
    ],
    failed: [],
  });
  const { controller, cascade, key } = benchController(
    benchCascade({
      name: 'suite',
      saverModel: 'saver.onnx',
      baseModel: 'base.onnx',
      initial: tFixed,
      min: cfg.min,
      max: cfg.max,
      epsilon,
      confidence: cfg.confidence,
      auditRate: cfg.auditRate,
      auditMax: cfg.auditMax,
      intervalSeconds: cfg.intervalSeconds,
      windowIntervals: cfg.windowIntervals,
      maxWindowIntervals: cfg.maxWindowIntervals,
      maxStep: cfg.maxStep,
      minAudits: cfg.minAudits,
      falseAlarmRate: cfg.falseAlarmRate,
      ...(v1 ? {} : { calibration }),
    }),
    { now: () => clock, source, v1, policyDefaults: { strata: 1, ...(v1 ? { deadBand: false } : {}) } },
  );
  // a baseline scrape before the first row (as a router that just started)
  await controller.runCycle(key);
  const tr: Trace = { threshold: new Float32Array(rows), saver: new Uint8Array(rows), audited: new Uint8Array(rows), intervals: [] };
  for (let r0 = 0; r0 < rows; r0 += cfg.intervalRows) {
    const r1 = Math.min(rows, r0 + cfg.intervalRows);
    for (let r = r0; r < r1; r++) {
      const c = stream.conf[r];
      const b = bucketIndex(c);
      const agree = stream.saverTop1[r] === stream.baseTop1[r];
      cum.all[b]++;
      cum.requests++;
      tr.threshold[r] = t;
      if (c >= t) {
        tr.saver[r] = 1;
        cum.rowsSaver++;
        if (rand() < a) {
          tr.audited[r] = 1;
          (agree ? cum.auditAgree : cum.auditDisagree)[b]++;
        }
      } else {
        cum.rowsBase++;
        (agree ? cum.escalatedAgree : cum.escalatedDisagree)[b]++;
      }
    }
    clock += cfg.intervalSeconds * 1000;
    const cyc = await controller.runCycle(key);
    t = effectiveThreshold(cascade());
    a = effectiveAuditRate(cascade());
    tr.intervals.push({
      row: r1,
      threshold: t,
      auditRate: a,
      reason: cyc?.decision.reason ?? 'none',
      bound: cyc?.decision.bound ?? NaN,
      message: cyc?.decision.message ?? '',
      ...(cyc?.detector?.fired ? { detected: `${cyc.detector.fired.statistic}` } : {}),
    });
  }
  return tr;
}

interface WindowScore {
  fixed: { loss: number; share: number; cost: number };
  v2: { loss: number; share: number; cost: number };
  v1?: { loss: number; share: number; cost: number };
  oracle: { loss: number; share: number; cost: number };
  agree: { loss: number; share: number; cost: number };
}

function score(
  stream: Stream,
  rows: number,
  cfg: Config,
  epsilon: number,
  s: number,
  tFixed: number,
  v2: Trace,
  v1: Trace | undefined,
): WindowScore[] {
  const out: WindowScore[] = [];
  for (let b0 = 0; b0 + cfg.blockRows <= rows; b0 += cfg.blockRows) {
    const b1 = b0 + cfg.blockRows;
    const n = b1 - b0;
    const live = (tr: Trace) => {
      let loss = 0;
      let kept = 0;
      let audits = 0;
      for (let r = b0; r < b1; r++) {
        loss += rowLoss(stream, r, tr.saver[r] === 1);
        kept += tr.saver[r];
        audits += tr.audited[r];
      }
      return { loss: loss / n, share: kept / n, cost: relativeCost(s, kept / n, kept > 0 ? audits / kept : 0) };
    };
    const f = replay(stream, b0, b1, tFixed);
    const { oracle, agree } = windowOracles(stream, b0, b1, { epsilon, min: cfg.min, max: cfg.max });
    const w: WindowScore = {
      fixed: { loss: f.loss, share: f.share, cost: relativeCost(s, f.share, 0) },
      v2: live(v2),
      oracle: { loss: oracle.loss, share: oracle.share, cost: relativeCost(s, oracle.share, 0) },
      agree: { loss: agree.loss, share: agree.share, cost: relativeCost(s, agree.share, 0) },
    };
    if (v1) w.v1 = live(v1);
    out.push(w);
  }
  return out;
}

/** "recovered": the threshold is back within this of the pre-step one (the grid's step below 0.8) */
const RECOVERED = 0.05;

/** Reaction to each "on" step and recovery after each "off" step, from the controller's trace. */
function stepMetrics(sc: Scenario, rows: number, cfg: Config, epsilon: number, tr: Trace, windows: { loss: number }[]) {
  const res: { label: string; on: boolean; reactionIntervals?: number; overBudgetRows: number; recoverRows?: number }[] = [];
  let cleanT = NaN;
  for (let e = 0; e < sc.events.length; e++) {
    const ev = sc.events[e];
    const start = Math.round(ev.at * rows);
    const end = e + 1 < sc.events.length ? Math.round(sc.events[e + 1].at * rows) : rows;
    const firstIv = tr.intervals.findIndex((iv) => iv.row > start);
    let over = 0;
    windows.forEach((w, i) => {
      const b0 = i * cfg.blockRows;
      if (b0 >= start && b0 < end && w.loss > epsilon + 1e-12) over += cfg.blockRows;
    });
    if (ev.on) {
      cleanT = start > 0 ? tr.threshold[start - 1] : tr.threshold[0];
      // intervals until the controller raised the threshold or detected the change
      let k: number | undefined;
      for (let i = firstIv; i >= 0 && i < tr.intervals.length && tr.intervals[i].row <= end; i++) {
        if (tr.intervals[i].threshold > cleanT + 1e-9 || tr.intervals[i].detected) {
          k = i - firstIv + 1;
          break;
        }
      }
      res.push({ label: ev.label, on: true, overBudgetRows: over, ...(k !== undefined ? { reactionIntervals: k } : {}) });
    } else {
      // rows until the threshold is back within RECOVERED of the one held before the step
      let rec: number | undefined;
      for (let i = firstIv; i >= 0 && i < tr.intervals.length && tr.intervals[i].row <= end; i++) {
        if (tr.intervals[i].threshold <= cleanT + RECOVERED + 1e-9) {
          rec = tr.intervals[i].row - start;
          break;
        }
      }
      res.push({ label: ev.label, on: false, overBudgetRows: over, ...(rec !== undefined ? { recoverRows: rec } : {}) });
    }
  }
  return res;
}

const pct = (v: number, d = 1) => (Number.isFinite(v) ? `${(v * 100).toFixed(d)}%` : '-');
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

export async function main(argv: string[]): Promise<number> {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: argv, options: FLAGS as never, strict: true, allowNegative: true }) as {
      values: Record<string, unknown>;
    });
  } catch (e) {
    console.error(`drift-suite: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  let cfg: Config;
  try {
    cfg = parseConfig(values);
  } catch (e) {
    console.error(`drift-suite: ${(e as Error).message}`);
    return 2;
  }
  const t0 = Date.now();
  const delta = 1 - cfg.confidence;
  const data = await loadFashionMnist('test');
  const { calibIdx, streamIdx } = splitTestSet(data.count);
  const saverPath = String(values.saver);
  const basePath = String(values.base);
  const models = await loadBenchModels(saverPath, basePath);
  const s = models.costRatio;

  // calibration (clean, disjoint from the stream): every row an audit sample
  const cal = await calibrate(models, data.images, calibIdx);
  const calibration = cal.spec;
  const fixedT = new Map<number, number>();
  for (const eps of cfg.epsilons)
    fixedT.set(eps, fixedThreshold(cal, { epsilon: eps, delta, min: cfg.min, max: cfg.max, strata: 1 }).threshold);
  const streamClean = await predictIndices(models, data.images, streamIdx);
  const clean = { ...streamClean, pos: new Map(streamIdx.map((idx, j) => [idx, j] as [number, number])) };
  console.log(
    `calibration: ${calibIdx.length} clean rows; fixed thresholds ${cfg.epsilons.map((e) => `ε ${pct(e, 0)} -> ${fixedT.get(e)}`).join(', ')}`,
  );

  interface Run {
    scenario: string;
    seed: number;
    epsilon: number;
    tFixed: number;
    intervals: number;
    windows: number;
    within: Record<'fixed' | 'v2' | 'v1' | 'oracle' | 'agree', number>;
    worst: Record<'fixed' | 'v2' | 'v1', number>;
    share: Record<'fixed' | 'v2' | 'v1' | 'oracle' | 'agree', number>;
    cost: Record<'fixed' | 'v2' | 'v1' | 'oracle' | 'agree', number>;
    changesPer10: Record<'v2' | 'v1', number>;
    detections: number;
    auditedShare: Record<'v2' | 'v1', number>;
    steps: ReturnType<typeof stepMetrics>;
    stepsV1: ReturnType<typeof stepMetrics>;
    trace: Trace['intervals'];
    windowLoss: number[];
    phases: {
      phase: string;
      windows: number;
      within: Record<'fixed' | 'v2' | 'v1' | 'oracle', number>;
      share: Record<'fixed' | 'v2' | 'v1' | 'oracle' | 'agree', number>;
    }[];
  }
  const runs: Run[] = [];
  for (const sc of cfg.scenarios) {
    const rows = Math.max(cfg.blockRows, Math.round((sc.rows * cfg.scale) / cfg.blockRows) * cfg.blockRows);
    for (const seed of cfg.seeds) {
      const stream = await buildStream(sc, rows, seed, models, { images: data.images, labels: data.labels }, streamIdx, clean);
      for (const eps of cfg.epsilons) {
        const tFixed = fixedT.get(eps) as number;
        const v2 = await runControlled(stream, rows, cfg, eps, tFixed, calibration, seed, false);
        const v1 = cfg.v1 ? await runControlled(stream, rows, cfg, eps, tFixed, calibration, seed, true) : undefined;
        const ws = score(stream, rows, cfg, eps, s, tFixed, v2, v1);
        const within = (pick: (w: WindowScore) => { loss: number } | undefined) =>
          ws.filter((w) => (pick(w)?.loss ?? Infinity) <= eps + 1e-12).length / ws.length;
        const changes = (tr: Trace | undefined) =>
          tr
            ? (10 * tr.intervals.filter((iv, i) => iv.threshold !== (i === 0 ? tFixed : tr.intervals[i - 1].threshold)).length) /
              tr.intervals.length
            : NaN;
        const audited = (tr: Trace | undefined) => (tr ? tr.audited.reduce((a, b) => a + b, 0) / rows : NaN);
        const phases = [...new Set(stream.phase)].map((phase) => {
          const idx = ws.map((_, i) => i).filter((i) => stream.phase[i * cfg.blockRows + cfg.blockRows / 2] === phase);
          const sub = idx.map((i) => ws[i]);
          const w = (pick: (x: WindowScore) => { loss: number } | undefined) =>
            sub.filter((x) => (pick(x)?.loss ?? Infinity) <= eps + 1e-12).length / Math.max(1, sub.length);
          const sh = (pick: (x: WindowScore) => { share: number } | undefined) => mean(sub.map((x) => pick(x)?.share ?? NaN));
          return {
            phase,
            windows: sub.length,
            within: { fixed: w((x) => x.fixed), v2: w((x) => x.v2), v1: v1 ? w((x) => x.v1) : NaN, oracle: w((x) => x.oracle) },
            share: {
              fixed: sh((x) => x.fixed),
              v2: sh((x) => x.v2),
              v1: sh((x) => x.v1),
              oracle: sh((x) => x.oracle),
              agree: sh((x) => x.agree),
            },
          };
        });
        const run: Run = {
          scenario: sc.name,
          seed,
          epsilon: eps,
          tFixed,
          intervals: v2.intervals.length,
          windows: ws.length,
          within: {
            fixed: within((w) => w.fixed),
            v2: within((w) => w.v2),
            v1: v1 ? within((w) => w.v1) : NaN,
            oracle: within((w) => w.oracle),
            agree: within((w) => w.agree),
          },
          worst: {
            fixed: Math.max(...ws.map((w) => w.fixed.loss)),
            v2: Math.max(...ws.map((w) => w.v2.loss)),
            v1: v1 ? Math.max(...ws.map((w) => (w.v1 as { loss: number }).loss)) : NaN,
          },
          share: {
            fixed: mean(ws.map((w) => w.fixed.share)),
            v2: mean(ws.map((w) => w.v2.share)),
            v1: mean(ws.map((w) => w.v1?.share ?? NaN)),
            oracle: mean(ws.map((w) => w.oracle.share)),
            agree: mean(ws.map((w) => w.agree.share)),
          },
          cost: {
            fixed: mean(ws.map((w) => w.fixed.cost)),
            v2: mean(ws.map((w) => w.v2.cost)),
            v1: mean(ws.map((w) => w.v1?.cost ?? NaN)),
            oracle: mean(ws.map((w) => w.oracle.cost)),
            agree: mean(ws.map((w) => w.agree.cost)),
          },
          changesPer10: { v2: changes(v2), v1: changes(v1) },
          detections: v2.intervals.filter((iv) => iv.detected).length,
          auditedShare: { v2: audited(v2), v1: audited(v1) },
          steps: stepMetrics(
            sc,
            rows,
            cfg,
            eps,
            v2,
            ws.map((w) => w.v2),
          ),
          trace: v2.intervals,
          windowLoss: ws.map((w) => Number(w.v2.loss.toFixed(4))),
          stepsV1: v1
            ? stepMetrics(
                sc,
                rows,
                cfg,
                eps,
                v1,
                ws.map((w) => w.v1 as { loss: number }),
              )
            : [],
          phases,
        };
        runs.push(run);
        console.log(
          `${sc.name.padEnd(12)} seed ${seed} ε ${pct(eps, 0)}: within fixed ${pct(run.within.fixed)} v2 ${pct(run.within.v2)} v1 ${pct(run.within.v1)} | share v2 ${pct(run.share.v2)} agree-oracle ${pct(run.share.agree)} | cost v2 ${run.cost.v2.toFixed(3)} fixed ${run.cost.fixed.toFixed(3)} | changes/10 v2 ${run.changesPer10.v2.toFixed(2)} v1 ${run.changesPer10.v1.toFixed(2)} | detections ${run.detections}${run.steps.length ? ` | steps ${run.steps.map((x) => `${x.label}: ${x.on ? `react ${x.reactionIntervals ?? '-'} iv` : `recover ${x.recoverRows ?? '-'} rows`}, over ${x.overBudgetRows}`).join('; ')}` : ''}`,
        );
      }
    }
  }

  // ---- tables
  const secs = (Date.now() - t0) / 1000;
  const lines: string[] = [];
  lines.push(
    `Drift suite: saver ${path.basename(saverPath)}, base ${path.basename(basePath)} (MACs ratio ${Number.isFinite(s) ? s.toFixed(4) : '?'}), ${cfg.confidence * 100}% confidence, thresholds in [${cfg.min}, ${cfg.max}],`,
    `interval ${cfg.intervalRows} rows, window ${cfg.windowIntervals} intervals (v2 evidence up to ${cfg.maxWindowIntervals}), scoring windows of ${cfg.blockRows} rows, audit rate in [${cfg.auditRate}, ${cfg.auditMax}],`,
    `min audits ${cfg.minAudits}, max step ${cfg.maxStep}, detector false-alarm target ${cfg.falseAlarmRate}/interval, seeds ${cfg.seeds.join(',')}, stream length x${cfg.scale}; in-process router, ${secs.toFixed(0)} s.`,
    `Fixed thresholds (certified on 5000 clean calibration rows): ${cfg.epsilons.map((e) => `ε ${pct(e, 0)} -> ${fixedT.get(e)}`).join(', ')}.`,
    '',
    '| scenario | ε | seed | windows within budget: fixed / v2 / v1 / label oracle / agreement oracle | worst window: fixed / v2 / v1 | saver share v2 (vs label oracle / vs agreement oracle) | compute incl. audits: fixed / v2 / v1 | audited rows v2 / v1 | threshold changes per 10 intervals v2 / v1 | detections (per 100 intervals) |',
    '|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const r of runs) {
    lines.push(
      `| ${r.scenario} | ${pct(r.epsilon, 0)} | ${r.seed} | ${pct(r.within.fixed)} / **${pct(r.within.v2)}** / ${pct(r.within.v1)} / ${pct(r.within.oracle)} / ${pct(r.within.agree)} | ${pct(r.worst.fixed, 2)} / ${pct(r.worst.v2, 2)} / ${pct(r.worst.v1, 2)} | ${pct(r.share.v2)} (${pct(r.share.v2 / r.share.oracle, 0)} / ${pct(r.share.v2 / r.share.agree, 0)}) | ${r.cost.fixed.toFixed(3)} / ${r.cost.v2.toFixed(3)} / ${r.cost.v1.toFixed(3)} | ${pct(r.auditedShare.v2)} / ${pct(r.auditedShare.v1)} | ${r.changesPer10.v2.toFixed(2)} / ${r.changesPer10.v1.toFixed(2)} | ${r.detections} (${((100 * r.detections) / r.intervals).toFixed(1)}) |`,
    );
  }
  const stepRuns = runs.filter((r) => r.steps.length > 0);
  if (stepRuns.length > 0) {
    lines.push(
      '',
      `| scenario | ε | seed | step | v2: reaction (intervals to raise or detect) / recovery (rows until the threshold is back within ${RECOVERED} of the pre-step one) | v2 rows in over-budget windows until the next step | v1: reaction / recovery | v1 rows over budget |`,
      '|---|---|---|---|---|---|---|---|',
    );
    for (const r of stepRuns) {
      r.steps.forEach((x, i) => {
        const y = r.stepsV1[i];
        const rr = (z: typeof x | undefined) =>
          z ? (z.on ? `${z.reactionIntervals ?? 'none'} intervals` : `${z.recoverRows ?? 'not recovered'} rows`) : '-';
        lines.push(
          `| ${r.scenario} | ${pct(r.epsilon, 0)} | ${r.seed} | ${x.label} | ${rr(x)} | ${x.overBudgetRows} | ${rr(y)} | ${y?.overBudgetRows ?? '-'} |`,
        );
      });
    }
  }
  lines.push(
    '',
    '| scenario | ε | phase | windows | within budget: fixed / v2 / v1 / label oracle | saver share: fixed / v2 / v1 / label oracle / agreement oracle |',
    '|---|---|---|---|---|---|',
  );
  for (const sc of cfg.scenarios) {
    for (const eps of cfg.epsilons) {
      const rs = runs.filter((r) => r.scenario === sc.name && r.epsilon === eps);
      const phases = [...new Set(rs.flatMap((r) => r.phases.map((p) => p.phase)))];
      for (const ph of phases) {
        const ps = rs.map((r) => r.phases.find((p) => p.phase === ph)).filter((p): p is NonNullable<typeof p> => !!p);
        const m = (f: (p: (typeof ps)[number]) => number) => mean(ps.map(f));
        lines.push(
          `| ${sc.name} | ${pct(eps, 0)} | ${ph} | ${ps.reduce((a, p) => a + p.windows, 0)} | ${pct(m((p) => p.within.fixed))} / ${pct(m((p) => p.within.v2))} / ${pct(m((p) => p.within.v1))} / ${pct(m((p) => p.within.oracle))} | ${pct(m((p) => p.share.fixed))} / ${pct(m((p) => p.share.v2))} / ${pct(m((p) => p.share.v1))} / ${pct(m((p) => p.share.oracle))} / ${pct(m((p) => p.share.agree))} |`,
        );
      }
    }
  }
  const md = lines.join('\n') + '\n';
  console.log(`\n${md}`);
  const outDir = String(values.out);
  await mkdir(outDir, { recursive: true });
  await writeFile(path.join(outDir, 'drift-suite.md'), md);
  await writeFile(
    path.join(outDir, 'drift-suite.json'),
    JSON.stringify({ config: { ...cfg, scenarios: cfg.scenarios.map((x) => x.name) }, fixed: Object.fromEntries(fixedT), runs }, null, 1),
  );
  if (values.docs) {
    await mkdir(String(values.docs), { recursive: true });
    await copyFile(path.join(outDir, 'drift-suite.md'), path.join(String(values.docs), 'drift-suite-run.md'));
  }
  console.log(`wrote ${path.join(outDir, 'drift-suite.md')}, drift-suite.json`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(`drift-suite: ${(e as Error).stack ?? e}`);
    process.exit(1);
  },
);
