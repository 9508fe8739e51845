// `tinysaver roi` output: a text table, a one-page Markdown report and the SVG plot of monthly cost vs
// threshold (frame and ticks: core/plot/svg.ts, the same look as simulate's plot). Pure.

import { formatTable } from '../../core/text/table.js';
import { axisTicks, curve, hLine, legend, marker, openFrame, tickDecimals } from '../../core/plot/svg.js';
import type { OperatingPointInfo } from './inputs.js';
import { describeShape, type ReplicaShape } from './prices.js';
import { type RoiResult, costCurve } from './roi.js';

export interface RoiContext {
  point: OperatingPointInfo;
  /** where the audit rate came from, in words */
  auditRateSource: string;
  currency?: string;
  shapes: { saver: ReplicaShape; base: ReplicaShape };
  capacitySources: { saver: string; base: string };
  /** the command line that produced it (Markdown report) */
  command?: string;
  /** SVG file name the Markdown report links to */
  plotFile?: string;
}

const grouped = (v: number, d: number) => v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });

/** Money: two decimals (four significant digits below 1), with the currency label. */
export function money(v: number, currency?: string): string {
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '-∞';
  const abs = Math.abs(v);
  // below 1: four significant digits (per-request prices are small), at least two decimals
  const s =
    abs !== 0 && abs < 1
      ? abs < 0.01
        ? String(+abs.toPrecision(4))
        : abs.toFixed(Math.max(2, Math.min(4, String(+abs.toPrecision(4)).split('.')[1]?.length ?? 0)))
      : grouped(abs, 2);
  return `${v < 0 ? '-' : ''}${s}${currency ? ` ${currency}` : ''}`;
}

const pct = (v: number, d = 1) => `${(100 * v).toFixed(d)}%`;
const share = (v: number) => (Number.isFinite(v) ? pct(v) : 'none (no share in [0, 1] pays)');
const rps = (v: number) => `${grouped(v, v < 100 ? 1 : 0)} rows/s`;

/** One sentence: does it pay, by how much, and what it would take if not. */
export function verdict(r: RoiResult, currency?: string): string {
  const i = r.input;
  if (r.pays) {
    return (
      `The cascade pays: it saves ${money(r.savingsPerMonth, currency)} per month (${pct(r.savingsShare)} of base only) ` +
      `at saver share r = ${pct(i.saverShare)}: ${r.baseOnly.replicas.base} -> ${r.cascade.replicas.base} base replicas for ${r.cascade.replicas.saver} saver replica(s).`
    );
  }
  const need = Number.isFinite(r.breakEven.wholeReplicas)
    ? `it pays only when the saver answers at least ${pct(r.breakEven.wholeReplicas)} of the rows (it answers ${pct(i.saverShare)})`
    : `no saver share pays at this traffic and these prices (even r = 100% keeps ${r.input.minReplicas} base replica(s) next to ${r.cascade.replicas.saver} saver replica(s))`;
  return `The cascade costs MORE than the base alone: ${money(-r.savingsPerMonth, currency)} per month extra (${pct(-r.savingsShare)}); ${need}.`;
}

function pointLines(p: OperatingPointInfo, r: RoiResult, auditSrc: string): string[] {
  const lines = [
    `operating point: ${p.source}${p.threshold !== null ? `, threshold ${p.threshold}` : ''}`,
    `  saver share r = ${pct(r.input.saverShare, 2)}, audit rate a = ${r.input.auditRate} (${auditSrc}); base serves ${pct(1 - r.input.saverShare + r.input.auditRate * r.input.saverShare, 2)} of rows`,
  ];
  lines.push(`  accuracy cost: ${accuracyText(p)}`);
  return lines;
}

export function accuracyText(p: OperatingPointInfo): string {
  const parts: string[] = [];
  if (p.lossBound !== null) {
    parts.push(
      `at most ${pct(p.lossBound, 2)} of rows answered differently from the base (certified upper bound${p.confidence !== null ? ` at ${+(100 * p.confidence).toFixed(2)}% confidence` : ''}${p.epsilon !== null ? `, budget ${pct(p.epsilon, 2)}` : ''}), which bounds the accuracy lost vs the base`,
    );
  }
  if (p.accuracyLoss !== null)
    parts.push(
      `measured on the evaluation split: ${p.accuracyLoss > 0 ? '-' : p.accuracyLoss < 0 ? '+' : ''}${(100 * Math.abs(p.accuracyLoss)).toFixed(2)} points of accuracy vs the base`,
    );
  else if (p.disagreement !== null) parts.push(`measured disagreement with the base ${pct(p.disagreement, 2)} of rows`);
  return parts.length ? parts.join('; ') : 'unknown (no certified bound given: pass simulate output or --loss-bound)';
}

