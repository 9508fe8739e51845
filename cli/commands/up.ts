// `tinysaver up` (what `npm start` runs): a whole cascade on this machine with the bundled models:
// saver model server (8001), base model server (8002) and the router (8000), all on 127.0.0.1.
// The router runs the saver in-process on the same session the saver server serves (no localhost hop,
// like `route --saver-onnx`); --saver-via-http makes it call the saver server instead, as a Sidecar pod does.
// --control adaptive|observe|fixed runs the operator's ThresholdController on the router (cli/local/control.ts:
// the cluster's code path with the Kubernetes I/O replaced by the threshold file), prints every decision
// as one line, and serves a read-only live view on its own port (cli/view/).

import { loadZooManifest, zooModelPath } from '../../models/zoo.js';
import { parseFlags, type FlagDef } from '../flags.js';
import { ROUTER_DEFAULTS } from '../../runtime/router/options.js';
import { startRouter, type RunningRouter } from '../../runtime/router/server.js';
import { startModelServer, type RunningModelServer } from '../../runtime/server/model-server.js';
import { loadOnnxModel, type OnnxModel } from '../../runtime/onnx/session.js';
import { untilSignal } from './route.js';
import { ListenError } from '../../runtime/oip/http.js';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { parseDuration } from '../../operator/threshold/spec.js';
import { withDefaults } from '../../operator/api/model-cascade.js';
import { fetchText } from '../../operator/telemetry/scrape.js';
import { histogramSeries, parsePromText, type HistogramSeries } from '../../operator/telemetry/prom-text.js';
import { ROUTER_METRICS } from '../../core/metrics/router-metric-names.js';
import { LocalControl, localModelCascade, localSpecErrors, type LocalCycle } from '../local/control.js';
import { STAGES, Timeline, type Stage } from '../view/timeline.js';
import { startViewServer, type RunningView } from '../view/server.js';

// CRD defaults (withDefaults, tied to crds/modelcascade.yaml by a test) of the control settings `up`
// exposes; interval and window are shorter than the CRD's 30s / 10m so a local run moves within a minute.
const D = withDefaults({ saver: { model: '' }, base: { model: '' } });
const CRD = {
  epsilon: D.budget.maxAccuracyLoss,
  confidence: D.budget.confidence,
  min: D.threshold.min,
  max: D.threshold.max,
  maxStep: D.control.maxStep,
  minAudits: D.control.minAudits,
  maxAuditRate: D.control.maxAuditRate,
};
const CONFIDENCE_MEASURES = ['max-prob', 'margin'];

