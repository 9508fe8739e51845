// Rank saver candidates for one base by the TinySaver score ΔC = s - r at the operating point the
// budget rule certifies (picked on the calibration split, measured on the evaluation split). Pure.

import type { Predictions } from './predictions.js';
import { type SimulateOptions, type SimulationReport, pct, simulate } from './simulate.js';

export interface Candidate {
  name: string;
  macs: number;
  predictions: Predictions;
}

export interface RankedSaver {
  rank: number;
  name: string;
  macs: number;
  /** s = saver MACs / base MACs */
  costRatio: number;
  /** ΔC at the budget operating point (evaluation split): lower is better */
  deltaCost: number;
  report: SimulationReport;
}

export interface Selection {
  baseMacs: number;
  ranking: RankedSaver[];
  /** why the winner wins, one paragraph */
  why: string;
}

export function rankSavers(candidates: Candidate[], baseMacs: number, o: Omit<SimulateOptions, 'costRatio'>): Selection {
  if (candidates.length === 0) throw new Error('rankSavers: no candidates');
  if (!(baseMacs > 0)) throw new Error(`rankSavers: base MACs must be > 0, got ${baseMacs}`);
  const scored = candidates.map((c) => {
    const costRatio = c.macs / baseMacs;
    const report = simulate(c.predictions, { ...o, costRatio });
    return { name: c.name, macs: c.macs, costRatio, deltaCost: report.budget.evaluation.deltaCost, report };
  });
  // ties (equal ΔC) go to the cheaper saver
  scored.sort((a, b) => a.deltaCost - b.deltaCost || a.costRatio - b.costRatio);
  const ranking = scored.map((s, i) => ({ rank: i + 1, ...s }));
  return { baseMacs, ranking, why: explain(ranking) };
}

function explain(r: RankedSaver[]): string {
  const w = r[0];
  const e = w.report.budget.evaluation;
  const acc = e.accuracy === null ? '' : `; cascade accuracy ${pct(e.accuracy)} vs base ${pct(w.report.baseAccuracy)}`;
  let s =
    `${w.name} wins: at its certified threshold t = ${w.report.budget.threshold} it answers r = ${pct(e.saverShare, 1)} of rows ` +
    `at s = ${pct(w.costRatio, 2)} of the base's MACs, so ΔC = s - r = ${e.deltaCost.toFixed(3)} (relative cost ${e.relativeCost.toFixed(3)})${acc}.`;
  if (r.length > 1) {
    const n = r[1];
    const ne = n.report.budget.evaluation;
    const reason =
      ne.saverShare >= e.saverShare
        ? `${n.name} answers as many rows or more (${pct(ne.saverShare, 1)}) but costs s = ${pct(n.costRatio, 2)}`
        : n.costRatio <= w.costRatio
          ? `${n.name} is cheaper (s = ${pct(n.costRatio, 2)}) but is confident on fewer rows within the budget (r = ${pct(ne.saverShare, 1)})`
          : `${n.name} costs more (s = ${pct(n.costRatio, 2)}) and answers fewer rows (r = ${pct(ne.saverShare, 1)})`;
    s += ` Runner-up ${n.name}: ΔC = ${n.deltaCost.toFixed(3)}; ${reason}.`;
  }
  if (e.deltaCost >= 0)
    s += ' Note: even the winner does not pay for itself (ΔC >= 0): the cascade costs at least as much as the base alone.';
  return s;
}
