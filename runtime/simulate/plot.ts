// Accuracy (or agreement with the base, without labels) vs relative compute as a standalone SVG,
// with the chosen operating points marked. Hand-written SVG: no dependency, renders anywhere.

import { niceDomain, niceStep, niceTicks, stepDecimals } from '../../core/plot/ticks.js';
import type { OperatingPoint, SimulationReport } from './simulate.js';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function plotSvg(r: SimulationReport, title: string): string {
  const W = 720;
  const H = 440;
  const m = { l: 70, r: 30, t: 50, b: 60 };
  const yOf = (p: { accuracy: number | null; agreement: number }) => (r.labelled ? (p.accuracy as number) : p.agreement);
  const pts = r.sweep.map((p) => ({ x: p.relativeCost, y: yOf(p), t: p.threshold }));
  const xs = pts.map((p) => p.x);
  const ys = pts.map((p) => p.y);
  const [xMin, xMax] = niceDomain(0, Math.max(1.05, ...xs));
  const yLo = Math.min(...ys);
  const yHi = Math.max(...ys);
  const pad = Math.max(0.005, (yHi - yLo) * 0.1);
  const [y0, y1] = niceDomain(Math.max(0, yLo - pad), Math.min(1, yHi + pad));
  const X = (v: number) => m.l + ((v - xMin) / (xMax - xMin)) * (W - m.l - m.r);
  const Y = (v: number) => H - m.b - ((v - y0) / (y1 - y0)) * (H - m.t - m.b);
  const sorted = [...pts].sort((a, b) => a.x - b.x || a.y - b.y);
  const path = sorted.map((p, i) => `${i ? 'L' : 'M'}${X(p.x).toFixed(1)},${Y(p.y).toFixed(1)}`).join(' ');
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="15">${esc(title)}</text>`);
  // grid + ticks
  const xDec = stepDecimals(niceStep(xMax - xMin));
  for (const xv of niceTicks(xMin, xMax)) {
    out.push(`<line x1="${X(xv).toFixed(1)}" y1="${m.t}" x2="${X(xv).toFixed(1)}" y2="${H - m.b}" stroke="#eee"/>`);
    out.push(`<text x="${X(xv).toFixed(1)}" y="${H - m.b + 18}" text-anchor="middle">${xv.toFixed(xDec)}</text>`);
  }
  const yDec = Math.max(0, stepDecimals(niceStep(y1 - y0)) - 2);
  for (const yv of niceTicks(y0, y1)) {
    out.push(`<line x1="${m.l}" y1="${Y(yv).toFixed(1)}" x2="${W - m.r}" y2="${Y(yv).toFixed(1)}" stroke="#eee"/>`);
    out.push(`<text x="${m.l - 8}" y="${(Y(yv) + 4).toFixed(1)}" text-anchor="end">${(100 * yv).toFixed(yDec)}%</text>`);
  }
  out.push(`<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/>`);
  out.push(`<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="black"/>`);
  out.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 18}" text-anchor="middle">relative compute (1 = base model alone; saver cost ratio s = ${r.costRatio.toPrecision(3)})</text>`);
  out.push(`<text transform="translate(18 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${r.labelled ? 'cascade accuracy' : 'agreement with base'} (evaluation split)</text>`);
  // base accuracy reference line
  const base = r.sweep[r.sweep.length - 1];
  out.push(`<line x1="${m.l}" y1="${Y(yOf(base)).toFixed(1)}" x2="${W - m.r}" y2="${Y(yOf(base)).toFixed(1)}" stroke="#999" stroke-dasharray="4 4"/>`);
  out.push(`<text x="${W - m.r - 4}" y="${(Y(yOf(base)) - 6).toFixed(1)}" text-anchor="end" fill="#666">base only</text>`);
  // relative compute 1 = the base alone: right of this line the cascade costs more than no cascade
  out.push(`<line x1="${X(1).toFixed(1)}" y1="${m.t}" x2="${X(1).toFixed(1)}" y2="${H - m.b}" stroke="#999" stroke-dasharray="2 3"/>`);
  out.push(`<path d="${path}" fill="none" stroke="#1f77b4" stroke-width="2"/>`);
  for (const p of pts) out.push(`<circle cx="${X(p.x).toFixed(1)}" cy="${Y(p.y).toFixed(1)}" r="1.8" fill="#1f77b4"/>`);
  // markers carry a short tag; the details go in a legend in the empty lower-right corner
  const marks: Array<{ o: OperatingPoint; color: string; tag: string; text: string }> = [];
  const acc = (o: OperatingPoint) => (o.evaluation.accuracy === null ? `agreement ${(100 * o.evaluation.agreement).toFixed(2)}%` : `accuracy ${(100 * o.evaluation.accuracy).toFixed(2)}%`);
  const detail = (o: OperatingPoint) => `t=${o.threshold}, saver share ${(100 * o.evaluation.saverShare).toFixed(1)}%, cost ${o.evaluation.relativeCost.toFixed(3)}, ${acc(o)}`;
  if (r.paper) marks.push({ o: r.paper, color: '#d62728', tag: '(a)', text: `(a) paper criterion: ${detail(r.paper)}` });
  const c = r.budget.certification!;
  marks.push({ o: r.budget, color: '#2ca02c', tag: '(b)', text: `(b) budget ε=${c.epsilon} at ${+(100 * (1 - c.delta)).toFixed(2)}%: ${detail(r.budget)}` });
  marks.forEach((k, i) => {
    const x = X(k.o.evaluation.relativeCost);
    const y = Y(yOf(k.o.evaluation));
    out.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="6" fill="none" stroke="${k.color}" stroke-width="2.5"/>`);
    // (a) below-right of its marker, (b) above-left, so two nearby points do not collide
    const below = i === 0 && marks.length > 1;
    out.push(`<text x="${(below ? x + 8 : x - 8).toFixed(1)}" y="${(below ? y + 20 : y - 10).toFixed(1)}" text-anchor="${below ? 'start' : 'end'}" fill="${k.color}" font-weight="bold">${k.tag}</text>`);
  });
  const lx = W - m.r - 10;
  marks.forEach((k, i) => {
    const ly = H - m.b - 12 - (marks.length - 1 - i) * 18;
    out.push(`<text x="${lx}" y="${ly}" text-anchor="end" fill="${k.color}">${esc(k.text)}</text>`);
  });
  out.push(`<text x="${lx}" y="${H - m.b - 12 - marks.length * 18}" text-anchor="end" fill="#666">evaluation split (${r.split.evaluationRows} rows); thresholds picked on ${r.split.calibrationRows} other rows</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