export const UP_FLAGS: Record<string, FlagDef> = {
  // Defaults are the operating point `tinysaver select` / `simulate` pick for the bundled zoo (README).
  saver: {
    kind: 'string',
    default: 'saver-tinycnn',
    help: 'bundled saver candidate (models/zoo/manifest.json): saver-linear, saver-mlp, saver-tinycnn',
  },
  base: { kind: 'string', default: 'base-cnn', help: 'bundled base model' },
  host: { kind: 'string', default: '127.0.0.1', help: 'address all three servers listen on' },
  port: { kind: 'port', default: ROUTER_DEFAULTS.port, help: 'router port (the cascade endpoint)' },
  'saver-port': { kind: 'port', default: 8001, help: 'saver model server port' },
  'base-port': { kind: 'port', default: 8002, help: 'base model server port' },
  threshold: {
    kind: 'fraction',
    default: 0.88,
    help: 'confidence threshold; with --control adaptive|observe where the controller starts (spec.threshold.initial); in mode fixed ignored while --threshold-file holds a valid value',
  },
  'threshold-file': {
    kind: 'string',
    meta: 'PATH',
    help: 'threshold file the router hot-reloads (a number or {"threshold": t, "auditRate": a}); with --control adaptive|observe the controller writes it (default: a temporary file)',
  },
  'audit-rate': {
    kind: 'fraction',
    default: D.router.auditRate,
    help: 'fraction of saver-answered rows audited by the base (spec.router.auditRate)',
  },
  'confidence-measure': {
    kind: 'string',
    default: ROUTER_DEFAULTS.confidence,
    choices: CONFIDENCE_MEASURES,
    help: 'how the router scores a row',
  },
  'failure-policy': { kind: 'string', default: ROUTER_DEFAULTS.failurePolicy, choices: ['fallback', 'error'], help: 'when the base fails' },
  // All three servers share this process: one onnxruntime thread per session avoids two spinning
  // thread pools fighting over the same cores (measured: several times lower latency on 2 cores).
  'intra-op-threads': {
    kind: 'int',
    min: 0,
    default: 1,
    help: 'onnxruntime intra-op threads per model (0: onnxruntime default, all cores)',
  },
  'saver-via-http': {
    kind: 'boolean',
    default: false,
    help: 'the router calls the saver server over HTTP (the Sidecar pod layout) instead of running the saver in-process',
  },
  // fixed by default so a plain `npm start` serves the documented operating point (the CRD's default mode is adaptive)
  control: {
    kind: 'string',
    default: 'fixed',
    choices: ['adaptive', 'observe', 'fixed'],
    help: 'threshold mode (spec.threshold.mode): adaptive moves the threshold to keep the certified loss bound within --epsilon, observe computes and reports without applying, fixed keeps --threshold (the controller still reports the bound)',
  },
  epsilon: {
    kind: 'fraction',
    default: CRD.epsilon,
    help: 'budget: largest accuracy loss vs the base, as a fraction of all rows (spec.budget.maxAccuracyLoss)',
  },
  confidence: {
    kind: 'string',
    default: String(CRD.confidence),
    meta: 'C',
    help: 'confidence level 1 - delta of the loss bound, in [0.5, 1) (spec.budget.confidence)',
  },
  min: { kind: 'fraction', default: CRD.min, help: 'lowest threshold the controller may set (spec.threshold.min)' },
  max: { kind: 'fraction', default: CRD.max, help: 'highest threshold the controller may set (spec.threshold.max)' },
  'max-audit-rate': {
    kind: 'fraction',
    default: CRD.maxAuditRate,
    help: 'highest audit rate the controller may ask for; --audit-rate is the floor (spec.control.maxAuditRate)',
  },
  interval: { kind: 'string', default: '5s', meta: 'DURATION', help: 'control interval (spec.control.interval; the CRD default is 30s)' },
  window: { kind: 'string', default: '1m', meta: 'DURATION', help: 'telemetry window (spec.control.window; the CRD default is 10m)' },
  'max-step': { kind: 'number', default: CRD.maxStep, help: 'largest downward threshold move per interval (spec.control.maxStep)' },
  'min-audits': {
    kind: 'int',
    min: 1,
    default: CRD.minAudits,
    help: 'fewest fresh audits above a lower threshold before lowering (spec.control.minAudits)',
  },
  'status-file': {
    kind: 'string',
    meta: 'PATH',
    help: 'write the ModelCascade-like object (spec + status with threshold history) as JSON here after every interval',
  },
  'view-port': { kind: 'port', default: 8003, help: 'port of the live web view (read-only; 0 picks a free port)' },
  'no-view': { kind: 'boolean', default: false, help: 'do not serve the live view' },
  quiet: { kind: 'boolean', default: false, help: 'print only threshold changes, not every decision' },
};