export function formatRoi(r: RoiResult, c: RoiContext): string {
  const cur = c.currency;
  const i = r.input;
  const head = ['', 'saver replicas', 'base replicas', 'per hour', 'per month', 'per 1M requests'];
  const row = (name: string, p: RoiResult['baseOnly']) => [
    name,
    String(p.replicas.saver),
    String(p.replicas.base),
    money(p.perHour, cur),
    money(p.perMonth, cur),
    money(p.perMillionRequests, cur),
  ];
  const lines = [
    verdict(r, cur),
    '',
    ...pointLines(c.point, r, c.auditRateSource),
    `traffic: mean ${rps(i.traffic.meanRowsPerSecond)}, peak ${rps(i.traffic.peakRowsPerSecond)}${i.traffic.slots.length ? ` (daily profile, ${i.traffic.slots.length} slots)` : ''}; ${i.rowsPerRequest} row(s) per request; headroom x${i.headroom}; at least ${i.minReplicas} replica(s) per Deployment`,
    `saver replica: ${describeShape(c.shapes.saver)}, ${money(i.saver.pricePerHour, cur)}/h, ${rps(i.saver.rowsPerSecond)} (${c.capacitySources.saver})`,
    `base replica:  ${describeShape(c.shapes.base)}, ${money(i.base.pricePerHour, cur)}/h, ${rps(i.base.rowsPerSecond)} (${c.capacitySources.base})`,
    '',
    formatTable(head, [row('base only', r.baseOnly), row('cascade', r.cascade)]),
    '',
    `savings: ${money(r.savingsPerMonth, cur)} per month (${pct(r.savingsShare)}), static replicas sized for the peak, ${i.hoursPerMonth} h per month`,
  ];
  if (r.autoscaled)
    lines.push(
      `autoscaled per slot of the daily profile: base only ${money(r.autoscaled.baseOnlyPerMonth, cur)}, cascade ${money(r.autoscaled.cascadePerMonth, cur)} per month, savings ${money(r.autoscaled.savingsPerMonth, cur)}`,
    );
  lines.push(
    `break-even saver share: ${share(r.breakEven.wholeReplicas)} with whole replicas at this traffic; ${share(r.breakEven.fluid)} with fractional replicas (s = saver/base cost per row = ${r.moneyCostRatio.toPrecision(3)}, r > s / (1 - a))`,
  );
  if (r.paybackMonths !== null)
    lines.push(
      `payback of the saver's training cost ${money(i.trainingCost ?? 0, cur)}: ${Number.isFinite(r.paybackMonths) ? `${r.paybackMonths.toFixed(1)} months` : 'never (nothing is saved)'}`,
    );
  return lines.join('\n');
}

/** The plot: monthly cost of the cascade at each threshold of the sweep, base only as a line, the chosen point marked. */
export function roiPlotSvg(r: RoiResult, c: RoiContext, title: string): string | null {
  const pts = c.point.sweep;
  if (pts.length === 0) return null;
  const curveData = costCurve(r.input, pts).sort((a, b) => a.threshold - b.threshold);
  const cur = c.currency;
  const ys = [...curveData.map((p) => p.cascadePerMonth), r.baseOnly.perMonth, r.cascade.perMonth];
  const xTicks = axisTicks(0, 1);
  const { frame: f, out } = openFrame({
    title,
    xLabel: 'confidence threshold t (the saver answers rows with confidence >= t)',
    yLabel: `cost per month${cur ? ` (${cur})` : ''}, replicas sized for the peak`,
    xTicks,
    yTicks: axisTicks(0, Math.max(...ys) * 1.05),
    xFormat: (v) => v.toFixed(tickDecimals(xTicks)),
    yFormat: (v) => grouped(v, 0),
  });
  out.push(hLine(f, r.baseOnly.perMonth, `base only: ${money(r.baseOnly.perMonth, cur)}`));
  out.push(
    curve(
      f,
      curveData.map((p) => ({ x: p.threshold, y: p.cascadePerMonth })),
    ),
  );
  const t = c.point.threshold;
  const color = r.pays ? '#2ca02c' : '#d62728';
  if (t !== null && Number.isFinite(t)) out.push(marker(f, t, r.cascade.perMonth, color, 'chosen'));
  out.push(
    legend(f, [
      {
        text: `cascade (blue): ${r.input.traffic.peakRowsPerSecond} rows/s peak, headroom x${r.input.headroom}, audit rate ${r.input.auditRate}`,
        color: '#1f77b4',
      },
      {
        text: `chosen t=${t ?? '?'}: saver share ${pct(r.input.saverShare)}, ${money(r.cascade.perMonth, cur)}/month, ${r.pays ? 'saves' : 'costs'} ${money(Math.abs(r.savingsPerMonth), cur)}`,
        color,
      },
    ]),
  );
  out.push('</svg>');
  return out.join('\n') + '\n';
}

