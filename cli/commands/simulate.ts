// `tinysaver simulate`: what would a cascade of this saver and base save, and what would it cost in
// accuracy? Sweeps the threshold offline, picks operating points on a calibration split and reports
// them on a held-out split; writes a table, JSON, an SVG plot and a ModelCascade snippet.

import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CONFIDENCE_MEASURES, type ConfidenceMeasure } from '../../core/cascade/confidence.js';
import { type FlagDef, type FlagValues, parseFlags } from '../flags.js';
import { progressReporter } from '../../core/text/progress.js';
import { parseTimeArg } from '../../runtime/decisions/read.js';
import { type DecisionsWhatIf, asSimulationReport, formatDecisionsReport, simulateDecisions } from '../../runtime/simulate/decisions.js';
import {
  DEFAULT_BASE,
  DEFAULT_SAVER,
  modelMacs,
  predictionsFromFile,
  predictionsFromModels,
  resolveModel,
} from '../../runtime/simulate/inputs.js';
import { predictionsToJsonl } from '../../runtime/simulate/predictions.js';
import { plotSvg } from '../../runtime/simulate/plot.js';
import { formatReport } from '../../runtime/simulate/report.js';
import { type SimulationReport, simulate } from '../../runtime/simulate/simulate.js';
import { modelCascadeSnippet } from '../../runtime/simulate/snippet.js';

export const SIMULATE_FLAGS: Record<string, FlagDef> = {
  saver: { kind: 'string', meta: 'MODEL', default: DEFAULT_SAVER, help: 'saver ONNX file or bundled zoo model name' },
  base: { kind: 'string', meta: 'MODEL', default: DEFAULT_BASE, help: 'base ONNX file or bundled zoo model name' },
  predictions: {
    kind: 'string',
    meta: 'FILE.jsonl',
    help: 'logged predictions instead of running models (format in README: {"saver":[...],"base":[...],"label":3} or {"saverConf":0.93,"saverTop1":3,"baseTop1":3,"label":3})',
  },
  'dataset-dir': {
    kind: 'string',
    meta: 'DIR',
    help: 'Fashion-MNIST IDX directory (default $FASHION_MNIST_DIR or /usr/share/datasets/fashion-mnist)',
  },
  limit: { kind: 'int', min: 2, meta: 'N', help: 'use only the first N test images' },
  'batch-size': { kind: 'int', min: 1, default: 512, help: 'rows per model run' },
  measure: { kind: 'string', choices: CONFIDENCE_MEASURES, default: 'max-prob', help: 'saver confidence measure' },
  probabilities: {
    kind: 'boolean',
    default: false,
    help: 'model outputs / logged scores are probabilities (default: logits for models, auto-detected per row for --predictions)',
  },
  'cost-ratio': { kind: 'number', meta: 'S', help: 'saver cost / base cost (default: MACs ratio from the ONNX graphs)' },
  'audit-rate': { kind: 'fraction', default: 0, help: 'audit rate a counted in the relative cost s + (1 - r) + a r' },
  budget: { kind: 'fraction', default: 0.01, help: 'ε: allowed share of rows where the cascade differs from the base' },
  delta: { kind: 'fraction', default: 0.05, help: 'δ: the budget holds with confidence 1 - δ' },
  min: { kind: 'fraction', default: 0.5, help: 'lowest threshold the budget pick may choose' },
  max: { kind: 'fraction', default: 1, help: 'highest threshold (held when nothing certifies)' },
  strata: { kind: 'int', min: 1, default: 3, help: 'strata of the Clopper-Pearson bound' },
  'calibration-fraction': { kind: 'fraction', default: 0.5, help: 'share of rows used to pick thresholds (the rest reports)' },
  seed: { kind: 'int', min: 0, default: 1, help: 'seed of the calibration/evaluation shuffle' },
  step: { kind: 'fraction', default: 0.01, help: 'fine grid step of the sweep (bucket edges are always included)' },
  json: { kind: 'boolean', default: false, help: 'print the full report as JSON' },
  plot: { kind: 'string', meta: 'FILE.svg', help: 'write the accuracy vs relative compute plot' },
  snippet: {
    kind: 'string',
    meta: 'FILE.yaml',
    help: 'write a ModelCascade manifest for the budget operating point, with spec.threshold.calibration (the warm start) when every calibration row has both answers; - prints it to stdout (the report then goes to stderr)',
  },
  name: { kind: 'string', default: 'my-cascade', help: 'metadata.name in the snippet' },
  'saver-uri': { kind: 'string', meta: 'URI', help: 'spec.saver.model in the snippet (default: file:// of the local saver file)' },
  'base-uri': { kind: 'string', meta: 'URI', help: 'spec.base.model in the snippet (default: file:// of the local base file)' },
  'save-predictions': {
    kind: 'string',
    meta: 'FILE.jsonl',
    help: 'also write the per-row predictions (compact JSONL, reusable with --predictions)',
  },
  decisions: {
    kind: 'string',
    meta: 'LOG...',
    help: "router decision logs (one or more files: pods, rotated parts): the what-if on logged traffic, inverse-probability weighted, with the controller's certified bound",
  },
  since: {
    kind: 'string',
    meta: 'TIME',
    help: 'with --decisions: only records at or after TIME (ISO 8601, or a duration back from now: 90m, 2h, 7d)',
  },
  until: { kind: 'string', meta: 'TIME', help: 'with --decisions: only records before TIME' },
};