function exampleRequest(url: string, inputName: string): string {
  const zeros = `$(printf '0,%.0s' $(seq 783))0`;
  return [
    `  curl -s ${url}/v2/models/cascade/infer -H 'Content-Type: application/json' \\`,
    `    -d "{\\"inputs\\":[{\\"name\\":\\"${inputName}\\",\\"datatype\\":\\"FP32\\",\\"shape\\":[1,1,28,28],\\"data\\":[${zeros}]}]}"`,
  ].join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const p = parseFlags(
    argv,
    'tinysaver up [flags]',
    'Run a local cascade on the bundled models: saver and base model servers plus the router.',
    UP_FLAGS,
  );
  if (p.kind === 'help') return (console.log(p.text), 0);
  if (p.kind === 'error') return (console.error(`tinysaver up: ${p.message}`), 2);
  const v = p.values;
  const known = loadZooManifest().models.map((m) => m.name);
  for (const flag of ['saver', 'base']) {
    if (!known.includes(v[flag] as string)) {
      console.error(`tinysaver up: --${flag}: "${v[flag]}" is not a bundled model (known: ${known.join(', ')})`);
      return 2;
    }
  }
  const control = v.control as 'adaptive' | 'observe' | 'fixed';
  let measure = v['confidence-measure'] as 'max-prob' | 'margin';
  let confidence: number;
  const rawConfidence = v.confidence as string;
  if (CONFIDENCE_MEASURES.includes(rawConfidence)) {
    // before the budget flags, --confidence named the measure; keep accepting that spelling
    measure = rawConfidence as 'max-prob' | 'margin';
    confidence = CRD.confidence;
    console.error(
      `tinysaver up: --confidence ${rawConfidence} is the confidence measure: spell it --confidence-measure ${rawConfidence} (--confidence is now the bound's confidence level)`,
    );
  } else {
    confidence = rawConfidence.trim() === '' ? NaN : Number(rawConfidence);
    if (!(confidence >= 0.5 && confidence < 1)) {
      console.error(
        `tinysaver up: --confidence: "${rawConfidence}" is not a confidence level in [0.5, 1) (e.g. 0.95; the router's measure is --confidence-measure max-prob|margin)`,
      );
      return 2;
    }
  }
  if (!((v.epsilon as number) > 0)) return (console.error('tinysaver up: --epsilon: the budget must be above 0 (e.g. 0.01)'), 2);
  for (const flag of ['interval', 'window']) {
    try {
      parseDuration(v[flag] as string);
    } catch (e) {
      return (console.error(`tinysaver up: --${flag}: ${(e as Error).message}`), 2);
    }
  }
  if (control === 'adaptive' && !((v['audit-rate'] as number) > 0)) {
    console.error(
      'tinysaver up: --audit-rate: --control adaptive needs audits (the policy certifies a threshold from saver rows the base also answered); give a rate above 0, e.g. --audit-rate 0.02, or use --control observe|fixed',
    );
    return 2;
  }
  const mc = localModelCascade({
    name: 'local',
    saverModel: zooModelPath(v.saver as string),
    baseModel: zooModelPath(v.base as string),
    mode: control,
    initial: v.threshold as number,
    min: v.min as number,
    max: v.max as number,
    epsilon: v.epsilon as number,
    confidence,
    auditRate: v['audit-rate'] as number,
    maxAuditRate: v['max-audit-rate'] as number,
    interval: v.interval as string,
    window: v.window as string,
    maxStep: v['max-step'] as number,
    minAudits: v['min-audits'] as number,
  });
  const specErrors = localSpecErrors(mc);
  if (!((v.threshold as number) >= (v.min as number) && (v.threshold as number) <= (v.max as number))) {
    specErrors.push(`--threshold ${v.threshold} must lie in [--min ${v.min}, --max ${v.max}]`);
  }
  if (specErrors.length > 0) {
    // name the flag behind the spec field
    const flagOf: Record<string, string> = {
      'threshold.min': '--min',
      'threshold.max': '--max',
      maxStep: '--max-step',
      minAudits: '--min-audits',
      interval: '--interval',
      window: '--window',
      auditRate: '--audit-rate/--max-audit-rate',
      maxAccuracyLoss: '--epsilon',
      delta: '--confidence',
    };
    const named = specErrors.map((e) => {
      const hit = Object.entries(flagOf).find(([k]) => e.includes(k));
      return hit ? `${hit[1]}: ${e}` : e;
    });
    console.error(`tinysaver up: ${named.join('; ')}`);
    return 2;
  }
  const host = v.host as string;
  const started: Array<RunningModelServer | RunningRouter | RunningView> = [];
  let local: LocalControl | undefined;
  let tmpDir: string | undefined;
  let saverSession: OnnxModel | undefined;
  const closeAll = async () => {
    await local?.stop().catch(() => undefined);
    for (const s of started.reverse()) await s.close().catch(() => undefined);
    await saverSession?.release().catch(() => undefined);
    if (tmpDir) await rm(tmpDir, { recursive: true, force: true }).catch(() => undefined);
  };
  try {
    const saverName = v.saver as string;
    const baseName = v.base as string;
    const intraOpThreads = (v['intra-op-threads'] as number) || undefined;
    const viaHttp = v['saver-via-http'] as boolean;
    if (!viaHttp) saverSession = await loadOnnxModel(zooModelPath(saverName), { intraOpThreads });
    const servers = await Promise.allSettled([
      startModelServer({
        modelPath: zooModelPath(saverName),
        model: saverSession,
        name: saverName,
        host,
        port: v['saver-port'] as number,
        intraOpThreads,
      }),
      startModelServer({ modelPath: zooModelPath(baseName), name: baseName, host, port: v['base-port'] as number, intraOpThreads }),
    ]);
    for (const s of servers) if (s.status === 'fulfilled') started.push(s.value);
    for (const s of servers) if (s.status === 'rejected') throw s.reason;
    const [saver, base] = started as RunningModelServer[];
    // The controller owns the threshold file in modes adaptive and observe (a cluster's ConfigMap); in mode
    // fixed a --threshold-file stays the user's to edit.
    const userFile = v['threshold-file'] as string | undefined;
    if (!userFile) tmpDir = await mkdtemp(path.join(os.tmpdir(), 'tinysaver-up-'));
    const thresholdFile = userFile ?? path.join(tmpDir!, 'threshold.json');
    let router: RunningRouter | undefined;
    local = new LocalControl({
      mc,
      routers: () => (router ? [{ name: 'router-0', host: loopbackOf(host), port: router.port }] : []),
      thresholdFile,
      afterWrite: async () => router?.reloadThreshold(),
    });
    if (!(control === 'fixed' && userFile)) await local.init();
    router = await startRouter({
      host,
      port: v.port as number,
      saverUrl: saver.url,
      saverModel: saverName,
      saverSession,
      baseUrl: base.url,
      baseModel: baseName,
      threshold: v.threshold as number,
      thresholdFile,
      auditRate: v['audit-rate'] as number,
      confidence: measure,
      failurePolicy: v['failure-policy'] as 'fallback' | 'error',
      startupTimeoutMs: 10_000,
    });
    started.push(router);
    const intervalMs = parseDuration(v.interval as string);
    const timeline = new Timeline(
      {
        mode: control,
        epsilon: v.epsilon as number,
        confidence,
        min: v.min as number,
        max: v.max as number,
        initial: v.threshold as number,
        intervalMs,
        windowMs: parseDuration(v.window as string),
        routers: [router.url],
        saver: saverName,
        base: baseName,
      },
      randomUUID(),
      Date.now(),
    );
    let view: RunningView | undefined;
    if (!v['no-view']) {
      try {
        view = await startViewServer({ host, port: v['view-port'] as number, timeline, cascade: () => local!.current() });
      } catch (e) {
        if (e instanceof ListenError) throw new ListenError(`--view-port: ${e.message} (or --no-view)`);
        throw e;
      }
      started.push(view);
    }
    const statusFile = v['status-file'] as string | undefined;
    const routerUrl = router.url;
    let prevLatency: Partial<Record<Stage, HistogramSeries>> | undefined;
    const quiet = v.quiet as boolean;
    local.start(
      intervalMs,
      async (c) => {
        await (async () => {
          const latency = await stageLatency(routerUrl);
          const gauge = c.report.routerThresholds.find((t) => Number.isFinite(t));
          timeline.add({
            t: c.at,
            // what the routers use: the controller's threshold, or (fixed mode, user's file) the router's gauge
            threshold: control === 'fixed' && userFile && gauge !== undefined ? gauge : c.to,
            recommended: c.decision.recommended,
            bound: c.decision.bound,
            boundBefore: c.decision.boundAtCurrent,
            auditRate: c.auditRateTo,
            holding: c.decision.holding,
            reason: c.decision.reason,
            message: c.decision.message,
            from: c.from,
            changed: c.to !== c.from,
            direction: c.to > c.from ? 'raise' : c.to < c.from ? 'lower' : 'none',
            delta: c.report.delta,
            latency,
            previousLatency: prevLatency,
          });
          if (latency) prevLatency = latency;
          if (!quiet || c.to !== c.from) console.log(decisionLine(c, control, v.epsilon as number));
          if (statusFile) await writeJsonAtomic(statusFile, { ...local!.current(), events: local!.events.slice(-20) });
        })().catch((e) => console.error(`tinysaver up: recording a decision failed: ${(e as Error).message}`));
      },
      (e) => console.error(`tinysaver up: control cycle failed: ${e.message}`),
    );
    const input = saver.metadata.inputs[0]?.name ?? 'input';
    console.log(
      [
        `tinysaver cascade is up (Ctrl-C to stop):`,
        `  cascade  ${router.url}/v2/models/cascade   (router${viaHttp ? '' : ' running the saver in-process'}; metrics at ${router.url}/metrics)`,
        `  saver    ${saver.url}/v2/models/${saverName}`,
        `  base     ${base.url}/v2/models/${baseName}`,
        `  threshold ${control === 'fixed' ? (userFile ? `from ${userFile}` : v.threshold) : `${v.threshold} at start, control ${control} (budget ${v.epsilon} loss vs base at ${confidence} confidence, every ${v.interval}, window ${v.window}; threshold file ${thresholdFile})`}, audit rate ${v['audit-rate']}${control === 'adaptive' ? `..${Math.max(v['audit-rate'] as number, v['max-audit-rate'] as number)}` : ''}`,
        view ? `  view     ${view.url}/   (live charts and decisions; JSON at ${view.url}/api/live)` : '  view     off (--no-view)',
        '',
        'Example request (one all-black 28x28 image):',
        exampleRequest(router.url, input),
        '',
        'Replay the Fashion-MNIST test set through it:',
        `  node bin/tinysaver.js replay --url ${router.url} --base-url ${base.url}`,
        'and with drift, until Ctrl-C:',
        `  node bin/tinysaver.js replay --url ${router.url} --base-url ${base.url} --drift blur --loop --rate 300`,
        '',
        `Threshold decisions, one line per control interval (${v.interval}):`,
      ].join('\n'),
    );
  } catch (e) {
    console.error(`tinysaver up: ${(e as Error).message}`);
    await closeAll();
    // A taken or forbidden port is a usage error (pick other --port/--saver-port/--base-port): exit 2.
    return e instanceof ListenError ? 2 : 1;
  }
  const sig = await untilSignal();
  console.error(`tinysaver up: ${sig}, shutting down`);
  await closeAll();
  return 0;
}

