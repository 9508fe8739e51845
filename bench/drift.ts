// Drift benchmark: the evidence for the threshold controller.
//
// A REAL local cascade (two v2 model servers + the router, on 127.0.0.1, real ONNX models) serves a
// Fashion-MNIST stream whose images get corrupted (noise, blur, contrast loss, occlusion) along a schedule
// that ramps up, holds and recovers. The operator's ThresholdController runs on the router's scraped
// /metrics (the same scrape -> deltas -> window -> policy -> certification code as in a cluster; only
// the Kubernetes I/O is replaced by writing the router's threshold file). Labels are used only to score.
//
// Compared per scoring window (block of rows):
//   fixed      - the threshold certified offline on a clean calibration split (half of the test set,
//                disjoint from the stream), never moved;
//   controller - what the live router actually did under the controller;
//   oracle     - knows the labels: per window the lowest grid threshold whose realized accuracy loss
//                vs the base stays within the budget (maximum saver share).
// Realized loss = accuracy(base) - accuracy(cascade) on the window's rows (labels).
//
// Run: npm run build && node dist/bench/drift.js [--rows 100000] (see --help; ~40 s on 2 cores). Writes bench/out/drift.{json,svg,md}.

import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { rowConfidence } from '../core/cascade/confidence.js';
import { relativeCost } from '../core/cascade/cost.js';
import { V2Client } from '../runtime/oip/client.js';
import { startRouter } from '../runtime/router/server.js';
import { parseConfidence, parseRoutes } from '../runtime/router/row-params.js';
import { startModelServer } from '../runtime/server/model-server.js';
import { loadFashionMnist } from '../models/dataset/fashion-mnist.js';
import { effectiveAuditRate, effectiveThreshold, thresholdFileContent } from '../operator/reconcile/builders/router-config.js';
import { METRICS_PORT_ANNOTATION } from '../operator/telemetry/scrape.js';
import type { CycleResult } from '../operator/threshold/controller.js';
import { DEFAULT_STRATA } from '../operator/threshold/policy.js';
import { CORRUPTIONS, PIXELS, corrupt } from '../runtime/drift/corruptions.js';
import { seededRandom } from '../core/random.js';
import { renderSvg } from './drift/plot.js';
import { severityAt } from '../runtime/drift/schedule.js';
import {
  type FlagSpec,
  benchCascade,
  benchController,
  calibrate,
  fixedThreshold,
  loadBenchModels,
  numFlag,
  predictRows,
  replay,
  splitTestSet,
  usage,
  windowOracles,
} from './drift/setup.js';