export function roiMarkdown(r: RoiResult, c: RoiContext, title: string): string {
  const cur = c.currency;
  const i = r.input;
  const md = (p: RoiResult['baseOnly'], name: string) =>
    `| ${name} | ${p.replicas.saver} | ${p.replicas.base} | ${money(p.perHour, cur)} | ${money(p.perMonth, cur)} | ${money(p.perMillionRequests, cur)} |`;
  const lines = [
    `# ${title}`,
    '',
    `**${verdict(r, cur)}**`,
    '',
    '| | saver replicas | base replicas | per hour | per month | per 1M requests |',
    '|---|---:|---:|---:|---:|---:|',
    md(r.baseOnly, 'base only'),
    md(r.cascade, 'cascade'),
    '',
    `- **Savings:** ${money(r.savingsPerMonth, cur)} per month (${pct(r.savingsShare)} of base only).`,
  ];
  if (r.autoscaled)
    lines.push(
      `- **Autoscaled** (each slot of the daily profile sized for its own load): base only ${money(r.autoscaled.baseOnlyPerMonth, cur)}, cascade ${money(r.autoscaled.cascadePerMonth, cur)}, savings ${money(r.autoscaled.savingsPerMonth, cur)} per month.`,
    );
  lines.push(
    `- **Break-even saver share:** ${share(r.breakEven.wholeReplicas)} with whole replicas at this traffic (${share(r.breakEven.fluid)} with fractional replicas).`,
    `- **Accuracy cost:** ${accuracyText(c.point)}.`,
  );
  if (r.paybackMonths !== null)
    lines.push(
      `- **Payback** of the saver's training cost (${money(i.trainingCost ?? 0, cur)}): ${Number.isFinite(r.paybackMonths) ? `${r.paybackMonths.toFixed(1)} months` : 'never (nothing is saved)'}.`,
    );
  if (c.plotFile) lines.push('', `![monthly cost vs threshold](${c.plotFile})`);
  lines.push(
    '',
    '## Inputs',
    '',
    `- Operating point: ${c.point.source}${c.point.threshold !== null ? `, threshold ${c.point.threshold}` : ''}; saver share r = ${pct(i.saverShare, 2)}; audit rate a = ${i.auditRate} (${c.auditRateSource}).`,
    `- Traffic: mean ${rps(i.traffic.meanRowsPerSecond)}, peak ${rps(i.traffic.peakRowsPerSecond)}${i.traffic.slots.length ? ` (daily profile of ${i.traffic.slots.length} slots)` : ''}; ${i.rowsPerRequest} row(s) per request.`,
    `- Saver replica: ${describeShape(c.shapes.saver)} at ${money(i.saver.pricePerHour, cur)} per hour, ${rps(i.saver.rowsPerSecond)} (${c.capacitySources.saver}).`,
    `- Base replica: ${describeShape(c.shapes.base)} at ${money(i.base.pricePerHour, cur)} per hour, ${rps(i.base.rowsPerSecond)} (${c.capacitySources.base}).`,
    `- Headroom x${i.headroom} (replicas = ceil(load x headroom / capacity)), at least ${i.minReplicas} replica(s) per Deployment, ${i.hoursPerMonth} hours per month.`,
    '',
    '## How it is computed',
    '',
    'Base only: base replicas for the peak rows/s. Cascade: saver replicas for the peak (the saver sees every row; the router',
    'runs in the saver pod), base replicas for the peak x (1 - r + a r): escalated rows plus audited saver rows. Replicas are',
    "whole, sized for the peak all month. Prices are the user's price file; capacities are measured (`tinysaver profile",
    '--measure`) or given. The accuracy cost is the certified bound of `tinysaver simulate` at this threshold.',
  );
  if (c.command) lines.push('', `Produced by: \`${c.command}\``);
  return lines.join('\n') + '\n';
}
