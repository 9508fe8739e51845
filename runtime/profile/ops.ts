// Per-operator shape inference and multiply-accumulate (MAC) counts for the common vision ops.
// MACs are counted for the linear-algebra ops (Conv, ConvTranspose, Gemm, MatMul), the convention of
// the TinySaver paper and of most model-zoo tables; bias adds, pooling, normalisation and activations
// are not MACs. Small integer tensors (shape arithmetic: Shape -> Gather -> Concat -> Reshape) are
// evaluated so dynamic-batch exports still resolve.

import type { OnnxAttribute, OnnxNode } from './onnx-proto.js';

export type Shape = number[];

export interface OpInput {
  shape?: Shape;
  /** known element values (small constant tensors only) */
  values?: number[];
}

export interface OpResult {
  outputs: OpInput[];
  macs: number;
}

export class ShapeError extends Error {
  constructor(node: OnnxNode, message: string) {
    super(`${node.opType} node "${node.name || node.outputs[0]}": ${message}`);
    this.name = 'ShapeError';
  }
}

export const prod = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

function attrInt(n: OnnxNode, name: string, dflt: number): number {
  return n.attributes.get(name)?.i ?? dflt;
}
function attrInts(n: OnnxNode, name: string): number[] | undefined {
  const a: OnnxAttribute | undefined = n.attributes.get(name);
  return a ? a.ints : undefined;
}
function attrString(n: OnnxNode, name: string, dflt: string): string {
  return n.attributes.get(name)?.s ?? dflt;
}

function need(node: OnnxNode, ins: OpInput[], i: number): Shape {
  const s = ins[i]?.shape;
  if (!s) throw new ShapeError(node, `shape of input ${i} ("${node.inputs[i] ?? ''}") is unknown`);
  return s;
}
function needValues(node: OnnxNode, ins: OpInput[], i: number, what: string): number[] {
  const v = ins[i]?.values;
  if (!v) throw new ShapeError(node, `${what} (input ${i}, "${node.inputs[i] ?? ''}") is not a constant`);
  return v;
}
const normAxis = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

