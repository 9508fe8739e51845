// Cost model of a saver/base cascade, in units of one base-model inference (TinySaver, Wang et al. 2024).
//
//   s = C_saver / C_base          saver cost ratio (e.g. MACs of saver / MACs of base)
//   r = share of rows the saver answers (the exit ratio)
//   a = audit rate: fraction of saver-answered rows also sent to the base to measure agreement
//
//   relative cost  C = s + (1 - r) + a * r     (the saver always runs; escalated and audited rows pay the base)
//   ΔC = s - r                                 (the paper's saver score, audits ignored: C - 1 = ΔC when a = 0)
//
// The cascade is cheaper than the base alone iff C < 1, i.e. (a = 0) iff r > s: the break-even exit ratio is s.

function checkRatio(fn: string, name: string, v: number): void {
  if (!(v >= 0 && v <= 1)) throw new RangeError(`${fn}: ${name} must be in [0, 1], got ${v}`);
}

function checkCostRatio(fn: string, s: number): void {
  if (!(s >= 0) || !Number.isFinite(s)) throw new RangeError(`${fn}: s (saver/base cost ratio) must be a finite number >= 0, got ${s}`);
}

/** Relative cost of the cascade per row, in base-model units: s + (1 - r) + a * r. */
export function relativeCost(s: number, r: number, a = 0): number {
  checkCostRatio('relativeCost', s);
  checkRatio('relativeCost', 'r (saver share)', r);
  checkRatio('relativeCost', 'a (audit rate)', a);
  return s + (1 - r) + a * r;
}

/** The TinySaver score ΔC = s - r: lower is better; negative means the cascade saves compute. */
export function deltaCost(s: number, r: number): number {
  checkCostRatio('deltaCost', s);
  checkRatio('deltaCost', 'r (saver share)', r);
  return s - r;
}

/**
 * The saver share above which the cascade is cheaper than the base alone: r > s / (1 - a)
 * (from s + 1 - r + a r < 1). With a = 0 this is the paper's r > s. Returns Infinity if no share suffices.
 */
export function breakEvenShare(s: number, a = 0): number {
  checkCostRatio('breakEvenShare', s);
  checkRatio('breakEvenShare', 'a (audit rate)', a);
  if (a >= 1) return Infinity;
  const r = s / (1 - a);
  return r < 1 ? r : Infinity;
}

/** Fraction of base compute saved: 1 - relative cost (negative when the cascade costs more). */
export function computeSaved(s: number, r: number, a = 0): number {
  return 1 - relativeCost(s, r, a);
}
