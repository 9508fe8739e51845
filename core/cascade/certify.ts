// Threshold certification: the one piece of math shared by the online threshold controller
// (operator/, on router metrics) and `tinysaver simulate` (offline, on per-row predictions).
//
// Goal. Loss of the cascade relative to the base model is at most
//     L(s) = P(saver answers and saver top-1 != base top-1)    (a fraction of ALL rows)
// at threshold s, because a row the saver answers can only lose accuracy vs the base where they
// disagree. No labels needed. We certify the lowest s whose L(s) <= ε with confidence 1 - δ.
//
// Data. Per confidence bucket b (CONFIDENCE_BUCKETS, `le` edges, + an +Inf bucket), from the window:
//     N_b  rows (all), D_b escalated rows where the base disagreed (fully observed; E_b escalated in all),
//     U_b = N_b - E_b rows the saver answered (disagreement unobserved),
//     n_b audits among those U_b rows, k_b of them disagreeing (a uniform random sample).
// A bucket can be partly escalated and partly saver-answered (t moved within the window): each part
// is used for what it is.
//
// Bound for one candidate s. Region R(s) = buckets whose upper edge is > s (for s on the grid: the
// buckets at and above s; for s between edges the straddled bucket is included, which is conservative).
// Split the saver-answered rows of R(s) into H <= `strata` contiguous strata of roughly equal U
// (strata depend only on row counts, never on agreement outcomes). Then
//
//     B(s) = ( Σ_{b∈R(s)} D_b  +  Σ_h U_h · CP⁺(k_h, n_h, δ / H) ) / N,      N = Σ_all N_b
//
// where CP⁺(k, n, α) is the exact one-sided Clopper-Pearson upper bound (bounds.ts; n = 0 gives 1).
// Bonferroni: each stratum's rate bound holds with prob >= 1 - δ/H, so all H hold together, and B(s)
// bounds L(s), with prob >= 1 - δ. The escalated part is the observed count (exact for the window); the
// audited part bounds the expected disagreement rate of the stratum's rows; row shares U_h / N are taken
// as measured (they are counted on every row, not sampled).
//
// Fixed-sequence testing. Candidates are the grid edges in [min, max] (0 counts as an edge), strictest
// (largest) first. H0(s): L(s) > ε is rejected ("s certified") when B(s) <= ε. Walk down and stop at the
// first candidate that fails; s* = the last certified one. Testing a pre-ordered sequence this way keeps
// the family-wise error at δ without splitting δ across candidates. No candidate certified -> s* = none
// and the caller holds `max`.
//
// Edge ties: the router keeps rows with confidence >= t while Prometheus puts a value equal to an edge
// into the bucket below it; with continuous confidences the tie has probability ~0. Rows with
// confidence exactly 1.0 (float saturation) live in the `le=1` bucket, so s = 1 certifies "saver answers
// nothing measurable" — keep `max` below 1 if that distinction matters.

import { clopperPearsonUpper } from './bounds.js';
import { CONFIDENCE_BUCKETS } from './buckets.js';
import { COUNT_KEYS, type ConfidenceCounts, bucketLowerEdge, bucketUpperEdge } from './histogram.js';

export interface BoundOptions {
  /** 1 - confidence level of the bound, in (0, 1) */
  delta: number;
  /** most strata the audited rows of a region are pooled into (default 3) */
  strata?: number;
  /** bucket grid (default CONFIDENCE_BUCKETS) */
  edges?: readonly number[];
}

export interface CertifyOptions extends BoundOptions {
  /** budget ε on P(saver answers and saver != base), a fraction of all rows, in [0, 1] */
  epsilon: number;
  /** lowest threshold the caller allows (default 0) */
  min?: number;
  /** highest threshold the caller allows; held when nothing certifies (default 1) */
  max?: number;
}

