// Per-row confidence of a classifier's output. One implementation, used by the router (online), by
// `tinysaver simulate` (offline) and by the threshold controller's tests, so the three agree exactly.

export type ConfidenceMeasure = 'max-prob' | 'margin';
export const CONFIDENCE_MEASURES: readonly ConfidenceMeasure[] = ['max-prob', 'margin'];

export interface RowConfidence {
  /** confidence in [0, 1] per row; NaN if the row held a NaN/Inf score */
  confidence: Float64Array;
  /** arg-max class per row (-1 if the row held a NaN) */
  top1: Int32Array;
}

/**
 * Confidence of each row of a [rows, classes] score matrix (row-major).
 * - `max-prob`: top-1 softmax probability.
 * - `margin`: top-1 minus top-2 softmax probability.
 * `probabilities = true` means the scores already are probabilities (no softmax applied).
 * The softmax subtracts the row max first, so large logits do not overflow.
 */
export function rowConfidence(
  scores: ArrayLike<number>,
  rows: number,
  classes: number,
  measure: ConfidenceMeasure = 'max-prob',
  probabilities = false,
): RowConfidence {
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(classes) || classes < 1) {
    throw new RangeError(`rowConfidence: bad shape [${rows}, ${classes}]`);
  }
  if (scores.length !== rows * classes) {
    throw new RangeError(`rowConfidence: ${scores.length} scores for shape [${rows}, ${classes}]`);
  }
  const confidence = new Float64Array(rows);
  const top1 = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const off = r * classes;
    let best = -1;
    let bestV = -Infinity;
    let finite = true;
    for (let c = 0; c < classes; c++) {
      const v = scores[off + c];
      if (!Number.isFinite(v)) {
        finite = false;
        break;
      }
      if (v > bestV) {
        bestV = v;
        best = c;
      }
    }
    if (!finite) {
      confidence[r] = NaN;
      top1[r] = -1;
      continue;
    }
    top1[r] = best;
    let p1: number;
    let p2 = 0;
    if (probabilities) {
      let sum = 0;
      let second = -Infinity;
      for (let c = 0; c < classes; c++) {
        const v = scores[off + c];
        sum += v;
        if (c !== best && v > second) second = v;
      }
      // Normalise defensively: a probability output that does not sum to 1 is rescaled.
      p1 = sum > 0 ? bestV / sum : 0;
      p2 = classes > 1 && sum > 0 ? second / sum : 0;
    } else {
      let sum = 0;
      let second = -Infinity;
      for (let c = 0; c < classes; c++) {
        const v = scores[off + c];
        sum += Math.exp(v - bestV);
        if (c !== best && v > second) second = v;
      }
      p1 = 1 / sum;
      p2 = classes > 1 ? Math.exp(second - bestV) / sum : 0;
    }
    const value = measure === 'margin' ? p1 - p2 : p1;
    confidence[r] = Math.min(1, Math.max(0, value));
  }
  return { confidence, top1 };
}
