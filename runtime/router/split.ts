// Batch split and order-preserving merge. Pure functions over row-major tensors whose first
// dimension is the batch: the router keeps confident rows from the saver, sends the others to the
// base as one sub-batch, and puts every row back where it came from.

/** The tensor fields these functions need; the v2 Tensor type satisfies it structurally. */
export interface BatchTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: ArrayLike<unknown>;
}

export interface RowPartition {
  /** row indices answered by the saver (confidence >= threshold), ascending */
  saver: Int32Array;
  /** row indices escalated to the base (confidence < threshold, or NaN), ascending */
  escalated: Int32Array;
}

/** Rows with confidence >= threshold stay with the saver; NaN confidence always escalates. */
export function partitionRows(confidence: ArrayLike<number>, threshold: number): RowPartition {
  const n = confidence.length;
  let kept = 0;
  for (let i = 0; i < n; i++) if (confidence[i] >= threshold) kept++;
  const saver = new Int32Array(kept);
  const escalated = new Int32Array(n - kept);
  let s = 0;
  let e = 0;
  for (let i = 0; i < n; i++) {
    if (confidence[i] >= threshold) saver[s++] = i;
    else escalated[e++] = i;
  }
  return { saver, escalated };
}

/** Elements per batch row: product of the non-batch dimensions. */
export function rowSize(shape: readonly number[]): number {
  let size = 1;
  for (let i = 1; i < shape.length; i++) size *= shape[i];
  return size;
}

type Sliceable = ArrayLike<unknown> & { constructor: unknown };

/** New data array (same kind: typed array or plain array) holding the given rows, in that order. */
export function gatherRows<D extends ArrayLike<unknown>>(data: D, size: number, rows: ArrayLike<number>): D {
  const src = data as unknown as Sliceable;
  const count = rows.length * size;
  if (ArrayBuffer.isView(src)) {
    // Typed arrays: one block copy per row.
    type Typed = { subarray(a: number, b: number): Typed; set(a: Typed, o: number): void; length: number };
    const typed = src as unknown as Typed;
    const Ctor = (src as unknown as { constructor: new (n: number) => Typed }).constructor;
    const dst = new Ctor(count);
    for (let r = 0; r < rows.length; r++) dst.set(typed.subarray(rows[r] * size, (rows[r] + 1) * size), r * size);
    return dst as unknown as D;
  }
  const out: unknown[] = new Array(count);
  for (let r = 0; r < rows.length; r++) {
    const from = rows[r] * size;
    const to = r * size;
    for (let k = 0; k < size; k++) out[to + k] = src[from + k];
  }
  return out as unknown as D;
}

/** The tensor restricted to the given batch rows (shape[0] becomes rows.length). */
export function sliceTensorRows<T extends BatchTensor>(t: T, rows: ArrayLike<number>): T {
  if (t.shape.length === 0) throw new RangeError(`tensor "${t.name}" has no batch dimension`);
  const size = rowSize(t.shape);
  return { ...t, shape: [rows.length, ...t.shape.slice(1)], data: gatherRows(t.data, size, rows) };
}

/**
 * Merges per-route outputs back into original row order: row saverRows[i] comes from saverPart's
 * row saverRows[i] (the saver ran the full batch), row escalated[j] from basePart's row j.
 */
export function mergeRows<T extends BatchTensor>(saverFull: T, basePart: BatchTensor, escalated: ArrayLike<number>): T {
  const size = rowSize(saverFull.shape);
  if (rowSize(basePart.shape) !== size || basePart.shape[0] !== escalated.length) {
    throw new RangeError(
      `output "${saverFull.name}": base returned shape [${basePart.shape.join(',')}] for ${escalated.length} rows, ` +
        `saver rows have shape [${saverFull.shape.slice(1).join(',')}]`,
    );
  }
  if (basePart.data.length !== escalated.length * size) {
    throw new RangeError(`output "${saverFull.name}": base returned ${basePart.data.length} elements, expected ${escalated.length * size}`);
  }
  if (basePart.datatype !== saverFull.datatype) {
    throw new RangeError(`output "${saverFull.name}": base returned ${basePart.datatype}, saver ${saverFull.datatype}`);
  }
  // Copy of the saver's data (same array kind), then overwrite the escalated rows in place.
  const merged = (saverFull.data as unknown as { slice(): { [i: number]: unknown } }).slice();
  const src = basePart.data as unknown as { [i: number]: unknown };
  for (let j = 0; j < escalated.length; j++) {
    const to = escalated[j] * size;
    const from = j * size;
    for (let k = 0; k < size; k++) merged[to + k] = src[from + k];
  }
  return { ...saverFull, data: merged as unknown as T['data'] };
}

/** Stacks same-named tensors along dim 0 (their other dims must agree; the caller grouped them so). */
export function concatRows<T extends BatchTensor>(parts: readonly T[]): T {
  const first = parts[0];
  if (parts.length === 1) return first;
  let rows = 0;
  let total = 0;
  for (const p of parts) {
    rows += p.shape[0];
    total += p.data.length;
  }
  let data: ArrayLike<unknown>;
  if (ArrayBuffer.isView(first.data)) {
    const Ctor = (first.data as unknown as { constructor: new (n: number) => { set(a: ArrayLike<unknown>, o: number): void } }).constructor;
    const out = new Ctor(total);
    let off = 0;
    for (const p of parts) {
      out.set(p.data, off);
      off += p.data.length;
    }
    data = out as unknown as ArrayLike<unknown>;
  } else {
    data = parts.flatMap((p) => Array.from(p.data));
  }
  return { ...first, shape: [rows, ...first.shape.slice(1)], data: data as T['data'] };
}

/** Rows [offset, offset + rows) of a tensor; typed arrays are viewed, not copied. */
export function sliceRowRange<T extends BatchTensor>(t: T, offset: number, rows: number): T {
  if (offset === 0 && rows === t.shape[0]) return t;
  const size = rowSize(t.shape);
  const d = t.data as unknown as { subarray?: (a: number, b: number) => unknown; slice: (a: number, b: number) => unknown };
  const data =
    ArrayBuffer.isView(t.data) && d.subarray
      ? d.subarray(offset * size, (offset + rows) * size)
      : d.slice(offset * size, (offset + rows) * size);
  return { ...t, shape: [rows, ...t.shape.slice(1)], data: data as T['data'] };
}