export interface StratumBound {
  /** confidence range of the stratum's buckets: (lowerEdge, upperEdge] */
  lowerEdge: number;
  upperEdge: number;
  /** saver-answered (unobserved) rows in the stratum */
  rows: number;
  audits: number;
  auditDisagreements: number;
  /** Clopper-Pearson upper bound on the stratum's disagreement rate at level δ / H */
  rateUpper: number;
}

export interface CandidateBound {
  threshold: number;
  /** B(s): upper bound on P(saver answers and saver != base) at threshold s */
  bound: number;
  /** Σ D_b over the region, divided by N (the fully observed part of the bound) */
  exactPart: number;
  /** Σ U_h · CP⁺ / N (the audited part of the bound) */
  estimatedPart: number;
  /** rows in the region / N: the saver share if the threshold were s */
  saverShare: number;
  /** escalated rows in the region (fully observed) */
  escalatedRows: number;
  /** audited rows in the region and how many disagreed */
  audits: number;
  auditDisagreements: number;
  strata: StratumBound[];
}

export interface CertifyResult {
  /** s*, or null when no candidate certified */
  certifiedThreshold: number | null;
  /** what to apply: s*, or `max` when nothing certified */
  threshold: number;
  /** B(s*) (null when nothing certified) */
  bound: number | null;
  /** saver share at `threshold` */
  saverShare: number;
  /** audited rows used by the bound at `threshold` */
  auditsUsed: number;
  /** N: all rows in the window */
  totalRows: number;
  epsilon: number;
  delta: number;
  /** every candidate evaluated, strictest first; the last one failed unless all certified */
  candidates: CandidateBound[];
  /** one line saying why */
  reason: string;
  /** data problems that were tolerated (e.g. escalated > all in a bucket from a skewed scrape) */
  notes: string[];
}

interface Prepared {
  edges: readonly number[];
  buckets: number;
  all: number[];
  escalated: number[];
  escalatedDisagree: number[];
  unobserved: number[];
  audits: number[];
  auditDisagree: number[];
  total: number;
  notes: string[];
}

function prepare(counts: ConfidenceCounts, edges: readonly number[]): Prepared {
  const buckets = edges.length + 1;
  const read = (key: (typeof COUNT_KEYS)[number]): number[] => {
    const src = counts[key];
    if (!src || typeof src.length !== 'number') throw new TypeError(`certify: counts.${key} is missing`);
    if (src.length !== buckets && src.length !== buckets - 1) {
      throw new RangeError(`certify: counts.${key} has ${src.length} buckets, expected ${buckets} (grid + Inf) or ${buckets - 1}`);
    }
    const out = new Array<number>(buckets).fill(0);
    for (let i = 0; i < src.length; i++) {
      const v = src[i];
      if (!Number.isFinite(v) || v < 0) throw new RangeError(`certify: counts.${key}[${i}] must be a finite count >= 0, got ${v}`);
      out[i] = v;
    }
    return out;
  };
  const all = read('all');
  const escalatedAgree = read('escalatedAgree');
  const escalatedDisagree = read('escalatedDisagree');
  const auditAgree = read('auditAgree');
  const auditDisagree = read('auditDisagree');
  const notes: string[] = [];
  const escalated = new Array<number>(buckets);
  const unobserved = new Array<number>(buckets);
  const audits = new Array<number>(buckets);
  let skewed = 0;
  for (let b = 0; b < buckets; b++) {
    escalated[b] = escalatedAgree[b] + escalatedDisagree[b];
    audits[b] = auditAgree[b] + auditDisagree[b];
    let u = all[b] - escalated[b];
    if (u < 0) {
      skewed++;
      u = 0;
    }
    // Audits are a subset of the saver-answered rows; if a skewed scrape says otherwise, trust the larger.
    unobserved[b] = Math.max(u, audits[b]);
  }
  if (skewed > 0) notes.push(`${skewed} bucket(s) had more escalated rows than rows in total (skewed scrape); clamped`);
  const total = all.reduce((a, b) => a + b, 0);
  return { edges, buckets, all, escalated, escalatedDisagree, unobserved, audits, auditDisagree, total, notes };
}

