// `tinysaver select`: rank saver candidates for a base by ΔC = s - r at the certified budget operating point.

import { basename } from 'node:path';
import { CONFIDENCE_MEASURES, type ConfidenceMeasure } from '../../core/cascade/confidence.js';
import { loadZooManifest } from '../../models/zoo.js';
import { type FlagDef, parseFlags } from '../flags.js';
import { DEFAULT_BASE, combinePredictions, modelMacs, resolveModel, scoreOnTestSet } from '../../runtime/simulate/inputs.js';
import { pct } from '../../runtime/simulate/simulate.js';
import { type Candidate, type Selection, rankSavers } from '../../runtime/simulate/select.js';
import { reportJson } from './simulate.js';
import { formatTable } from '../../core/text/table.js';

const FLAGS: Record<string, FlagDef> = {
  base: { kind: 'string', meta: 'MODEL', default: DEFAULT_BASE, help: 'base ONNX file or bundled zoo model name' },
  savers: { kind: 'string', meta: 'A,B,...', help: 'comma-separated saver ONNX files or zoo names (default: every bundled saver)' },
  'dataset-dir': {
    kind: 'string',
    meta: 'DIR',
    help: 'Fashion-MNIST IDX directory (default $FASHION_MNIST_DIR or /usr/share/datasets/fashion-mnist)',
  },
  limit: { kind: 'int', min: 2, meta: 'N', help: 'use only the first N test images' },
  'batch-size': { kind: 'int', min: 1, default: 512, help: 'rows per model run' },
  measure: { kind: 'string', choices: CONFIDENCE_MEASURES, default: 'max-prob', help: 'saver confidence measure' },
  probabilities: { kind: 'boolean', default: false, help: 'model outputs are probabilities (default: logits)' },
  budget: { kind: 'fraction', default: 0.01, help: 'ε: allowed share of rows where the cascade differs from the base' },
  delta: { kind: 'fraction', default: 0.05, help: 'δ: the budget holds with confidence 1 - δ' },
  min: { kind: 'fraction', default: 0.5, help: 'lowest threshold the budget pick may choose' },
  max: { kind: 'fraction', default: 1, help: 'highest threshold' },
  'audit-rate': { kind: 'fraction', default: 0, help: 'audit rate a counted in the relative cost' },
  'calibration-fraction': { kind: 'fraction', default: 0.5, help: 'share of rows used to pick thresholds' },
  seed: { kind: 'int', min: 0, default: 1, help: 'seed of the calibration/evaluation shuffle' },
  json: { kind: 'boolean', default: false, help: 'print the ranking as JSON' },
};

const USAGE = 'tinysaver select [--base MODEL] [--savers A,B,...] [flags]';
const SUMMARY =
  'Rank saver candidates for one base model by the TinySaver score ΔC = s - r (s: MACs ratio, r: saver share) at the certified budget operating point.';

export function formatSelection(sel: Selection, base: string): string {
  const head = ['rank', 'saver', 'MACs', 's', 'threshold', 'share r', 'ΔC', 'rel. cost', 'accuracy', 'vs base', 'saver alone'];
  const rows = sel.ranking.map((r) => {
    const e = r.report.budget.evaluation;
    const loss = e.accuracyLoss;
    return [
      String(r.rank),
      r.name,
      r.macs.toLocaleString('en-US'),
      r.costRatio.toFixed(4),
      String(r.report.budget.threshold),
      pct(e.saverShare, 1),
      r.deltaCost.toFixed(3),
      e.relativeCost.toFixed(3),
      pct(e.accuracy),
      loss === null ? 'n/a' : `${loss > 0 ? '-' : '+'}${(100 * Math.abs(loss)).toFixed(2)}%`,
      pct(r.report.saverAccuracy),
    ];
  });
  const first = sel.ranking[0].report;
  const c = first.budget.certification!;
  return [
    `tinysaver select: base ${base} (${sel.baseMacs.toLocaleString('en-US')} MACs, accuracy ${pct(first.baseAccuracy)})`,
    `operating point: budget ε = ${c.epsilon} at confidence ${1 - c.delta}, certified on ${first.split.calibrationRows} calibration rows, measured on ${first.split.evaluationRows} held-out rows`,
    '',
    formatTable(head, rows, (i) => i === 1),
    '',
    sel.why,
  ].join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, USAGE, SUMMARY, FLAGS);
  if (parsed.kind === 'help') {
    console.log(parsed.text);
    return 0;
  }
  if (parsed.kind === 'error') {
    console.error(`tinysaver select: ${parsed.message}`);
    return 2;
  }
  const f = parsed.values;
  if (f.delta === 0 || f.delta === 1) {
    console.error('tinysaver select: --delta must be strictly between 0 and 1');
    return 2;
  }
  if ((f.min as number) > (f.max as number)) {
    console.error(`tinysaver select: --min ${f.min} is above --max ${f.max}`);
    return 2;
  }
  let sel: Selection;
  try {
    const saverArgs = f.savers
      ? (f.savers as string)
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s.length > 0)
      : loadZooManifest()
          .models.filter((m) => m.role === 'saver')
          .map((m) => m.name);
    if (saverArgs.length === 0) throw new Error('--savers: no saver given');
    const basePath = resolveModel(f.base as string);
    const baseMacs = await modelMacs(basePath);
    const run = {
      datasetDir: f['dataset-dir'] as string | undefined,
      limit: f.limit as number | undefined,
      batchSize: f['batch-size'] as number,
      measure: f.measure as ConfidenceMeasure,
      probabilities: f.probabilities as boolean,
    };
    const base = await scoreOnTestSet(basePath, { ...run, measure: 'max-prob', progressLabel: `select: base ${basename(basePath)}` });
    const candidates: Candidate[] = [];
    for (const s of saverArgs) {
      const path = resolveModel(s);
      const macs = await modelMacs(path);
      const saver = await scoreOnTestSet(path, { ...run, progressLabel: `select: saver ${basename(path)}` });
      candidates.push({ name: s, macs, predictions: combinePredictions(saver.rows, base.rows, base.labels) });
    }
    sel = rankSavers(candidates, baseMacs, {
      budget: f.budget as number,
      delta: f.delta as number,
      min: f.min as number,
      max: f.max as number,
      auditRate: f['audit-rate'] as number,
      calibrationFraction: f['calibration-fraction'] as number,
      seed: f.seed as number,
    });
  } catch (e) {
    console.error(`tinysaver select: ${(e as Error).message}`);
    return 2;
  }
  if (f.json) {
    // the per-threshold sweeps are long; `simulate --json` has them
    const slim = {
      ...sel,
      ranking: sel.ranking.map(({ report, ...r }) => ({
        ...r,
        budget: report.budget,
        paper: report.paper,
        baseAccuracy: report.baseAccuracy,
        saverAccuracy: report.saverAccuracy,
        split: report.split,
      })),
    };
    console.log(reportJson(slim));
  } else console.log(formatSelection(sel, f.base as string));
  return 0;
}
