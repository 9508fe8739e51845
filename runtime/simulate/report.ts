// Readable text for a SimulationReport: the operating points first, then the threshold table.

import { CONFIDENCE_BUCKETS } from '../../core/cascade/buckets.js';
import { type SimulationReport, type OperatingPoint, pct } from './simulate.js';
import type { SweepPoint } from './sweep.js';
import { formatTable } from '../../core/text/table.js';

export function thresholdLabel(t: number): string {
  if (t === Infinity) return 'base only';
  if (t === 0) return '0 (saver only)';
  return String(t);
}

const signedPct = (v: number | null) => (v === null ? 'n/a' : `${v > 0 ? '-' : v < 0 ? '+' : ''}${(100 * Math.abs(v)).toFixed(2)}%`);

function pointRow(p: SweepPoint, mark: string): string[] {
  return [
    `${mark}${thresholdLabel(p.threshold)}`,
    pct(p.saverShare, 1),
    p.relativeCost.toFixed(3),
    p.deltaCost.toFixed(3),
    pct(p.accuracy),
    signedPct(p.accuracyLoss),
    pct(p.disagreement),
  ];
}

export const TABLE_HEAD = ['threshold', 'saver share', 'rel. cost', 'ΔC', 'accuracy', 'vs base', 'P(ans & disagree)'];

function describe(o: OperatingPoint): string {
  const e = o.evaluation;
  const acc = e.accuracy === null ? '' : `, accuracy ${pct(e.accuracy)} (${signedPct(e.accuracyLoss)} vs base)`;
  return `t = ${o.threshold}: saver share ${pct(e.saverShare, 1)}, relative cost ${e.relativeCost.toFixed(3)} (ΔC ${e.deltaCost.toFixed(3)})${acc}, disagreement with base ${pct(e.disagreement)}`;
}

export function formatReport(r: SimulationReport, title: string): string {
  const marks = new Map<number, string>();
  if (r.paper) marks.set(r.paper.threshold, (marks.get(r.paper.threshold) ?? '') + 'a');
  marks.set(r.budget.threshold, (marks.get(r.budget.threshold) ?? '') + 'b');
  const shown = r.sweep.filter(
    (p) =>
      p.threshold === 0 ||
      p.threshold === Infinity ||
      (CONFIDENCE_BUCKETS.includes(p.threshold) && p.threshold >= 0.5) ||
      marks.has(p.threshold),
  );
  const rows = shown.map((p) => pointRow(p, marks.has(p.threshold) ? `(${marks.get(p.threshold)}) ` : ''));
  const c = r.budget.certification!;
  const lines = [
    title,
    `rows: ${r.rows}${r.labelled ? ' (labelled)' : ' (no labels: accuracy columns n/a)'}; cost ratio s = ${r.costRatio.toPrecision(4)} (break-even saver share ${pct(r.costRatio, 1)})${r.auditRate ? `; audit rate ${r.auditRate}` : ''}`,
    `split: ${r.split.note}`,
    `base only: accuracy ${pct(r.baseAccuracy)}; saver only: accuracy ${pct(r.saverAccuracy)}`,
    '',
    `(a) paper criterion: ${r.paper ? describe(r.paper) : `none (${r.paperNote})`}`,
  ];
  if (r.paper) lines.push(`    ${r.paper.why}`);
  lines.push(
    `(b) budget ε = ${c.epsilon} at confidence ${1 - c.delta}: ${describe(r.budget)}`,
    `    ${c.reason}`,
    '',
    formatTable(TABLE_HEAD, rows),
    '',
    'vs base: accuracy lost (-) or gained (+) relative to the base alone; P(ans & disagree): share of all rows',
    'the saver answers differently from the base (the loss the controller bounds). (a), (b): the operating points.',
  );
  return lines.join('\n');
}