/** Every value after --decisions up to the next flag (and of repeated --decisions); the rest of argv. */
export function takeLogArgs(argv: string[], flag = 'decisions'): { logs: string[]; rest: string[]; given: boolean } {
  const logs: string[] = [];
  const rest: string[] = [];
  let given = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === `--${flag}`) {
      given = true;
      while (i + 1 < argv.length && !argv[i + 1].startsWith('--')) logs.push(argv[++i]);
    } else if (a.startsWith(`--${flag}=`)) {
      given = true;
      logs.push(a.slice(flag.length + 3));
    } else rest.push(a);
  }
  return { logs, rest, given };
}

const USAGE = 'tinysaver simulate [--saver MODEL] [--base MODEL | --predictions FILE.jsonl | --decisions LOG...] [flags]';
const SUMMARY =
  'Simulate a saver/base cascade offline: sweep the threshold, pick it by the TinySaver criterion and by a certified accuracy budget (picked on a calibration split, reported on a held-out split).';

/** JSON with Infinity thresholds written as the string "Infinity" (base only). */
export function reportJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (v === Infinity ? 'Infinity' : v), 2);
}

export async function run(argvIn: string[]): Promise<number> {
  const taken = takeLogArgs(argvIn);
  const argv = taken.rest;
  const parsed = parseFlags(argv, USAGE, SUMMARY, SIMULATE_FLAGS);
  if (parsed.kind === 'help') {
    console.log(parsed.text);
    return 0;
  }
  if (parsed.kind === 'error') {
    console.error(`tinysaver simulate: ${parsed.message}`);
    return 2;
  }
  const f = parsed.values;
  if ((f.min as number) > (f.max as number)) {
    console.error(`tinysaver simulate: --min ${f.min} is above --max ${f.max}`);
    return 2;
  }
  if (f.delta === 0 || f.delta === 1) {
    console.error('tinysaver simulate: --delta must be strictly between 0 and 1');
    return 2;
  }
  if (f['calibration-fraction'] === 0 || f['calibration-fraction'] === 1) {
    console.error('tinysaver simulate: --calibration-fraction must be strictly between 0 and 1');
    return 2;
  }
  if (taken.given) return runDecisions(taken.logs, f, argv);
  if (f.since !== undefined || f.until !== undefined) {
    console.error('tinysaver simulate: --since/--until need --decisions');
    return 2;
  }
  const measure = f.measure as ConfidenceMeasure;
  const argvHas = (name: string) => argv.some((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  let saverPath: string | undefined;
  let basePath: string | undefined;
  let report: SimulationReport;
  let title: string;
  try {
    const modelsGiven = !f.predictions || argvHas('saver') || argvHas('base');
    if (modelsGiven) {
      saverPath = resolveModel(f.saver as string);
      basePath = resolveModel(f.base as string);
    }
    let costRatio = f['cost-ratio'] as number | undefined;
    if (costRatio === undefined) {
      if (!saverPath || !basePath)
        throw new Error('--cost-ratio is required with --predictions (or pass --saver and --base ONNX files to profile)');
      costRatio = (await modelMacs(saverPath)) / (await modelMacs(basePath));
    }
    if (!(costRatio >= 0)) throw new Error(`--cost-ratio: must be >= 0, got ${costRatio}`);
    const preds = f.predictions
      ? await predictionsFromFile(f.predictions as string, measure, f.probabilities ? true : 'auto')
      : await predictionsFromModels(saverPath!, basePath!, {
          datasetDir: f['dataset-dir'] as string | undefined,
          limit: f.limit as number | undefined,
          batchSize: f['batch-size'] as number,
          measure,
          probabilities: f.probabilities as boolean,
          progressLabel: 'simulate: running saver + base',
        });
    if (f['save-predictions']) await writeFile(f['save-predictions'] as string, predictionsToJsonl(preds));
    report = simulate(preds, {
      costRatio,
      auditRate: f['audit-rate'] as number,
      budget: f.budget as number,
      delta: f.delta as number,
      min: f.min as number,
      max: f.max as number,
      strata: f.strata as number,
      calibrationFraction: f['calibration-fraction'] as number,
      seed: f.seed as number,
      step: f.step as number,
    });
    title = f.predictions ? `tinysaver simulate: ${f.predictions}` : `tinysaver simulate: saver ${f.saver} / base ${f.base}`;
  } catch (e) {
    console.error(`tinysaver simulate: ${(e as Error).message}`);
    return 2;
  }
  if (f.plot) await writeFile(f.plot as string, plotSvg(report, title.replace('tinysaver simulate: ', '')));
  if (f.snippet) {
    await writeSnippet(
      f.snippet as string,
      modelCascadeSnippet(report, {
        name: f.name as string,
        saverModel: (f['saver-uri'] as string | undefined) ?? (saverPath ? `file://${resolve(saverPath)}` : 'pvc://models/saver.onnx'),
        baseModel: (f['base-uri'] as string | undefined) ?? (basePath ? `file://${resolve(basePath)}` : 'pvc://models/base.onnx'),
        measure,
        min: f.min as number,
        max: f.max as number,
      }),
    );
  }
  const out = f.snippet === '-' ? console.error : console.log;
  if (f.json) out(reportJson({ ...report, title }));
  else out(formatReport(report, title));
  return 0;
}

/** --snippet FILE writes the manifest; --snippet - prints it on stdout (the caller then reports on stderr). */
async function writeSnippet(dest: string, text: string): Promise<void> {
  if (dest === '-') process.stdout.write(text);
  else await writeFile(dest, text);
}

/** `simulate --decisions LOG...`: the what-if on logged traffic (runtime/simulate/decisions.ts). */
async function runDecisions(logs: string[], f: FlagValues, argv: string[]): Promise<number> {
  const fail = (msg: string) => {
    console.error(`tinysaver simulate: ${msg}`);
    return 2;
  };
  if (logs.length === 0) return fail('--decisions needs at least one log file');
  if (f.predictions) return fail('--decisions and --predictions are two inputs; pass one');
  const argvHas = (name: string) => argv.some((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  let result: DecisionsWhatIf;
  let costRatio = f['cost-ratio'] as number | undefined;
  let saverPath: string | undefined;
  let basePath: string | undefined;
  try {
    if (argvHas('saver') || argvHas('base')) {
      saverPath = resolveModel(f.saver as string);
      basePath = resolveModel(f.base as string);
      if (costRatio === undefined) costRatio = (await modelMacs(saverPath)) / (await modelMacs(basePath));
    }
    const since = f.since === undefined ? undefined : parseTimeArg('since', f.since as string);
    const until = f.until === undefined ? undefined : parseTimeArg('until', f.until as string);
    if (since !== undefined && until !== undefined && since >= until)
      throw new Error(`--since (${new Date(since).toISOString()}) is not before --until (${new Date(until).toISOString()})`);
    const bar = progressReporter('simulate: reading decision logs');
    try {
      result = await simulateDecisions(logs, {
        costRatio: costRatio ?? null,
        auditRate: argvHas('audit-rate') ? (f['audit-rate'] as number) : undefined,
        epsilon: f.budget as number,
        delta: f.delta as number,
        min: f.min as number,
        max: f.max as number,
        strata: f.strata as number,
        step: f.step as number,
        since,
        until,
        onProgress: bar.update,
      });
    } finally {
      bar.end();
    }
  } catch (e) {
    return fail((e as Error).message);
  }
  const title = `tinysaver simulate --decisions ${logs.join(' ')}`;
  const first = result.versions[0];
  if ((f.plot || f.snippet) && !first) return fail('no row records: nothing to plot or write a snippet for');
  if (f.plot) {
    if (costRatio === undefined)
      return fail('--plot needs the relative compute: pass --cost-ratio (or --saver and --base ONNX files to profile)');
    await writeFile(f.plot as string, plotSvg(asSimulationReport(first), `decisions: ${first.cascade}`));
  }
  if (f.snippet) {
    await writeSnippet(
      f.snippet as string,
      modelCascadeSnippet(asSimulationReport(first), {
        name: f.name as string,
        saverModel: (f['saver-uri'] as string | undefined) ?? (saverPath ? `file://${resolve(saverPath)}` : 'pvc://models/saver.onnx'),
        baseModel: (f['base-uri'] as string | undefined) ?? (basePath ? `file://${resolve(basePath)}` : 'pvc://models/base.onnx'),
        measure: f.measure as string,
        min: f.min as number,
        max: f.max as number,
      }),
    );
  }
  const out = f.snippet === '-' ? console.error : console.log;
  if (f.json) out(reportJson({ title, ...result }));
  else out(formatDecisionsReport(result, title));
  return 0;
}
