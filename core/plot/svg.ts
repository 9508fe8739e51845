// Hand-written SVG charts for the CLI reports (simulate's accuracy vs compute, roi's monthly cost vs
// threshold): one frame, round tick values (core/plot/ticks.ts), one look. No dependency; renders anywhere.

import { niceStep, stepDecimals } from './ticks.js';

export const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Round ticks (the step of core/plot/ticks.ts) over [lo, hi] widened to that step: the axis starts and ends on a tick. */
export function axisTicks(lo: number, hi: number, target = 5): number[] {
  if (hi <= lo) hi = lo + (lo === 0 ? 1 : Math.abs(lo) * 0.1);
  const step = niceStep(hi - lo, target);
  const d = stepDecimals(step);
  const out: number[] = [];
  for (let k = Math.floor(lo / step + 1e-9); k <= Math.ceil(hi / step - 1e-9); k++) out.push(Number((k * step).toFixed(d)));
  return out;
}

/** Decimals that print every tick of `ticks` exactly (0.25 steps -> 2). */
export function tickDecimals(ticks: readonly number[]): number {
  return ticks.length > 1 ? stepDecimals(ticks[1] - ticks[0]) : 0;
}

export interface Frame {
  W: number;
  H: number;
  m: { l: number; r: number; t: number; b: number };
  xTicks: number[];
  yTicks: number[];
  /** data -> pixel */
  X(v: number): number;
  Y(v: number): number;
}

export interface FrameOptions {
  W?: number;
  H?: number;
  margin?: { l: number; r: number; t: number; b: number };
  title: string;
  xLabel: string;
  yLabel: string;
  xTicks: number[];
  yTicks: number[];
  xFormat: (v: number) => string;
  yFormat: (v: number) => string;
}

/**
 * Opens a chart: white page, title, grid lines and labels at the given ticks, axes and axis titles.
 * The axis ranges are the first and last tick. Push the data marks onto `out`, then close with '</svg>'.
 */
export function openFrame(o: FrameOptions): { frame: Frame; out: string[] } {
  const W = o.W ?? 720;
  const H = o.H ?? 440;
  const m = o.margin ?? { l: 70, r: 30, t: 50, b: 60 };
  const [x0, x1] = [o.xTicks[0], o.xTicks[o.xTicks.length - 1]];
  const [y0, y1] = [o.yTicks[0], o.yTicks[o.yTicks.length - 1]];
  const X = (v: number) => m.l + ((v - x0) / (x1 - x0)) * (W - m.l - m.r);
  const Y = (v: number) => H - m.b - ((v - y0) / (y1 - y0)) * (H - m.t - m.b);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="15">${escapeXml(o.title)}</text>`);
  for (const xv of o.xTicks) {
    out.push(`<line x1="${X(xv).toFixed(1)}" y1="${m.t}" x2="${X(xv).toFixed(1)}" y2="${H - m.b}" stroke="#eee"/>`);
    out.push(`<text x="${X(xv).toFixed(1)}" y="${H - m.b + 18}" text-anchor="middle">${escapeXml(o.xFormat(xv))}</text>`);
  }
  for (const yv of o.yTicks) {
    out.push(`<line x1="${m.l}" y1="${Y(yv).toFixed(1)}" x2="${W - m.r}" y2="${Y(yv).toFixed(1)}" stroke="#eee"/>`);
    out.push(`<text x="${m.l - 8}" y="${(Y(yv) + 4).toFixed(1)}" text-anchor="end">${escapeXml(o.yFormat(yv))}</text>`);
  }
  out.push(`<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/>`);
  out.push(`<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="black"/>`);
  out.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 18}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(o.yLabel)}</text>`);
  return { frame: { W, H, m, xTicks: o.xTicks, yTicks: o.yTicks, X, Y }, out };
}

/** Dashed horizontal reference line across the plot area with a label at its right end. */
export function hLine(f: Frame, y: number, label: string, color = '#999'): string {
  const py = f.Y(y).toFixed(1);
  return [
    `<line x1="${f.m.l}" y1="${py}" x2="${f.W - f.m.r}" y2="${py}" stroke="${color}" stroke-dasharray="4 4"/>`,
    `<text x="${f.W - f.m.r - 4}" y="${(f.Y(y) - 6).toFixed(1)}" text-anchor="end" fill="#666">${escapeXml(label)}</text>`,
  ].join('\n');
}

/** Dashed vertical reference line across the plot area. */
export function vLine(f: Frame, x: number, color = '#999'): string {
  const px = f.X(x).toFixed(1);
  return `<line x1="${px}" y1="${f.m.t}" x2="${px}" y2="${f.H - f.m.b}" stroke="${color}" stroke-dasharray="2 3"/>`;
}

/** A polyline through the points (in the order given) plus a small dot on each. */
export function curve(f: Frame, pts: ReadonlyArray<{ x: number; y: number }>, color = '#1f77b4'): string {
  const path = pts.map((p, i) => `${i ? 'L' : 'M'}${f.X(p.x).toFixed(1)},${f.Y(p.y).toFixed(1)}`).join(' ');
  return [
    `<path d="${path}" fill="none" stroke="${color}" stroke-width="2"/>`,
    ...pts.map((p) => `<circle cx="${f.X(p.x).toFixed(1)}" cy="${f.Y(p.y).toFixed(1)}" r="1.8" fill="${color}"/>`),
  ].join('\n');
}

/** A ring around a chosen point with a short bold tag beside it (below-right or above-left). */
export function marker(f: Frame, x: number, y: number, color: string, tag: string, below = false): string {
  const px = f.X(x);
  const py = f.Y(y);
  return [
    `<circle cx="${px.toFixed(1)}" cy="${py.toFixed(1)}" r="6" fill="none" stroke="${color}" stroke-width="2.5"/>`,
    `<text x="${(below ? px + 8 : px - 8).toFixed(1)}" y="${(below ? py + 20 : py - 10).toFixed(1)}" text-anchor="${below ? 'start' : 'end'}" fill="${color}" font-weight="bold">${escapeXml(tag)}</text>`,
  ].join('\n');
}

/** Legend lines stacked upward from the lower-right corner of the plot area (first line on top). */
export function legend(f: Frame, lines: ReadonlyArray<{ text: string; color: string }>): string {
  const lx = f.W - f.m.r - 10;
  return lines
    .map(
      (k, i) =>
        `<text x="${lx}" y="${f.H - f.m.b - 12 - (lines.length - 1 - i) * 18}" text-anchor="end" fill="${k.color}">${escapeXml(k.text)}</text>`,
    )
    .join('\n');
}