function loopbackOf(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '::1';
  return host;
}

const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(2)}%` : 'n/a');

/** One line per decision: time, old -> new threshold, reason, bound vs budget, audit rate, share. */
export function decisionLine(c: LocalCycle, mode: string, epsilon: number): string {
  const d = c.decision;
  const time = new Date(c.at).toISOString().slice(11, 19);
  let move: string;
  if (c.to !== c.from) move = `t ${c.from} -> ${c.to}`;
  else if (mode === 'observe' && Number.isFinite(d.proposed) && d.proposed !== c.from)
    move = `t ${c.from} (observe: would be ${Number(d.proposed.toFixed(4))})`;
  else move = `t ${c.from} (held)`;
  // the bound at the threshold that was in force (the evidence), and where a change leaves it
  const b = d.boundAtCurrent;
  let bound = Number.isFinite(b)
    ? `bound ${pct(b)} ${b > epsilon ? '>' : '<='} budget ${pct(epsilon)}`
    : `bound n/a, budget ${pct(epsilon)}`;
  if (c.to !== c.from && Number.isFinite(d.bound)) bound += ` (${pct(d.bound)} at ${c.to})`;
  const audit = c.auditRateTo !== c.auditRateFrom ? `audit ${c.auditRateFrom} -> ${c.auditRateTo}` : `audit ${c.auditRateTo}`;
  const rows = c.report.newRows;
  return `${time}  ${move.padEnd(22)}  ${d.reason.padEnd(18)}  ${bound}  ${audit}  share ${pct(d.share)}  (${rows} new rows, ${d.rows} in window, ${d.audits} audits)`;
}

/** The router's request-latency histograms by stage (undefined when /metrics cannot be read). */
async function stageLatency(routerUrl: string): Promise<Partial<Record<Stage, HistogramSeries>> | undefined> {
  try {
    const fams = parsePromText(await fetchText(`${routerUrl}/metrics`, 2000, 4 << 20));
    const fam = fams.get(ROUTER_METRICS.duration);
    if (!fam) return undefined;
    const out: Partial<Record<Stage, HistogramSeries>> = {};
    for (const stage of STAGES) {
      const h = histogramSeries(fam, { stage });
      if (h) out[stage] = h;
    }
    return out;
  } catch {
    return undefined;
  }
}

async function writeJsonAtomic(file: string, body: unknown): Promise<void> {
  const tmp = `${file}.tmp`;
  await writeFile(tmp, `${JSON.stringify(body, null, 2)}\n`);
  await rename(tmp, file);
}
