// `tinysaver simulate --decisions LOG...`: the threshold what-if on logged live traffic. Records are read
// as a stream (runtime/decisions/read.ts), grouped by cascade and model identities (records of different
// versions are never pooled), and each group is estimated by inverse-probability weighting with the
// controller's certified bound (runtime/decisions/estimate.ts). Output: the same kind of table, plot and
// ModelCascade snippet as `simulate` on predictions.

import { CONFIDENCE_BUCKETS } from '../../core/cascade/buckets.js';
import { deltaCost } from '../../core/cascade/cost.js';
import { formatTable } from '../../core/text/table.js';
import { DecisionEstimator, type EstimateOptions, type WhatIfPoint, type WhatIfReport, sweepGrid } from '../decisions/estimate.js';
import { type ReadOptions, type ReadStats, badTotal, readDecisionLogs } from '../decisions/read.js';
import { versionKey } from '../decisions/record.js';
import type { SimulationReport } from './simulate.js';
import type { SweepPoint } from './sweep.js';
import { pct } from './simulate.js';

/** Most distinct cascade/model versions kept apart; records of further versions are counted, not estimated. */
export const MAX_VERSIONS = 32;

export interface VersionWhatIf {
  key: string;
  cascade: string;
  saver: string;
  base: string;
  pods: string[];
  /** settings records seen (generation changes, starts) */
  settingsChanges: number;
  report: WhatIfReport;
}

export interface DecisionsWhatIf {
  read: ReadStats;
  /** versions, most records first */
  versions: VersionWhatIf[];
  /** records of versions beyond MAX_VERSIONS */
  otherVersionRecords: number;
  /** row records that cannot be weighted (sample rate 0 on an escalated row) */
  unweighted: number;
}

export interface DecisionsOptions extends EstimateOptions, ReadOptions {
  step?: number;
}

const MAX_PODS_LISTED = 50;

export async function simulateDecisions(paths: string[], o: DecisionsOptions): Promise<DecisionsWhatIf> {
  const grid = sweepGrid(o.step ?? 0.01);
  const groups = new Map<
    string,
    { est: DecisionEstimator; cascade: string; saver: string; base: string; pods: Set<string>; settings: number }
  >();
  let other = 0;
  const read = await readDecisionLogs(
    paths,
    (r) => {
      const key = versionKey(r);
      let g = groups.get(key);
      if (!g) {
        if (groups.size >= MAX_VERSIONS) {
          other++;
          return;
        }
        g = {
          est: new DecisionEstimator(grid, CONFIDENCE_BUCKETS),
          cascade: r.cascade,
          saver: r.saver,
          base: r.base,
          pods: new Set(),
          settings: 0,
        };
        groups.set(key, g);
      }
      if (g.pods.size < MAX_PODS_LISTED) g.pods.add(r.pod);
      if (r.kind === 'settings') g.settings++;
      else g.est.add(r);
    },
    o,
  );
  let unweighted = 0;
  const versions: VersionWhatIf[] = [];
  for (const [key, g] of groups) {
    unweighted += g.est.unweighted;
    if (g.est.size === 0) continue;
    versions.push({
      key,
      cascade: g.cascade,
      saver: g.saver,
      base: g.base,
      pods: [...g.pods].sort(),
      settingsChanges: g.settings,
      report: g.est.result(o),
    });
  }
  versions.sort((a, b) => b.report.records - a.report.records);
  return { read, versions, otherVersionRecords: other, unweighted };
}

const ci = (v: number, se: number, z: number, digits = 2) => `${(100 * v).toFixed(digits)}% ± ${(100 * z * se).toFixed(digits)}`;

function shownPoints(r: WhatIfReport): WhatIfPoint[] {
  const inForce = new Set<number>(r.thresholdsInForce);
  const picked = r.certification.threshold;
  return r.points.filter(
    (p) =>
      p.threshold === 0 ||
      (CONFIDENCE_BUCKETS.includes(p.threshold) && p.threshold >= 0.5) ||
      inForce.has(p.threshold) ||
      p.threshold === picked,
  );
}

