// Accuracy (or agreement with the base, without labels) vs relative compute as a standalone SVG,
// with the chosen operating points marked. Frame, ticks and marks: core/plot/svg.ts (shared with roi).

import { axisTicks, curve, hLine, legend, marker, openFrame, tickDecimals, vLine } from '../../core/plot/svg.js';
import type { OperatingPoint, SimulationReport } from './simulate.js';

export function plotSvg(r: SimulationReport, title: string): string {
  const yOf = (p: { accuracy: number | null; agreement: number }) => (r.labelled ? (p.accuracy as number) : p.agreement);
  const pts = r.sweep.map((p) => ({ x: p.relativeCost, y: yOf(p), t: p.threshold }));
  const ys = pts.map((p) => p.y);
  const yLo = Math.min(...ys);
  const yHi = Math.max(...ys);
  const pad = Math.max(0.005, (yHi - yLo) * 0.1);
  const xTicks = axisTicks(0, Math.max(1.05, ...pts.map((p) => p.x)));
  const yTicks = axisTicks(Math.max(0, yLo - pad), Math.min(1, yHi + pad));
  const xDec = tickDecimals(xTicks);
  const yDec = Math.max(0, tickDecimals(yTicks) - 2);
  const { frame: f, out } = openFrame({
    title,
    xLabel: `relative compute (1 = base model alone; saver cost ratio s = ${r.costRatio.toPrecision(3)})`,
    yLabel: `${r.labelled ? 'cascade accuracy' : 'agreement with base'} (evaluation split)`,
    xTicks,
    yTicks,
    xFormat: (v) => v.toFixed(xDec),
    yFormat: (v) => `${(100 * v).toFixed(yDec)}%`,
  });
  // base accuracy reference line
  out.push(hLine(f, yOf(r.sweep[r.sweep.length - 1]), 'base only'));
  // relative compute 1 = the base alone: right of this line the cascade costs more than no cascade
  out.push(vLine(f, 1));
  out.push(
    curve(
      f,
      [...pts].sort((a, b) => a.x - b.x || a.y - b.y),
    ),
  );
  // markers carry a short tag; the details go in a legend in the empty lower-right corner
  const marks: Array<{ o: OperatingPoint; color: string; tag: string; text: string }> = [];
  const acc = (o: OperatingPoint) =>
    o.evaluation.accuracy === null
      ? `agreement ${(100 * o.evaluation.agreement).toFixed(2)}%`
      : `accuracy ${(100 * o.evaluation.accuracy).toFixed(2)}%`;
  const detail = (o: OperatingPoint) =>
    `t=${o.threshold}, saver share ${(100 * o.evaluation.saverShare).toFixed(1)}%, cost ${o.evaluation.relativeCost.toFixed(3)}, ${acc(o)}`;
  if (r.paper) marks.push({ o: r.paper, color: '#d62728', tag: '(a)', text: `(a) paper criterion: ${detail(r.paper)}` });
  const c = r.budget.certification!;
  marks.push({
    o: r.budget,
    color: '#2ca02c',
    tag: '(b)',
    text: `(b) budget ε=${c.epsilon} at ${+(100 * (1 - c.delta)).toFixed(2)}%: ${detail(r.budget)}`,
  });
  // (a) below-right of its marker, (b) above-left, so two nearby points do not collide
  marks.forEach((k, i) =>
    out.push(marker(f, k.o.evaluation.relativeCost, yOf(k.o.evaluation), k.color, k.tag, i === 0 && marks.length > 1)),
  );
  out.push(
    legend(f, [
      {
        text: `evaluation split (${r.split.evaluationRows} rows); thresholds picked on ${r.split.calibrationRows} other rows`,
        color: '#666',
      },
      ...marks.map((k) => ({ text: k.text, color: k.color })),
    ]),
  );
  out.push('</svg>');
  return out.join('\n') + '\n';
}
