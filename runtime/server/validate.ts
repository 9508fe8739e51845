// Validation of a decoded infer request against the model's metadata. Pure: the request comes
// from the network, so every mismatch is an OipError(400) naming the tensor and the problem.

import { OipError, elementCount, type InferRequest, type TensorMetadata } from '../oip/types.js';
import type { OnnxModel, TensorLike } from '../onnx/session.js';

export interface ValidatedRequest {
  /** inputs keyed by name, in the model's input order */
  inputs: Record<string, TensorLike>;
  /** rows along dim 0 (1 when the model has no batch dimension) */
  rows: number;
  /** requests with the same key can be concatenated along dim 0 (equal datatypes and trailing dims) */
  batchKey: string;
  /** output names to return (all when the request named none) */
  outputNames: string[];
}

export interface ValidateOptions {
  /** let NaN/Inf through in float inputs (default false: reject with 400) */
  allowNonFinite?: boolean;
  /** whether dim 0 of every input is the (dynamic) batch dimension */
  batchable: boolean;
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** Index of the first NaN/Inf in FP16 bits (exponent all ones), or -1. */
export function firstNonFiniteHalf(bits: Uint16Array): number {
  for (let i = 0; i < bits.length; i++) if ((bits[i] & 0x7c00) === 0x7c00) return i;
  return -1;
}

/** Index of the first NaN/Inf in a float array, or -1. */
export function firstNonFinite(data: ArrayLike<number>): number {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v !== 0) return i; // NaN - NaN and Inf - Inf are NaN; finite v - v is 0
  }
  return -1;
}

export function validateRequest(
  req: InferRequest,
  inputsMeta: readonly TensorMetadata[],
  outputsMeta: readonly TensorMetadata[],
  opts: ValidateOptions,
): ValidatedRequest {
  const expected = new Map(inputsMeta.map((m) => [m.name, m]));
  for (const t of req.inputs) {
    if (!expected.has(t.name)) {
      throw new OipError(400, `unknown input '${t.name}' (model inputs: ${inputsMeta.map((m) => m.name).join(', ')})`);
    }
  }
  const given = new Map(req.inputs.map((t) => [t.name, t]));
  const inputs: Record<string, TensorLike> = {};
  let rows = -1;
  const keyParts: string[] = [];
  for (const m of inputsMeta) {
    const t = given.get(m.name);
    if (!t) throw new OipError(400, `missing input '${m.name}' (${m.datatype} ${shapeText(m.shape)})`);
    if (t.datatype !== m.datatype) {
      throw new OipError(400, `input '${m.name}': datatype ${t.datatype}, model expects ${m.datatype}`);
    }
    if (t.shape.length !== m.shape.length) {
      throw new OipError(
        400,
        `input '${m.name}': shape ${shapeText(t.shape)} has rank ${t.shape.length}, model expects rank ${m.shape.length} ${shapeText(m.shape)}`,
      );
    }
    for (let d = 0; d < m.shape.length; d++) {
      if (m.shape[d] >= 0 && t.shape[d] !== m.shape[d]) {
        throw new OipError(
          400,
          `input '${m.name}': shape ${shapeText(t.shape)} has ${t.shape[d]} at dimension ${d}, model expects ${shapeText(m.shape)}`,
        );
      }
    }
    const count = elementCount(t.shape);
    if (t.data.length !== count) {
      throw new OipError(400, `input '${m.name}': shape ${shapeText(t.shape)} needs ${count} elements, data has ${t.data.length}`);
    }
    if (!opts.allowNonFinite && (t.datatype === 'FP32' || t.datatype === 'FP64' || t.datatype === 'FP16')) {
      const half = t.datatype === 'FP16';
      const bad = half ? firstNonFiniteHalf(t.data as Uint16Array) : firstNonFinite(t.data as Float32Array);
      if (bad >= 0) {
        const what = half ? 'NaN or Inf' : String((t.data as Float32Array)[bad]);
        throw new OipError(400, `input '${m.name}': element ${bad} is ${what}; NaN/Inf inputs are rejected (--allow-non-finite to accept)`);
      }
    }
    if (opts.batchable) {
      if (t.shape[0] === 0) throw new OipError(400, `input '${m.name}': batch dimension is 0 (no rows)`);
      if (rows >= 0 && t.shape[0] !== rows) {
        throw new OipError(400, `input '${m.name}': ${t.shape[0]} rows, but other inputs have ${rows}`);
      }
      rows = t.shape[0];
      keyParts.push(`${t.datatype}${shapeText(t.shape.slice(1))}`);
    }
    inputs[m.name] = t;
  }
  const known = new Set(outputsMeta.map((m) => m.name));
  let outputNames = outputsMeta.map((m) => m.name);
  if (req.outputs && req.outputs.length > 0) {
    outputNames = req.outputs.map((o) => o.name);
    for (const n of outputNames) {
      if (!known.has(n)) throw new OipError(400, `unknown output '${n}' (model outputs: ${[...known].join(', ')})`);
    }
  }
  return { inputs, rows: opts.batchable ? rows : 1, batchKey: keyParts.join(';'), outputNames };
}

/** Whether dim 0 of every input and output is dynamic, so requests can be concatenated along it. */
export function isBatchable(model: Pick<OnnxModel, 'inputs' | 'outputs'>): boolean {
  const all = [...model.inputs, ...model.outputs];
  return all.length > 0 && all.every((m) => m.shape.length >= 1 && m.shape[0] === -1);
}