/** Text report: what was read (and what was not), then per version the estimates and the certified pick. */
export function formatDecisionsReport(w: DecisionsWhatIf, title: string): string {
  const s = w.read;
  const lines = [
    title,
    `read ${s.files} file(s), ${s.lines} line(s), ${s.records} record(s)${s.outsideRange ? `; ${s.outsideRange} outside --since/--until` : ''}`,
  ];
  const bad = badTotal(s);
  if (bad > 0) {
    lines.push(
      `skipped ${bad} bad line(s): ${Object.entries(s.bad)
        .map(([k, v]) => `${v} ${k}`)
        .join('; ')}`,
    );
    for (const e of s.examples) lines.push(`  e.g. ${e}`);
  }
  if (w.unweighted > 0)
    lines.push(`skipped ${w.unweighted} row record(s) with inclusion probability 0 (escalated rows at sample rate 0 cannot be weighted)`);
  if (w.otherVersionRecords > 0) lines.push(`skipped ${w.otherVersionRecords} record(s) of versions beyond the first ${MAX_VERSIONS}`);
  if (w.versions.length === 0) {
    lines.push('no row records to estimate from');
    return lines.join('\n');
  }
  if (w.versions.length > 1) lines.push(`${w.versions.length} cascade/model versions, estimated apart (never pooled):`);
  w.versions.forEach((v, i) => {
    const r = v.report;
    const c = r.certification;
    const z = r.z;
    lines.push(
      '',
      `[${i + 1}] cascade ${v.cascade}; saver ${v.saver}; base ${v.base}`,
      `    ${r.records} row record(s) from ${v.pods.length} pod(s) (${v.pods.slice(0, 5).join(', ')}${v.pods.length > 5 ? ', ...' : ''}), ${r.from} .. ${r.to}; ${v.settingsChanges} settings record(s)`,
      `    routes: saver ${r.routes.saver}, audit ${r.routes.audit}${r.auditsDropped ? ` (+${r.auditsDropped} dropped)` : ''}, base ${r.routes.base}, fallback ${r.routes.fallback}; stands for ~${Math.round(r.estimatedRows)} rows of traffic`,
      `    in force: threshold ${range(r.thresholdsInForce)}, audit rate ${range(r.auditRates)}, sample rate ${range(r.sampleRates)}`,
    );
    for (const n of r.notes) lines.push(`    note: ${n}`);
    lines.push(
      `    certified (ε = ${c.epsilon}, confidence ${1 - c.delta}): threshold ${c.threshold}${c.certifiedThreshold === null ? ' (nothing certified: max held)' : ''}`,
      `    ${c.reason}`,
      '',
    );
    const rows = shownPoints(r).map((p) => [
      `${p.threshold === c.threshold ? '(b) ' : ''}${r.thresholdsInForce.includes(p.threshold) ? '* ' : ''}${p.threshold}`,
      ci(p.saverShare, p.saverShareSe, z, 1),
      p.relativeCost === null ? 'n/a' : p.relativeCost.toFixed(3),
      r.costRatio === null ? 'n/a' : deltaCost(r.costRatio, Math.min(1, Math.max(0, p.saverShare))).toFixed(3),
      ci(p.disagreement, p.disagreementSe, z),
      pct(p.bound),
    ]);
    lines.push(
      formatTable(['threshold', 'saver share', 'rel. cost', 'ΔC', 'P(ans & disagree)', 'bound B(s)'], rows).replace(/^/gm, '    '),
    );
  });
  const z = w.versions[0].report.z;
  lines.push(
    '',
    `± : ${z === 1.959963984540054 ? '95 %' : `z = ${z}`} interval of the inverse-probability-weighted estimate (sampling of the log and of the audits).`,
    "bound B(s): the controller's certified upper bound on P(ans & disagree); (b): the certified pick; *: a threshold that was in force.",
  );
  return lines.join('\n');
}

function range([lo, hi]: [number, number]): string {
  return lo === hi ? String(lo) : `${lo}..${hi}`;
}

/** The first version as a SimulationReport, so `simulate`'s plot and ModelCascade snippet render it. */
export function asSimulationReport(v: VersionWhatIf): SimulationReport {
  const r = v.report;
  const s = r.costRatio ?? 0;
  const toSweep = (p: WhatIfPoint): SweepPoint => {
    const share = Math.min(1, Math.max(0, p.saverShare));
    return {
      threshold: p.threshold,
      rows: Math.round(r.estimatedRows),
      saverShare: share,
      relativeCost: p.relativeCost ?? s + 1 - share,
      deltaCost: deltaCost(s, share),
      agreement: 1 - p.disagreement,
      disagreement: p.disagreement,
      accuracy: null,
      accuracyLoss: null,
      saverAccuracyKept: null,
      baseAccuracyKept: null,
    };
  };
  const sweep = r.points.map(toSweep);
  const baseOnly: SweepPoint = { ...toSweep({ ...r.points[0], saverShare: 0, disagreement: 0 }), threshold: Infinity };
  sweep.push(baseOnly);
  const c = r.certification;
  const at = sweep.find((p) => p.threshold === c.threshold) ?? toSweep(r.points[r.points.length - 1]);
  const audits = r.routes.audit;
  return {
    rows: Math.round(r.estimatedRows),
    labelled: false,
    costRatio: s,
    auditRate: r.auditRate,
    split: {
      seed: 0,
      calibrationRows: audits,
      evaluationRows: r.records,
      note: `logged traffic: ${r.records} row records weighted to ~${Math.round(r.estimatedRows)} rows; bound from ${audits} audited rows`,
    },
    baseAccuracy: null,
    saverAccuracy: null,
    sweep,
    paper: null,
    paperNote: 'needs labels',
    budget: {
      rule: 'budget',
      threshold: c.threshold,
      calibration: at,
      evaluation: at,
      certification: {
        certifiedThreshold: c.certifiedThreshold,
        bound: c.bound,
        saverShare: c.saverShare,
        auditsUsed: c.auditsUsed,
        reason: c.reason,
        epsilon: c.epsilon,
        delta: c.delta,
      },
      why: c.reason,
    },
  };
}