const FLAGS = {
  rows: { type: 'string', default: '100000', help: 'stream length (rows); the 5000-row stream split is cycled' },
  batch: { type: 'string', default: '100', help: 'rows per inference request' },
  'interval-rows': { type: 'string', default: '500', help: 'rows between two controller cycles (one control interval)' },
  'interval-seconds': { type: 'string', default: '30', help: 'simulated length of one control interval' },
  'window-intervals': { type: 'string', default: '16', help: 'telemetry window length in intervals' },
  'block-rows': { type: 'string', default: '1000', help: 'rows per scoring window' },
  epsilon: { type: 'string', default: '0.02', help: 'budget: max accuracy loss vs base (fraction of rows)' },
  confidence: { type: 'string', default: '0.95', help: 'confidence level of the bound (1 - delta)' },
  min: { type: 'string', default: '0.5', help: 'lowest threshold' },
  max: { type: 'string', default: '1', help: 'highest threshold' },
  'max-step': { type: 'string', default: '0.02', help: 'largest downward move per interval' },
  'min-audits': { type: 'string', default: '200', help: 'fewest audits above a lower threshold before lowering' },
  'audit-rate': {
    type: 'string',
    default: '0.05',
    help: 'router audit rate floor (spec.router.auditRate); the controller may raise it up to --audit-max',
  },
  'audit-max': { type: 'string', default: '0.25', help: 'highest audit rate the controller may ask for (spec.control.maxAuditRate)' },
  'audit-plan': {
    type: 'string',
    default: 'cost',
    help: 'audit-rate sizing: cost (cheapest certifiable operating point) or current (certify the current threshold; the earlier rule)',
  },
  strata: {
    type: 'string',
    default: String(DEFAULT_STRATA),
    help: "strata of the certification bound (the controller's default; certify.ts allows any)",
  },
  severity: { type: 'string', default: '1', help: 'scale of the corruption severity at the peak of the schedule (0..1)' },
  saver: { type: 'string', default: 'models/zoo/saver-tinycnn.onnx', help: 'saver ONNX model' },
  base: { type: 'string', default: 'models/zoo/base-cnn.onnx', help: 'base ONNX model' },
  seed: { type: 'string', default: '7', help: 'seed of the stream order, corruptions and router audit sampling' },
  out: { type: 'string', default: 'bench/out', help: 'output directory (drift.json, drift.svg, drift.md)' },
  docs: {
    type: 'string',
    default: '',
    help: 'also copy the SVG (drift.svg) and the markdown tables (drift-run.md; docs/drift.md is the written analysis) into this directory (e.g. docs)',
  },
  v1: {
    type: 'boolean',
    default: false,
    help: 'run the v1 controller (no change detector, calibration prior or dead band; window fixed at --window-intervals)',
  },
  calibration: {
    type: 'boolean',
    default: true,
    help: 'v2: carry the offline calibration in spec.threshold.calibration (warm start); --no-calibration starts cold',
  },
  quiet: { type: 'boolean', default: false, help: 'no per-interval log' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const satisfies Record<string, FlagSpec>;

const USAGE = usage('dist/bench/drift.js', FLAGS);
const num = numFlag;

interface BlockScore {
  start: number;
  severity: number;
  phase: string;
  accBase: number;
  fixed: { loss: number; share: number; cost: number };
  controller: { loss: number; share: number; cost: number; threshold: number; disagreeLoss: number; auditShare: number; auditRate: number };
  /** at its threshold: disagreeLoss = saver answers and differs from the base; saverRight / baseRight split it by who matched the label */
  oracle: { loss: number; share: number; cost: number; threshold: number; disagreeLoss: number; saverRight: number; baseRight: number };
  /** knows the base's answer on every row (no labels): lowest t whose saver/base disagreement share <= ε */
  oracleAgree: { loss: number; share: number; cost: number; threshold: number; disagreeLoss: number };
}

export async function main(argv: string[]): Promise<number> {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: argv, options: FLAGS as never, strict: true, allowNegative: true }) as {
      values: Record<string, unknown>;
    });
  } catch (e) {
    console.error(`drift: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  let cfg;
  try {
    cfg = {
      rows: num(values, 'rows', 1000, 10_000_000, true),
      batch: num(values, 'batch', 1, 4096, true),
      intervalRows: num(values, 'interval-rows', 1, 1_000_000, true),
      intervalSeconds: num(values, 'interval-seconds', 1, 86_400),
      windowIntervals: num(values, 'window-intervals', 1, 10_000, true),
      blockRows: num(values, 'block-rows', 10, 1_000_000, true),
      epsilon: num(values, 'epsilon', 1e-6, 1),
      confidence: num(values, 'confidence', 0.5, 0.999999),
      min: num(values, 'min', 0, 1),
      max: num(values, 'max', 0, 1),
      maxStep: num(values, 'max-step', 1e-4, 1),
      minAudits: num(values, 'min-audits', 1, 1e8, true),
      auditRate: num(values, 'audit-rate', 0, 1),
      severity: num(values, 'severity', 0, 1),
      seed: num(values, 'seed', 0, 2 ** 31, true),
      strata: num(values, 'strata', 1, 64, true),
      auditMax: num(values, 'audit-max', 0, 1),
      auditPlan: String(values['audit-plan']) as 'cost' | 'current',
    };
    if (cfg.auditPlan !== 'cost' && cfg.auditPlan !== 'current')
      throw new Error(`--audit-plan: expected cost or current, got ${JSON.stringify(cfg.auditPlan)}`);
    if (cfg.min > cfg.max) throw new Error(`--min ${cfg.min} > --max ${cfg.max}`);
    if (cfg.intervalRows % cfg.batch !== 0)
      throw new Error(`--interval-rows ${cfg.intervalRows} must be a multiple of --batch ${cfg.batch}`);
    if (cfg.blockRows % cfg.intervalRows !== 0)
      throw new Error(`--block-rows ${cfg.blockRows} must be a multiple of --interval-rows ${cfg.intervalRows}`);
  } catch (e) {
    console.error(`drift: ${(e as Error).message}`);
    return 2;
  }
  const delta = 1 - cfg.confidence;
  const say = (s: string) => console.log(s);
  const t0 = Date.now();

  // ---- data and offline models (for scoring and the fixed/oracle replays)
  const data = await loadFashionMnist('test');
  const { calibIdx, streamIdx } = splitTestSet(data.count);
  const saverPath = String(values.saver);
  const basePath = String(values.base);
  const models = await loadBenchModels(saverPath, basePath);
  const s = models.costRatio;

  // ---- the fixed threshold: certified offline on the clean calibration split (every row an audit sample)
  const cal = await calibrate(models, data.images, calibIdx);
  const fixedCert = fixedThreshold(cal, { epsilon: cfg.epsilon, delta, min: cfg.min, max: cfg.max, strata: cfg.strata });
  const tFixed = fixedCert.threshold;
  say(`calibration (${calibIdx.length} clean rows, disjoint from the stream): fixed threshold ${tFixed} — ${fixedCert.reason}`);

  // ---- the live cascade
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'tinysaver-drift-'));
  const thresholdFile = path.join(tmp, 'threshold.json');
  await writeFile(thresholdFile, JSON.stringify({ threshold: tFixed, auditRate: cfg.auditRate }));
  const saverServer = await startModelServer({ modelPath: saverPath, name: 'saver', port: 0, maxBatchSize: 1024, intraOpThreads: 1 });
  const baseServer = await startModelServer({ modelPath: basePath, name: 'base', port: 0, maxBatchSize: 1024, intraOpThreads: 1 });
  const router = await startRouter({
    port: 0,
    saverUrl: saverServer.url,
    saverModel: 'saver',
    baseUrl: baseServer.url,
    baseModel: 'base',
    threshold: tFixed,
    thresholdFile,
    reloadIntervalMs: 3_600_000, // the bench reloads explicitly right after writing the file
    auditRate: cfg.auditRate,
    auditConcurrency: 16,
    seed: cfg.seed,
    log: () => {},
  });
  const client = new V2Client(router.url);

  // ---- the controller, on a simulated clock, with the Kubernetes I/O replaced by local state
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const routerPort = new URL(router.url).port;
  const { controller, cascade, events, key } = benchController(
    benchCascade({
      name: 'drift',
      saverModel: saverPath,
      baseModel: basePath,
      initial: tFixed,
      min: cfg.min,
      max: cfg.max,
      epsilon: cfg.epsilon,
      confidence: cfg.confidence,
      auditRate: cfg.auditRate,
      auditMax: cfg.auditMax,
      intervalSeconds: cfg.intervalSeconds,
      windowIntervals: cfg.windowIntervals,
      maxStep: cfg.maxStep,
      minAudits: cfg.minAudits,
      ...(values.calibration && !values.v1 ? { calibration: cal.spec } : {}),
    }),
    {
      now: () => clock,
      v1: Boolean(values.v1),
      policyDefaults: { strata: cfg.strata, auditPlan: cfg.auditPlan, ...(values.v1 ? { deadBand: false } : {}) },
      pods: [
        {
          metadata: { name: 'drift-saver-0', namespace: 'bench', uid: 'pod-0', annotations: { [METRICS_PORT_ANNOTATION]: routerPort } },
          status: { phase: 'Running', podIP: '127.0.0.1', conditions: [{ type: 'Ready', status: 'True' }] },
        },
      ],
    },
  );

  // ---- the stream
  const R = cfg.rows;
  const label = new Uint8Array(R);
  const conf = new Float64Array(R);
  const saverTop1 = new Int32Array(R);
  const baseTop1 = new Int32Array(R);
  const liveTop1 = new Int32Array(R);
  const liveSaver = new Uint8Array(R);
  const severity = new Float32Array(R);
  const phase: string[] = new Array(R);
  const intervalAudits: number[] = [];
  const intervalTrace: {
    row: number;
    threshold: number;
    auditRate: number;
    bound: number;
    share: number;
    reason: string;
    audits: number;
  }[] = [];
  let confMismatch = 0;
  let fallbackRows = 0;
  const rand = seededRandom(cfg.seed);
  let order = streamIdx.slice();
  let currentThreshold = tFixed;
  let currentAuditRate = cfg.auditRate;
  const batchImages = new Float32Array(cfg.batch * PIXELS);

  for (let r0 = 0; r0 < R; r0 += cfg.batch) {
    const n = Math.min(cfg.batch, R - r0);
    for (let j = 0; j < n; j++) {
      const r = r0 + j;
      const pos = r % order.length;
      if (pos === 0) {
        // reshuffle each pass over the stream split (Fisher-Yates, seeded)
        order = order.slice();
        for (let i = order.length - 1; i > 0; i--) {
          const k = Math.floor(rand() * (i + 1));
          [order[i], order[k]] = [order[k], order[i]];
        }
      }
      const idx = order[pos];
      const sv = severityAt(r / R);
      severity[r] = sv.severity * cfg.severity;
      phase[r] = sv.phase;
      label[r] = data.labels[idx];
      const kind = CORRUPTIONS[Math.floor(rand() * CORRUPTIONS.length)];
      const img = corrupt(kind, data.images.subarray(idx * PIXELS, (idx + 1) * PIXELS), severity[r], rand);
      batchImages.set(img, j * PIXELS);
    }
    const images = batchImages.subarray(0, n * PIXELS);
    const pr = await predictRows(models, images, n);
    const res = await client.infer('cascade', {
      inputs: [{ name: models.inputName, datatype: 'FP32', shape: [n, 1, 28, 28], data: Float32Array.from(images) }],
    });
    const routes = parseRoutes(res.parameters);
    const rconf = parseConfidence(res.parameters);
    const out = rowConfidence(res.outputs[0].data as Float32Array, n, 10).top1;
    for (let j = 0; j < n; j++) {
      const r = r0 + j;
      conf[r] = pr.conf[j];
      saverTop1[r] = pr.saverTop1[j];
      baseTop1[r] = pr.baseTop1[j];
      liveTop1[r] = out[j];
      liveSaver[r] = routes[j] === 'base' ? 0 : 1;
      if (routes[j] === 'fallback') fallbackRows++;
      if (!(Math.abs(rconf[j] - pr.conf[j]) <= 1e-5)) confMismatch++;
    }
    // ---- one control interval has passed
    const done = r0 + n;
    if (done % cfg.intervalRows === 0 || done === R) {
      clock += cfg.intervalSeconds * 1000;
      await router.auditsIdle();
      const cyc = (await controller.runCycle(key)) as CycleResult;
      const audits = cyc.report.delta.auditAgree.reduce((a, b) => a + b, 0) + cyc.report.delta.auditDisagree.reduce((a, b) => a + b, 0);
      intervalAudits.push(audits);
      const nextT = effectiveThreshold(cascade());
      const nextA = effectiveAuditRate(cascade());
      intervalTrace.push({
        row: done,
        threshold: nextT,
        auditRate: nextA,
        bound: cyc.decision.bound,
        share: cyc.decision.share,
        reason: cyc.decision.reason,
        audits,
      });
      if (nextT !== currentThreshold || nextA !== currentAuditRate) {
        // what the kubelet does with the ConfigMap in a cluster: the routers' mounted file changes
        await writeFile(thresholdFile, thresholdFileContent(cascade()));
        await router.reloadThreshold();
        currentThreshold = nextT;
        currentAuditRate = nextA;
      }
      if (!values.quiet && (cyc.decision.changed || intervalTrace.length % 10 === 0)) {
        say(
          `row ${String(done).padStart(6)} sev ${severity[done - 1].toFixed(2)} t=${nextT} audit=${nextA.toFixed(3)} bound=${(cyc.decision.bound * 100).toFixed(2)}% ${cyc.decision.reason}${cyc.decision.changed ? ` (${cyc.decision.direction})` : ''}`,
        );
      }
    }
  }
  const gauge = (await router.metrics.threshold.get()).values[0]?.value;
  await router.close();
  await saverServer.close();
  await baseServer.close();
  await rm(tmp, { recursive: true, force: true });

  // ---- scoring
  const scored = { conf, saverTop1, baseTop1, label };
  const blocks: BlockScore[] = [];
  const intervalsPerBlock = cfg.blockRows / cfg.intervalRows;
  for (let b0 = 0, bi = 0; b0 + cfg.blockRows <= R; b0 += cfg.blockRows, bi++) {
    const b1 = b0 + cfg.blockRows;
    const n = b1 - b0;
    let baseOk = 0;
    for (let r = b0; r < b1; r++) if (baseTop1[r] === label[r]) baseOk++;
    let liveOk = 0;
    let liveKept = 0;
    let disagree = 0;
    for (let r = b0; r < b1; r++) {
      if (liveTop1[r] === label[r]) liveOk++;
      if (liveSaver[r]) {
        liveKept++;
        if (saverTop1[r] !== baseTop1[r]) disagree++;
      }
    }
    const audits = intervalAudits.slice(bi * intervalsPerBlock, (bi + 1) * intervalsPerBlock).reduce((a, c) => a + c, 0);
    const fixed = replay(scored, b0, b1, tFixed);
    const { oracle, agree } = windowOracles(scored, b0, b1, { epsilon: cfg.epsilon, min: cfg.min, max: cfg.max });
    const liveShare = liveKept / n;
    const tAtBlockStart = bi * intervalsPerBlock === 0 ? tFixed : intervalTrace[bi * intervalsPerBlock - 1].threshold;
    blocks.push({
      start: b0,
      severity: severity[b0 + Math.floor(n / 2)],
      phase: phase[b0 + Math.floor(n / 2)],
      accBase: baseOk / n,
      fixed: { loss: fixed.loss, share: fixed.share, cost: relativeCost(s, fixed.share, 0) },
      controller: {
        loss: (baseOk - liveOk) / n,
        share: liveShare,
        cost: relativeCost(s, liveShare, liveKept > 0 ? audits / liveKept : 0),
        threshold: tAtBlockStart,
        disagreeLoss: disagree / n,
        auditShare: audits / n,
        auditRate: bi * intervalsPerBlock === 0 ? cfg.auditRate : intervalTrace[bi * intervalsPerBlock - 1].auditRate,
      },
      oracle: { ...oracle, disagreeLoss: oracle.disagree, cost: relativeCost(s, oracle.share, 0) },
      oracleAgree: { ...agree, disagreeLoss: agree.disagree, cost: relativeCost(s, agree.share, 0) },
    });
  }
  const changes = intervalTrace.filter((x, i) => x.threshold !== (i === 0 ? tFixed : intervalTrace[i - 1].threshold)).length;
  const summarize = (pick: (b: BlockScore) => { loss: number; share: number; cost: number }) => {
    const xs = blocks.map(pick);
    const within = xs.filter((x) => x.loss <= cfg.epsilon + 1e-12).length;
    const mean = (f: (x: { loss: number; share: number; cost: number }) => number) => xs.reduce((a, x) => a + f(x), 0) / xs.length;
    return {
      within,
      windows: xs.length,
      meanLoss: mean((x) => x.loss),
      maxLoss: Math.max(...xs.map((x) => x.loss)),
      meanShare: mean((x) => x.share),
      meanCost: mean((x) => x.cost),
    };
  };
  const sum = {
    fixed: summarize((b) => b.fixed),
    controller: summarize((b) => b.controller),
    oracle: summarize((b) => b.oracle),
    oracleAgree: summarize((b) => b.oracleAgree),
  };
  const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
  const rowOf = (name: string, x: ReturnType<typeof summarize>, ch: string, audited: string) =>
    `| ${name} | ${x.within}/${x.windows} (${pct(x.within / x.windows)}) | ${pct(x.meanLoss)} | ${pct(x.maxLoss)} | ${pct(x.meanShare)} | ${pct(x.meanShare / sum.oracle.meanShare)} / ${pct(x.meanShare / sum.oracleAgree.meanShare)} | ${audited} | ${x.meanCost.toFixed(3)} | ${ch} |`;
  const meanAudited = blocks.reduce((a, b) => a + b.controller.auditShare, 0) / blocks.length;
  const auditRates = intervalTrace.map((x) => x.auditRate);
  const table = [
    `| policy | windows within budget (loss <= ${pct(cfg.epsilon)}) | mean loss vs base | worst window | mean saver share | share vs oracle / vs agreement oracle | audited rows (of all rows) | relative compute (base = 1) | threshold changes |`,
    '|---|---|---|---|---|---|---|---|---|',
    rowOf(`fixed t=${tFixed} (offline, clean calibration)`, sum.fixed, '0', '0'),
    rowOf('controller (live router + operator policy)', sum.controller, String(changes), pct(meanAudited)),
    rowOf('oracle (labels, best t per window)', sum.oracle, 'per window', '0'),
    rowOf('oracle on agreement (base answer of every row known, no labels)', sum.oracleAgree, 'per window', '0'),
  ];
  const phases = [...new Set(blocks.map((b) => b.phase))];
  const phaseTable = [
    '| phase | windows | base acc | fixed loss / share | controller loss / share | oracle loss / share | agreement oracle loss / share |',
    '|---|---|---|---|---|---|---|',
    ...phases.map((p) => {
      const bs = blocks.filter((b) => b.phase === p);
      const m = (f: (b: BlockScore) => number) => bs.reduce((a, b) => a + f(b), 0) / bs.length;
      return `| ${p} | ${bs.length} | ${pct(m((b) => b.accBase))} | ${pct(m((b) => b.fixed.loss))} / ${pct(m((b) => b.fixed.share))} | ${pct(m((b) => b.controller.loss))} / ${pct(m((b) => b.controller.share))} | ${pct(m((b) => b.oracle.loss))} / ${pct(m((b) => b.oracle.share))} | ${pct(m((b) => b.oracleAgree.loss))} / ${pct(m((b) => b.oracleAgree.share))} |`;
    }),
  ];
  // Why the label oracle's share is out of reach without labels: at its threshold the saver answers rows
  // where it disagrees with the base far beyond ε, and the loss stays small only because on many of them
  // the SAVER is right. A label-free certificate can only bound the disagreement (base assumed right).
  const reachTable = [
    `| phase | label oracle share | its disagreement share (saver answers, differs from base) | ... saver right, base wrong | ... base right, saver wrong | its loss (= base right - saver right) | agreement oracle share (disagreement <= ${pct(cfg.epsilon)}) | controller share | controller audit rate (mean) |`,
    '|---|---|---|---|---|---|---|---|---|',
    ...[...phases, 'all'].map((p) => {
      const bs = p === 'all' ? blocks : blocks.filter((b) => b.phase === p);
      const m = (f: (b: BlockScore) => number) => bs.reduce((a, b) => a + f(b), 0) / bs.length;
      return `| ${p} | ${pct(m((b) => b.oracle.share))} | ${pct(m((b) => b.oracle.disagreeLoss))} | ${pct(m((b) => b.oracle.saverRight))} | ${pct(m((b) => b.oracle.baseRight))} | ${pct(m((b) => b.oracle.loss))} | ${pct(m((b) => b.oracleAgree.share))} | ${pct(m((b) => b.controller.share))} | ${m((b) => b.controller.auditRate).toFixed(3)} |`;
    }),
  ];
  const secs = (Date.now() - t0) / 1000;
  const header = [
    `Drift benchmark: ${R} rows of the Fashion-MNIST test stream (5000-row split, cycled), saver ${path.basename(saverPath)}, base ${path.basename(basePath)}`,
    `(saver/base MACs ${Number.isFinite(s) ? s.toFixed(4) : 'unknown'}), budget ${pct(cfg.epsilon)} at ${cfg.confidence * 100}% confidence, thresholds in [${cfg.min}, ${cfg.max}],`,
    `control interval ${cfg.intervalRows} rows, window ${cfg.windowIntervals} intervals, scoring windows of ${cfg.blockRows} rows, peak severity ${cfg.severity}, seed ${cfg.seed},`,
    `controller ${values.v1 ? 'v1' : `v2 (${values.calibration ? 'warm start from the calibration' : 'cold start'})`}, audit rate in [${cfg.auditRate}, ${cfg.auditMax}] sized by "${cfg.auditPlan}" (min ${Math.min(...auditRates)}, median ${auditRates.slice().sort((a, b) => a - b)[Math.floor(auditRates.length / 2)]}, max ${Math.max(...auditRates)}), min audits ${cfg.minAudits}, max step ${cfg.maxStep}, strata ${cfg.strata}.`,
    `Router confidence vs offline recomputation mismatches: ${confMismatch}; fallback rows: ${fallbackRows}; router threshold gauge at the end: ${gauge} (controller: ${currentThreshold}); ${events.length} Events; ${secs.toFixed(0)} s.`,
  ];
  const md = [...header, '', ...table, '', ...phaseTable, '', ...reachTable, ''].join('\n');
  say(`\n${md}`);

  const outDir = String(values.out);
  await mkdir(outDir, { recursive: true });
  const svg = renderSvg({
    title: `Threshold under drift (budget ${pct(cfg.epsilon)} loss vs base, ${cfg.confidence * 100}% confidence)`,
    xLabel: 'stream position (rows); shade = corruption severity',
    x: blocks.map((b) => b.start + cfg.blockRows / 2),
    shade: blocks.map((b) => b.severity),
    panels: [
      {
        title: 'threshold',
        yMin: Math.max(0, Math.min(cfg.min, ...blocks.map((b) => b.oracle.threshold)) - 0.02),
        yMax: 1,
        format: (v) => v.toFixed(2),
        series: [
          { label: 'fixed', color: '#777', values: blocks.map(() => tFixed) },
          { label: 'controller', color: '#1f77b4', values: blocks.map((b) => b.controller.threshold) },
          { label: 'oracle', color: '#2ca02c', dash: '5 3', values: blocks.map((b) => b.oracle.threshold) },
          { label: 'oracle (agreement)', color: '#9467bd', dash: '2 2', values: blocks.map((b) => b.oracleAgree.threshold) },
        ],
      },
      {
        title: 'saver share',
        yMin: 0,
        yMax: 1,
        format: (v) => pct(v),
        series: [
          { label: 'fixed', color: '#777', values: blocks.map((b) => b.fixed.share) },
          { label: 'controller', color: '#1f77b4', values: blocks.map((b) => b.controller.share) },
          { label: 'oracle', color: '#2ca02c', dash: '5 3', values: blocks.map((b) => b.oracle.share) },
          { label: 'oracle (agreement)', color: '#9467bd', dash: '2 2', values: blocks.map((b) => b.oracleAgree.share) },
        ],
      },
      {
        title: 'controller audit rate (fraction of saver rows also sent to the base)',
        yMin: 0,
        yMax: Math.max(cfg.auditMax, 0.01),
        format: (v) => v.toFixed(2),
        series: [{ label: 'audit rate', color: '#ff7f0e', values: blocks.map((b) => b.controller.auditRate) }],
      },
      {
        title: 'realized accuracy loss vs base (per window)',
        yMin: Math.min(-0.01, ...blocks.map((b) => b.controller.loss)),
        yMax: Math.max(cfg.epsilon * 2, ...blocks.map((b) => b.fixed.loss)),
        format: (v) => pct(v),
        reference: { value: cfg.epsilon, label: 'budget', color: '#d62728' },
        series: [
          { label: 'fixed', color: '#777', values: blocks.map((b) => b.fixed.loss) },
          { label: 'controller', color: '#1f77b4', values: blocks.map((b) => b.controller.loss) },
          { label: 'oracle', color: '#2ca02c', dash: '5 3', values: blocks.map((b) => b.oracle.loss) },
        ],
      },
    ],
  });
  await writeFile(path.join(outDir, 'drift.svg'), svg);
  await writeFile(path.join(outDir, 'drift.md'), md);
  await writeFile(
    path.join(outDir, 'drift.json'),
    JSON.stringify(
      {
        config: cfg,
        tFixed,
        fixedCertification: fixedCert.reason,
        summary: sum,
        changes,
        events,
        blocks,
        intervals: intervalTrace,
        confMismatch,
        fallbackRows,
      },
      null,
      1,
    ),
  );
  if (values.docs) {
    const docs = String(values.docs);
    await mkdir(docs, { recursive: true });
    await copyFile(path.join(outDir, 'drift.svg'), path.join(docs, 'drift.svg'));
    await copyFile(path.join(outDir, 'drift.md'), path.join(docs, 'drift-run.md'));
  }
  say(`wrote ${path.join(outDir, 'drift.svg')}, drift.md, drift.json`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(`drift: ${(e as Error).stack ?? e}`);
    process.exit(1);
  },
);