/** Contiguous strata (highest confidence first) of roughly equal saver-answered rows; indices of buckets. */
function formStrata(p: Prepared, region: number[], maxStrata: number): number[][] {
  const withRows = region.filter((b) => p.unobserved[b] > 0);
  const totalU = withRows.reduce((a, b) => a + p.unobserved[b], 0);
  const h = Math.min(maxStrata, withRows.length);
  if (h === 0 || totalU === 0) return [];
  const groups: number[][] = Array.from({ length: h }, () => []);
  let before = 0;
  for (const b of withRows) {
    // assign by the bucket's mid-point on the cumulative row axis: contiguous, roughly equal mass
    const mid = before + p.unobserved[b] / 2;
    const g = Math.min(h - 1, Math.floor((h * mid) / totalU));
    groups[g].push(b);
    before += p.unobserved[b];
  }
  return groups.filter((g) => g.length > 0);
}

function boundPrepared(p: Prepared, s: number, delta: number, maxStrata: number): CandidateBound {
  // region, highest bucket first
  const region: number[] = [];
  for (let b = p.buckets - 1; b >= 0; b--) if (bucketUpperEdge(b, p.edges) > s) region.push(b);
  let exact = 0;
  let rows = 0;
  let escalatedRows = 0;
  let audits = 0;
  let auditDisagreements = 0;
  for (const b of region) {
    exact += p.escalatedDisagree[b];
    rows += p.all[b];
    escalatedRows += p.escalated[b];
    audits += p.audits[b];
    auditDisagreements += p.auditDisagree[b];
  }
  const groups = formStrata(p, region, maxStrata);
  const strata: StratumBound[] = [];
  let estimated = 0;
  for (const g of groups) {
    let u = 0;
    let n = 0;
    let k = 0;
    for (const b of g) {
      u += p.unobserved[b];
      n += p.audits[b];
      k += p.auditDisagree[b];
    }
    const nInt = Math.round(n);
    const kInt = Math.min(nInt, Math.round(k));
    const rateUpper = clopperPearsonUpper(kInt, nInt, delta / groups.length);
    estimated += u * rateUpper;
    strata.push({
      lowerEdge: bucketLowerEdge(g[g.length - 1], p.edges),
      upperEdge: Math.min(1, bucketUpperEdge(g[0], p.edges)),
      rows: u,
      audits: nInt,
      auditDisagreements: kInt,
      rateUpper,
    });
  }
  const n = p.total;
  const exactPart = n > 0 ? exact / n : 0;
  const estimatedPart = n > 0 ? estimated / n : 0;
  return {
    threshold: s,
    bound: n > 0 ? Math.min(1, exactPart + estimatedPart) : 1,
    exactPart,
    estimatedPart,
    saverShare: n > 0 ? rows / n : 0,
    escalatedRows,
    audits,
    auditDisagreements,
    strata,
  };
}

function checkOptions(fn: string, o: BoundOptions): { edges: readonly number[]; strata: number } {
  if (!(o.delta > 0 && o.delta < 1)) throw new RangeError(`${fn}: delta must be in (0, 1), got ${o.delta}`);
  const strata = o.strata ?? 3;
  if (!Number.isInteger(strata) || strata < 1 || strata > 64)
    throw new RangeError(`${fn}: strata must be an integer in [1, 64], got ${o.strata}`);
  const edges = o.edges ?? CONFIDENCE_BUCKETS;
  for (let i = 0; i < edges.length; i++) {
    if (!Number.isFinite(edges[i]) || (i > 0 && edges[i] <= edges[i - 1]))
      throw new RangeError(`${fn}: edges must be finite and strictly increasing (index ${i})`);
  }
  return { edges, strata };
}