/** numpy-style broadcast of two shapes */
export function broadcast(node: OnnxNode, a: Shape, b: Shape): Shape {
  const r = Math.max(a.length, b.length);
  const out: Shape = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1;
    const y = b[b.length - r + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new ShapeError(node, `cannot broadcast [${a}] with [${b}]`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** output spatial size of a sliding window (conv / pool) */
function windowOut(
  node: OnnxNode,
  inSize: number,
  k: number,
  stride: number,
  dil: number,
  padBegin: number,
  padEnd: number,
  autoPad: string,
  ceil: boolean,
): number {
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return Math.ceil(inSize / stride);
  const eff = dil * (k - 1) + 1;
  const span = autoPad === 'VALID' ? inSize - eff : inSize + padBegin + padEnd - eff;
  const out = (ceil ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  if (out < 1) throw new ShapeError(node, `window of ${eff} over ${inSize} (+ pads) gives no output`);
  return out;
}

function spatialOut(node: OnnxNode, x: Shape, kernel: number[], ceil = false): number[] {
  const nd = kernel.length;
  const strides = attrInts(node, 'strides') ?? new Array<number>(nd).fill(1);
  const dil = attrInts(node, 'dilations') ?? new Array<number>(nd).fill(1);
  const pads = attrInts(node, 'pads') ?? new Array<number>(2 * nd).fill(0);
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  if (strides.length !== nd || dil.length !== nd || pads.length !== 2 * nd) {
    throw new ShapeError(node, `strides/dilations/pads do not match ${nd} spatial dims`);
  }
  return kernel.map((k, i) => windowOut(node, x[2 + i], k, strides[i], dil[i], pads[i], pads[nd + i], autoPad, ceil));
}

function elementwiseValues(vals: number[][], f: (...xs: number[]) => number): number[] | undefined {
  const len = Math.max(...vals.map((v) => v.length));
  if (vals.some((v) => v.length !== len && v.length !== 1)) return undefined;
  const out: number[] = [];
  for (let i = 0; i < len; i++) out.push(f(...vals.map((v) => (v.length === 1 ? v[0] : v[i]))));
  return out;
}

const UNARY_SAME_SHAPE = new Set([
  'Relu',
  'LeakyRelu',
  'PRelu',
  'Elu',
  'Selu',
  'Celu',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'Softplus',
  'Softsign',
  'Gelu',
  'Mish',
  'Erf',
  'Exp',
  'Log',
  'Sqrt',
  'Reciprocal',
  'Neg',
  'Abs',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
  'Not',
  'Clip',
  'Softmax',
  'LogSoftmax',
  'Hardmax',
  'BatchNormalization',
  'InstanceNormalization',
  'LayerNormalization',
  'LRN',
  'Dropout',
  'Identity',
  'Cast',
  'IsNaN',
  'IsInf',
]);
const BINARY_BROADCAST: Record<string, ((a: number, b: number) => number) | undefined> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b) => (Number.isInteger(a) && Number.isInteger(b) ? Math.trunc(a / b) : a / b),
  Pow: undefined,
  Max: Math.max,
  Min: Math.min,
  Mean: undefined,
  Sum: (a, b) => a + b,
  Equal: undefined,
  Greater: undefined,
  Less: undefined,
  GreaterOrEqual: undefined,
  LessOrEqual: undefined,
  And: undefined,
  Or: undefined,
  Xor: undefined,
  Mod: undefined,
  BitShift: undefined,
};

/** Ops this profiler understands (everything else is reported as unknown). */
export function isKnownOp(opType: string): boolean {
  return opType in HANDLERS || UNARY_SAME_SHAPE.has(opType) || opType in BINARY_BROADCAST || opType === 'Where';
}

type Handler = (node: OnnxNode, ins: OpInput[], opset: number) => OpResult;

const HANDLERS: Record<string, Handler> = {
  Conv(node, ins) {
    const x = need(node, ins, 0);
    const w = need(node, ins, 1);
    if (x.length < 3 || w.length !== x.length) throw new ShapeError(node, `input rank ${x.length} and weight rank ${w.length} do not fit`);
    const group = attrInt(node, 'group', 1);
    if (x[1] !== w[1] * group) throw new ShapeError(node, `input has ${x[1]} channels but weight expects ${w[1]} x group ${group}`);
    const kernel = w.slice(2);
    const out = [x[0], w[0], ...spatialOut(node, x, kernel)];
    // each output element: (C / group) * prod(kernel) multiply-adds
    return { outputs: [{ shape: out }], macs: prod(out) * w[1] * prod(kernel) };
  },
  ConvTranspose(node, ins) {
    const x = need(node, ins, 0);
    const w = need(node, ins, 1); // [C, M / group, k...]
    const group = attrInt(node, 'group', 1);
    const nd = x.length - 2;
    const kernel = w.slice(2);
    const strides = attrInts(node, 'strides') ?? new Array<number>(nd).fill(1);
    const dil = attrInts(node, 'dilations') ?? new Array<number>(nd).fill(1);
    const pads = attrInts(node, 'pads') ?? new Array<number>(2 * nd).fill(0);
    const outPad = attrInts(node, 'output_padding') ?? new Array<number>(nd).fill(0);
    const explicit = attrInts(node, 'output_shape');
    const spatial =
      explicit && explicit.length === nd
        ? explicit
        : kernel.map((k, i) => strides[i] * (x[2 + i] - 1) + outPad[i] + (k - 1) * dil[i] + 1 - pads[i] - pads[nd + i]);
    const out = [x[0], w[1] * group, ...spatial];
    // every input element scatters into (M / group) * prod(kernel) outputs
    return { outputs: [{ shape: out }], macs: prod(x) * w[1] * prod(kernel) };
  },
  Gemm(node, ins) {
    const a = need(node, ins, 0);
    const b = need(node, ins, 1);
    if (a.length !== 2 || b.length !== 2) throw new ShapeError(node, `Gemm needs 2-D inputs, got [${a}] and [${b}]`);
    const [m, k] = attrInt(node, 'transA', 0) ? [a[1], a[0]] : [a[0], a[1]];
    const [k2, n] = attrInt(node, 'transB', 0) ? [b[1], b[0]] : [b[0], b[1]];
    if (k !== k2) throw new ShapeError(node, `inner dimensions differ: ${k} vs ${k2}`);
    return { outputs: [{ shape: [m, n] }], macs: m * n * k };
  },
  MatMul(node, ins) {
    let a = need(node, ins, 0);
    let b = need(node, ins, 1);
    const aVec = a.length === 1;
    const bVec = b.length === 1;
    if (aVec) a = [1, a[0]];
    if (bVec) b = [b[0], 1];
    const [m, k] = a.slice(-2);
    const [k2, n] = b.slice(-2);
    if (k !== k2) throw new ShapeError(node, `inner dimensions differ: ${k} vs ${k2}`);
    const batch = broadcast(node, a.slice(0, -2), b.slice(0, -2));
    const out = [...batch, ...(aVec ? [] : [m]), ...(bVec ? [] : [n])];
    return { outputs: [{ shape: out }], macs: prod(batch) * m * n * k };
  },
  MaxPool(node, ins) {
    const x = need(node, ins, 0);
    const kernel = attrInts(node, 'kernel_shape');
    if (!kernel) throw new ShapeError(node, 'kernel_shape attribute is missing');
    const out = [x[0], x[1], ...spatialOut(node, x, kernel, attrInt(node, 'ceil_mode', 0) === 1)];
    return { outputs: [{ shape: out }, { shape: out }], macs: 0 };
  },
  GlobalAveragePool(node, ins) {
    const x = need(node, ins, 0);
    return { outputs: [{ shape: [x[0], x[1], ...x.slice(2).map(() => 1)] }], macs: 0 };
  },
  Flatten(node, ins) {
    const x = need(node, ins, 0);
    const axis = normAxis(attrInt(node, 'axis', 1), x.length);
    return { outputs: [{ shape: [prod(x.slice(0, axis)), prod(x.slice(axis))] }], macs: 0 };
  },
  Reshape(node, ins) {
    const x = need(node, ins, 0);
    const target = needValues(node, ins, 1, 'target shape');
    const allowZero = attrInt(node, 'allowzero', 0) === 1;
    const out = target.map((d, i) => (d === 0 && !allowZero ? x[i] : d));
    const minus = out.indexOf(-1);
    if (minus >= 0) {
      const known = prod(out.filter((_, i) => i !== minus));
      if (known === 0 || prod(x) % known !== 0) throw new ShapeError(node, `cannot reshape [${x}] to [${target}]`);
      out[minus] = prod(x) / known;
    }
    if (prod(out) !== prod(x)) throw new ShapeError(node, `cannot reshape [${x}] (${prod(x)} elements) to [${out}]`);
    return { outputs: [{ shape: out, values: ins[0].values }], macs: 0 };
  },
  Transpose(node, ins) {
    const x = need(node, ins, 0);
    const perm = attrInts(node, 'perm') ?? x.map((_, i) => x.length - 1 - i);
    return { outputs: [{ shape: perm.map((p) => x[p]) }], macs: 0 };
  },
  Concat(node, ins) {
    const shapes = ins.map((_, i) => need(node, ins, i));
    const axis = normAxis(attrInt(node, 'axis', 0), shapes[0].length);
    const out = shapes[0].slice();
    out[axis] = shapes.reduce((a, s) => a + s[axis], 0);
    const values = ins.every((i) => i.values) && out.length === 1 ? ins.flatMap((i) => i.values as number[]) : undefined;
    return { outputs: [{ shape: out, values }], macs: 0 };
  },
  Shape(node, ins) {
    const x = need(node, ins, 0);
    const r = x.length;
    let start = normAxis(attrInt(node, 'start', 0), r);
    let end = node.attributes.has('end') ? normAxis(attrInt(node, 'end', r), r) : r;
    start = Math.max(0, Math.min(r, start));
    end = Math.max(start, Math.min(r, end));
    const values = x.slice(start, end);
    return { outputs: [{ shape: [values.length], values }], macs: 0 };
  },
  Gather(node, ins) {
    const data = need(node, ins, 0);
    const idxShape = need(node, ins, 1);
    const axis = normAxis(attrInt(node, 'axis', 0), data.length);
    const out = [...data.slice(0, axis), ...idxShape, ...data.slice(axis + 1)];
    let values: number[] | undefined;
    const dv = ins[0].values;
    const iv = ins[1].values;
    if (dv && iv && data.length === 1) values = iv.map((i) => dv[i < 0 ? i + dv.length : i]);
    return { outputs: [{ shape: out, values }], macs: 0 };
  },
  Unsqueeze(node, ins, opset) {
    const x = need(node, ins, 0);
    const axes = opset >= 13 && node.inputs.length > 1 ? needValues(node, ins, 1, 'axes') : attrInts(node, 'axes');
    if (!axes) throw new ShapeError(node, 'axes are missing');
    const r = x.length + axes.length;
    const set = new Set(axes.map((a) => normAxis(a, r)));
    const out: Shape = [];
    let j = 0;
    for (let i = 0; i < r; i++) out.push(set.has(i) ? 1 : x[j++]);
    return { outputs: [{ shape: out, values: ins[0].values }], macs: 0 };
  },
  Squeeze(node, ins, opset) {
    const x = need(node, ins, 0);
    const axes = opset >= 13 && node.inputs.length > 1 ? needValues(node, ins, 1, 'axes') : attrInts(node, 'axes');
    const set = axes ? new Set(axes.map((a) => normAxis(a, x.length))) : new Set(x.flatMap((d, i) => (d === 1 ? [i] : [])));
    return { outputs: [{ shape: x.filter((_, i) => !set.has(i)), values: ins[0].values }], macs: 0 };
  },
  Slice(node, ins, opset) {
    const x = need(node, ins, 0);
    let starts: number[];
    let ends: number[];
    let axes: number[] | undefined;
    let steps: number[] | undefined;
    if (opset >= 10) {
      starts = needValues(node, ins, 1, 'starts');
      ends = needValues(node, ins, 2, 'ends');
      axes = node.inputs[3] ? needValues(node, ins, 3, 'axes') : undefined;
      steps = node.inputs[4] ? needValues(node, ins, 4, 'steps') : undefined;
    } else {
      starts = attrInts(node, 'starts') ?? [];
      ends = attrInts(node, 'ends') ?? [];
      axes = attrInts(node, 'axes');
    }
    const out = x.slice();
    const ranges: Array<[number, number, number]> = x.map((d) => [0, d, 1]);
    starts.forEach((s0, i) => {
      const ax = normAxis(axes ? axes[i] : i, x.length);
      const step = steps ? steps[i] : 1;
      const d = x[ax];
      const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, v < 0 ? v + d : v));
      const s = step > 0 ? clamp(s0, 0, d) : clamp(s0, -1, d - 1);
      const e = step > 0 ? clamp(ends[i], 0, d) : clamp(ends[i], -1, d - 1);
      out[ax] = Math.max(0, Math.ceil((e - s) / step));
      ranges[ax] = [s, e, step];
    });
    let values: number[] | undefined;
    const v = ins[0].values;
    if (v && x.length === 1) {
      const [s, e, step] = ranges[0];
      values = [];
      for (let i = s; step > 0 ? i < e : i > e; i += step) values.push(v[i]);
    }
    return { outputs: [{ shape: out, values }], macs: 0 };
  },
  Pad(node, ins, opset) {
    const x = need(node, ins, 0);
    const pads = opset >= 11 ? needValues(node, ins, 1, 'pads') : attrInts(node, 'pads');
    if (!pads || pads.length !== 2 * x.length) throw new ShapeError(node, `pads must have ${2 * x.length} entries`);
    return { outputs: [{ shape: x.map((d, i) => d + pads[i] + pads[x.length + i]) }], macs: 0 };
  },
  Constant(node) {
    const a = node.attributes;
    const t = a.get('value')?.t;
    if (t) return { outputs: [{ shape: t.dims, values: t.values }], macs: 0 };
    const f = a.get('value_float')?.f;
    if (f !== undefined) return { outputs: [{ shape: [], values: [f] }], macs: 0 };
    const i = a.get('value_int')?.i;
    if (i !== undefined) return { outputs: [{ shape: [], values: [i] }], macs: 0 };
    const ints = a.get('value_ints')?.ints;
    if (ints) return { outputs: [{ shape: [ints.length], values: ints }], macs: 0 };
    const floats = a.get('value_floats')?.floats;
    if (floats) return { outputs: [{ shape: [floats.length], values: floats }], macs: 0 };
    throw new ShapeError(node, 'unsupported Constant attribute');
  },
  ConstantOfShape(node, ins) {
    const shape = needValues(node, ins, 0, 'shape');
    return { outputs: [{ shape }], macs: 0 };
  },
  ReduceMean: reduce,
  ReduceSum: reduce,
  ReduceMax: reduce,
  ReduceMin: reduce,
};
HANDLERS.AveragePool = HANDLERS.MaxPool;
HANDLERS.LpPool = HANDLERS.MaxPool;
HANDLERS.GlobalMaxPool = HANDLERS.GlobalAveragePool;
HANDLERS.GlobalLpPool = HANDLERS.GlobalAveragePool;

