// Exact binomial confidence bounds (Clopper-Pearson) for the threshold certification.
//
// One-sided upper bound at confidence 1 - delta for k "failures" in n trials:
//   p+ = the p solving P(Bin(n, p) <= k) = delta, equivalently p+ = I^{-1}_{1-delta}(k + 1, n - k),
// where I_x(a, b) is the regularized incomplete beta function (P(Bin(n,p) <= k) = 1 - I_p(k+1, n-k)).
// Special cases: n = 0 -> 1 (nothing observed, nothing known); k >= n -> 1; k = 0 -> 1 - delta^(1/n).
// Everything here is plain double-precision math, no dependency; accuracy ~1e-12 relative.

const LANCZOS_G = 7;
const LANCZOS_COEF = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0 (Lanczos approximation, g = 7, n = 9; ~1e-15 relative). */
export function logGamma(x: number): number {
  if (!(x > 0)) throw new RangeError(`logGamma: x must be > 0, got ${x}`);
  if (x < 0.5) {
    // Reflection keeps the approximation accurate for small x.
    return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  }
  const z = x - 1;
  let sum = LANCZOS_COEF[0];
  for (let i = 1; i < LANCZOS_G + 2; i++) sum += LANCZOS_COEF[i] / (z + i);
  const t = z + LANCZOS_G + 0.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** ln B(a, b). */
export function logBeta(a: number, b: number): number {
  return logGamma(a) + logGamma(b) - logGamma(a + b);
}

// Continued fraction for I_x(a, b), modified Lentz's method (Numerical Recipes' betacf formulation).
function betaContinuedFraction(x: number, a: number, b: number): number {
  const TINY = 1e-300;
  const EPS = 1e-16;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 10_000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) return h;
  }
  return h; // converged to double precision long before for the a, b used here
}

/** Regularized incomplete beta I_x(a, b) for a, b > 0 and x in [0, 1]. */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (!(a > 0) || !(b > 0)) throw new RangeError(`regularizedIncompleteBeta: a, b must be > 0 (a=${a}, b=${b})`);
  if (!(x >= 0 && x <= 1)) throw new RangeError(`regularizedIncompleteBeta: x must be in [0, 1], got ${x}`);
  if (x === 0) return 0;
  if (x === 1) return 1;
  const logFront = a * Math.log(x) + b * Math.log1p(-x) - logBeta(a, b);
  // The continued fraction converges fast for x < (a + 1) / (a + b + 2); use symmetry otherwise.
  if (x < (a + 1) / (a + b + 2)) {
    return (Math.exp(logFront) * betaContinuedFraction(x, a, b)) / a;
  }
  return 1 - (Math.exp(logFront) * betaContinuedFraction(1 - x, b, a)) / b;
}

/**
 * Inverse of the regularized incomplete beta: the x in [0, 1] with I_x(a, b) = p.
 * Safeguarded Newton: a Newton step on the log-density-scaled residual whenever it stays inside the
 * current bracket, bisection otherwise; I_x is monotone, so the bracket always shrinks.
 */
export function inverseRegularizedIncompleteBeta(p: number, a: number, b: number): number {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`inverseRegularizedIncompleteBeta: p must be in [0, 1], got ${p}`);
  if (!(a > 0) || !(b > 0)) throw new RangeError(`inverseRegularizedIncompleteBeta: a, b must be > 0 (a=${a}, b=${b})`);
  if (p === 0) return 0;
  if (p === 1) return 1;
  const lb = logBeta(a, b);
  let lo = 0;
  let hi = 1;
  let x = a / (a + b); // the mean: a sensible start
  for (let iter = 0; iter < 200; iter++) {
    const f = regularizedIncompleteBeta(x, a, b) - p;
    if (f === 0) return x;
    if (f < 0) lo = x;
    else hi = x;
    if (hi - lo <= 1e-15 * Math.max(hi, 1e-300)) break;
    // density of Beta(a, b) at x
    const logPdf = (a - 1) * Math.log(x) + (b - 1) * Math.log1p(-x) - lb;
    const pdf = Math.exp(logPdf);
    let next = pdf > 0 && Number.isFinite(pdf) ? x - f / pdf : NaN;
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    if (next === x) break;
    x = next;
  }
  return x;
}

function checkCounts(fn: string, k: number, n: number, delta: number): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${fn}: n must be an integer >= 0, got ${n}`);
  if (!Number.isInteger(k) || k < 0 || k > n) throw new RangeError(`${fn}: k must be an integer in [0, n=${n}], got ${k}`);
  if (!(delta > 0 && delta < 1)) throw new RangeError(`${fn}: delta must be in (0, 1), got ${delta}`);
}

/**
 * One-sided Clopper-Pearson upper bound on a binomial proportion: with probability >= 1 - delta
 * the true rate is <= the returned value, given k events in n independent trials.
 */
export function clopperPearsonUpper(k: number, n: number, delta: number): number {
  checkCounts('clopperPearsonUpper', k, n, delta);
  if (n === 0 || k === n) return 1;
  if (k === 0) return -Math.expm1(Math.log(delta) / n); // 1 - delta^(1/n), exact
  return inverseRegularizedIncompleteBeta(1 - delta, k + 1, n - k);
}

/** One-sided Clopper-Pearson lower bound: P(Bin(n, p) >= k) = delta; 0 when k = 0. */
export function clopperPearsonLower(k: number, n: number, delta: number): number {
  checkCounts('clopperPearsonLower', k, n, delta);
  if (k === 0) return 0;
  if (k === n) return Math.exp(Math.log(delta) / n);
  return inverseRegularizedIncompleteBeta(delta, k, n - k + 1);
}
