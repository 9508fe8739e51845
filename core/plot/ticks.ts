// Round axis ticks for every plot the project draws (simulate, the drift bench, reports, the live
// view): steps of 1, 2 or 5 times a power of ten, so an axis reads 0.2/0.4/0.6, not 0.21/0.43/0.64.

/** A step of 1, 2 or 5 × 10^k that splits `span` into about `target` intervals. */
export function niceStep(span: number, target = 5): number {
  if (!(span > 0) || !Number.isFinite(span)) return 1;
  const raw = span / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

/** Decimals that print every multiple of `step` exactly (0.25 -> 2, 500 -> 0). */
export function stepDecimals(step: number): number {
  for (let d = 0; d <= 12; d++) if (Math.abs(Math.round(step * 10 ** d) - step * 10 ** d) < 1e-9 * 10 ** d) return d;
  return 12;
}

/** The multiples of the nice step that lie in [lo, hi] (both ends included up to rounding). */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi <= lo) return [lo];
  const step = niceStep(hi - lo, target);
  const d = stepDecimals(step);
  const out: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) out.push(Number((k * step).toFixed(d)));
  return out;
}

/** [lo, hi] widened outwards to multiples of the nice step, so the axis starts and ends on a tick. */
export function niceDomain(lo: number, hi: number, target = 5): [number, number] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || hi <= lo) return [lo, hi];
  const step = niceStep(hi - lo, target);
  const d = stepDecimals(step);
  return [Number((Math.floor(lo / step + 1e-9) * step).toFixed(d)), Number((Math.ceil(hi / step - 1e-9) * step).toFixed(d))];
}