/** B(s) for one threshold s (any value; s between grid edges is rounded conservatively). */
export function lossUpperBound(counts: ConfidenceCounts, s: number, options: BoundOptions): CandidateBound {
  const { edges, strata } = checkOptions('lossUpperBound', options);
  if (!Number.isFinite(s)) throw new RangeError(`lossUpperBound: threshold must be a finite number, got ${s}`);
  return boundPrepared(prepare(counts, edges), s, options.delta, strata);
}

/** Candidate thresholds: 0 and the grid edges within [min, max], strictest (largest) first. */
export function candidateThresholds(min = 0, max = 1, edges: readonly number[] = CONFIDENCE_BUCKETS): number[] {
  const out = [0, ...edges].filter((e) => e >= min && e <= max);
  return out.reverse();
}

const fmt = (v: number): string => (Math.abs(v) < 1e-3 && v !== 0 ? v.toExponential(2) : v.toFixed(4));

/**
 * Certify the lowest threshold whose loss bound stays within ε (see the header comment for the math).
 * Pure and deterministic: same counts and options, same answer.
 */
export function certifyThreshold(counts: ConfidenceCounts, options: CertifyOptions): CertifyResult {
  const { edges, strata } = checkOptions('certifyThreshold', options);
  const { epsilon, delta } = options;
  const min = options.min ?? 0;
  const max = options.max ?? 1;
  if (!(epsilon >= 0 && epsilon <= 1)) throw new RangeError(`certifyThreshold: epsilon must be in [0, 1], got ${epsilon}`);
  if (!(min >= 0 && min <= 1)) throw new RangeError(`certifyThreshold: min must be in [0, 1], got ${min}`);
  if (!(max >= min && max <= 1)) throw new RangeError(`certifyThreshold: max must be in [min=${min}, 1], got ${max}`);
  const p = prepare(counts, edges);
  const base = { epsilon, delta, totalRows: p.total, notes: p.notes };
  const hold = (reason: string, candidates: CandidateBound[]): CertifyResult => {
    const atMax =
      candidates.length > 0 && candidates[0].threshold === max ? candidates[0] : p.total > 0 ? boundPrepared(p, max, delta, strata) : null;
    return {
      ...base,
      certifiedThreshold: null,
      threshold: max,
      bound: null,
      saverShare: atMax?.saverShare ?? 0,
      auditsUsed: atMax?.audits ?? 0,
      candidates,
      reason,
    };
  };
  if (!(p.total > 0)) return hold(`no rows in the window; hold max ${max}`, []);
  const cands = candidateThresholds(min, max, edges);
  if (cands.length === 0) return hold(`no grid edge lies in [min ${min}, max ${max}]; hold max`, []);

  const evaluated: CandidateBound[] = [];
  let last: CandidateBound | null = null;
  for (const s of cands) {
    const c = boundPrepared(p, s, delta, strata);
    evaluated.push(c);
    if (c.bound > epsilon) {
      const why = `bound ${fmt(c.bound)} > ε ${fmt(epsilon)} at ${s} (exact ${fmt(c.exactPart)} + audited ${fmt(c.estimatedPart)}, ${c.audits} audits)`;
      if (!last) return hold(`nothing certified: ${why}; hold max ${max}`, evaluated);
      return {
        ...base,
        certifiedThreshold: last.threshold,
        threshold: last.threshold,
        bound: last.bound,
        saverShare: last.saverShare,
        auditsUsed: last.audits,
        candidates: evaluated,
        reason: `certified ${last.threshold} (bound ${fmt(last.bound)} <= ε ${fmt(epsilon)}, saver share ${fmt(last.saverShare)}); next candidate fails: ${why}`,
      };
    }
    last = c;
  }
  const l = last as CandidateBound;
  return {
    ...base,
    certifiedThreshold: l.threshold,
    threshold: l.threshold,
    bound: l.bound,
    saverShare: l.saverShare,
    auditsUsed: l.audits,
    candidates: evaluated,
    reason: `every candidate down to min ${min} certified: ${l.threshold} has bound ${fmt(l.bound)} <= ε ${fmt(epsilon)}, saver share ${fmt(l.saverShare)}`,
  };
}