function reduce(node: OnnxNode, ins: OpInput[], opset: number): OpResult {
  const x = need(node, ins, 0);
  const axesFromInput = (node.opType === 'ReduceSum' ? opset >= 13 : opset >= 18) && node.inputs[1];
  const axes = axesFromInput ? needValues(node, ins, 1, 'axes') : attrInts(node, 'axes');
  const keep = attrInt(node, 'keepdims', 1) === 1;
  const set = new Set((axes && axes.length > 0 ? axes : x.map((_, i) => i)).map((a) => normAxis(a, x.length)));
  const out = keep ? x.map((d, i) => (set.has(i) ? 1 : d)) : x.filter((_, i) => !set.has(i));
  return { outputs: [{ shape: out }], macs: 0 };
}

/** Infer one node's outputs. Throws ShapeError when a needed shape or constant is missing. */
export function inferNode(node: OnnxNode, ins: OpInput[], opset: number): OpResult {
  const h = HANDLERS[node.opType];
  if (h) return h(node, ins, opset);
  if (UNARY_SAME_SHAPE.has(node.opType)) {
    const x = need(node, ins, 0);
    const passValues = node.opType === 'Identity' || node.opType === 'Cast';
    // Dropout and BatchNormalization (training) may have extra outputs; give them the same shape
    return { outputs: node.outputs.map(() => ({ shape: x, values: passValues ? ins[0].values : undefined })), macs: 0 };
  }
  if (node.opType in BINARY_BROADCAST) {
    const shapes = node.inputs.map((_, i) => need(node, ins, i));
    const out = shapes.reduce((a, s) => broadcast(node, a, s));
    const f = BINARY_BROADCAST[node.opType];
    const vals = ins.map((i) => i.values);
    const values =
      f && vals.every((v) => v) && out.length <= 1
        ? elementwiseValues(vals as number[][], (...xs) => xs.reduce((a, b) => f(a, b)))
        : undefined;
    return { outputs: [{ shape: out, values }], macs: 0 };
  }
  if (node.opType === 'Where') {
    const shapes = [0, 1, 2].map((i) => need(node, ins, i));
    return { outputs: [{ shape: shapes.reduce((a, s) => broadcast(node, a, s)) }], macs: 0 };
  }
  throw new ShapeError(node, 'unknown operator');
}
