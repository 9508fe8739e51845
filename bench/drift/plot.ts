// A dependency-free SVG line plot for the drift benchmark: stacked panels sharing the x axis
// (stream position), one line per policy, an optional horizontal reference line and a shaded
// background for the drift severity.

import { niceTicks } from '../../core/plot/ticks.js';

export interface Series {
  label: string;
  color: string;
  dash?: string;
  /** one value per x position (NaN: gap) */
  values: number[];
}

export interface Panel {
  title: string;
  yMin: number;
  yMax: number;
  /** tick format */
  format: (v: number) => string;
  series: Series[];
  reference?: { value: number; label: string; color: string };
}

export interface PlotSpec {
  title: string;
  xLabel: string;
  /** x values (same length as every series) */
  x: number[];
  /** severity in [0, 1] per x, drawn as background shade */
  shade?: number[];
  panels: Panel[];
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function renderSvg(spec: PlotSpec): string {
  const width = 960;
  const left = 70;
  const right = 170;
  const panelH = 170;
  const gap = 46;
  const top = 50;
  const height = top + spec.panels.length * (panelH + gap) + 20;
  const plotW = width - left - right;
  const xs = spec.x;
  const x0 = xs[0] ?? 0;
  const x1 = xs[xs.length - 1] ?? 1;
  const px = (x: number) => left + ((x - x0) / (x1 - x0 || 1)) * plotW;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${esc(spec.title)}</text>`);
  spec.panels.forEach((p, i) => {
    const y0 = top + i * (panelH + gap);
    const py = (v: number) => y0 + panelH - ((Math.min(p.yMax, Math.max(p.yMin, v)) - p.yMin) / (p.yMax - p.yMin || 1)) * panelH;
    if (spec.shade) {
      const step = xs.length > 1 ? px(xs[1]) - px(xs[0]) : plotW;
      spec.shade.forEach((s, j) => {
        if (s > 0.001)
          out.push(
            `<rect x="${(px(xs[j]) - step / 2).toFixed(1)}" y="${y0}" width="${step.toFixed(1)}" height="${panelH}" fill="#f4a261" fill-opacity="${(0.35 * s).toFixed(3)}"/>`,
          );
      });
    }
    out.push(`<rect x="${left}" y="${y0}" width="${plotW}" height="${panelH}" fill="none" stroke="#888"/>`);
    out.push(`<text x="${left}" y="${y0 - 8}" font-weight="bold">${esc(p.title)}</text>`);
    for (const v of niceTicks(p.yMin, p.yMax, 4)) {
      const y = py(v);
      out.push(`<line x1="${left - 4}" x2="${left + plotW}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#eee"/>`);
      out.push(`<text x="${left - 8}" y="${(y + 4).toFixed(1)}" text-anchor="end">${esc(p.format(v))}</text>`);
    }
    if (p.reference) {
      const y = py(p.reference.value);
      out.push(
        `<line x1="${left}" x2="${left + plotW}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="${p.reference.color}" stroke-dasharray="6 3"/>`,
      );
      out.push(`<text x="${left + plotW + 8}" y="${(y + 4).toFixed(1)}" fill="${p.reference.color}">${esc(p.reference.label)}</text>`);
    }
    p.series.forEach((s, k) => {
      let d = '';
      let pen = false;
      s.values.forEach((v, j) => {
        if (!Number.isFinite(v)) {
          pen = false;
          return;
        }
        d += `${pen ? 'L' : 'M'}${px(xs[j]).toFixed(1)},${py(v).toFixed(1)}`;
        pen = true;
      });
      out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.8"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
      const ly = y0 + 14 + k * 16;
      out.push(
        `<line x1="${left + plotW + 8}" x2="${left + plotW + 28}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`,
      );
      out.push(`<text x="${left + plotW + 32}" y="${ly}">${esc(s.label)}</text>`);
    });
    if (i === spec.panels.length - 1) {
      for (const xv of niceTicks(x0, x1)) {
        out.push(`<text x="${px(xv).toFixed(1)}" y="${y0 + panelH + 16}" text-anchor="middle">${xv}</text>`);
      }
      out.push(`<text x="${left + plotW / 2}" y="${y0 + panelH + 34}" text-anchor="middle">${esc(spec.xLabel)}</text>`);
    }
  });
  out.push('</svg>');
  return out.join('\n');
}
