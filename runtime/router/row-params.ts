// Per-row route and confidence in a form the v2 spec allows. Response `parameters` may hold only
// string, number or boolean values (typed clients and gRPC's InferParameter reject arrays), so the
// router sends them as comma-separated strings, one entry per row in row order:
//   "tinysaver_routes": "saver,base,fallback"      "tinysaver_confidence": "0.998,0.41,NaN"
// Clients that prefer tensors ask for the extra outputs `tinysaver_route` (BYTES, [rows]) and
// `tinysaver_confidence` (FP32, [rows]) in the request's `outputs`; they are returned only then.

import type { Tensor } from '../oip/types.js';
import type { RowRoute } from './metrics.js';

export const ROUTES_PARAM = 'tinysaver_routes';
export const CONFIDENCE_PARAM = 'tinysaver_confidence';
export const ROUTE_OUTPUT = 'tinysaver_route';
export const CONFIDENCE_OUTPUT = 'tinysaver_confidence';
export const ROW_OUTPUTS: readonly string[] = [ROUTE_OUTPUT, CONFIDENCE_OUTPUT];

/** Confidence rounded to 6 decimals; NaN scores as "NaN" (Number() reads it back). */
export function formatConfidence(c: ArrayLike<number>): string {
  const parts = new Array<string>(c.length);
  for (let i = 0; i < c.length; i++) parts[i] = Number.isNaN(c[i]) ? 'NaN' : String(Math.round(c[i] * 1e6) / 1e6);
  return parts.join(',');
}

/** The per-row outputs a request asked for. */
export function rowOutputs(wanted: ReadonlySet<string>, routes: readonly RowRoute[], confidence: ArrayLike<number>): Tensor[] {
  const out: Tensor[] = [];
  if (wanted.has(ROUTE_OUTPUT)) {
    out.push({ name: ROUTE_OUTPUT, datatype: 'BYTES', shape: [routes.length], data: routes.map((r) => Buffer.from(r)) });
  }
  if (wanted.has(CONFIDENCE_OUTPUT)) {
    out.push({ name: CONFIDENCE_OUTPUT, datatype: 'FP32', shape: [confidence.length], data: Float32Array.from(confidence) });
  }
  return out;
}

/** Per-row routes of a cascade response (empty when it carries none: not a cascade). */
export function parseRoutes(parameters: Record<string, unknown> | undefined): string[] {
  const v = parameters?.[ROUTES_PARAM];
  return typeof v === 'string' && v !== '' ? v.split(',') : [];
}

/** Per-row saver confidence of a cascade response (NaN where the scores were NaN). */
export function parseConfidence(parameters: Record<string, unknown> | undefined): number[] {
  const v = parameters?.[CONFIDENCE_PARAM];
  return typeof v === 'string' && v !== '' ? v.split(',').map(Number) : [];
}
