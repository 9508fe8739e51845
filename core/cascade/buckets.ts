// The one bucket grid shared by every confidence histogram (router metrics, controller, simulator).
// Top-1 probabilities of a decent classifier pile up near 1, so the grid is coarse below 0.8 and
// dense above it; the bucket edges are also the candidate thresholds the controller certifies.

export const CONFIDENCE_BUCKETS: readonly number[] = Object.freeze([
  0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.82, 0.84, 0.86, 0.88, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.975,
  0.98, 0.985, 0.99, 0.9925, 0.995, 0.9975, 0.999, 0.9995, 0.9999, 1,
]);

/** Index of the first bucket whose upper edge (`le`) is >= v (Prometheus semantics). */
export function bucketIndex(v: number, edges: readonly number[] = CONFIDENCE_BUCKETS): number {
  let lo = 0;
  let hi = edges.length; // edges.length means the implicit +Inf bucket
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (edges[mid] >= v) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
