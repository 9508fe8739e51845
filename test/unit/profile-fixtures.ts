// A tiny ONNX protobuf *writer* for the profiler's unit tests: builds graphs field by field from the
// onnx.proto field numbers, independently of the reader under test.

type Bytes = number[];

function varint(v: number | bigint): Bytes {
  let x = BigInt.asUintN(64, BigInt(v));
  const out: Bytes = [];
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x !== 0n) b |= 0x80;
    out.push(b);
  } while (x !== 0n);
  return out;
}
const key = (field: number, wire: number): Bytes => varint((field << 3) | wire);
const vField = (field: number, v: number): Bytes => [...key(field, 0), ...varint(v)];
const lenField = (field: number, payload: Bytes): Bytes => [...key(field, 2), ...varint(payload.length), ...payload];
const strField = (field: number, s: string): Bytes => lenField(field, [...new TextEncoder().encode(s)]);
const packedInts = (field: number, vs: number[]): Bytes =>
  lenField(
    field,
    vs.flatMap((v) => varint(v)),
  );

export interface TensorSpec {
  name: string;
  dims: number[];
  /** 1 float32 (default), 7 int64 */
  dataType?: number;
  /** int64 values (written as raw_data) */
  int64?: number[];
  /** write element data as raw_data zeros for float tensors (default true) */
}

export function tensor(t: TensorSpec): Bytes {
  const dt = t.dataType ?? (t.int64 ? 7 : 1);
  const count = t.dims.reduce((a, b) => a * b, 1);
  let raw: Bytes;
  if (t.int64) {
    raw = [];
    for (const v of t.int64) {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigInt64(0, BigInt(v), true);
      raw.push(...b);
    }
  } else raw = new Array<number>(count * 4).fill(0);
  return [...packedInts(1, t.dims), ...vField(2, dt), ...strField(8, t.name), ...lenField(9, raw)];
}

export type Attr = { name: string; i?: number; ints?: number[]; s?: string; t?: TensorSpec; f?: number };

function attribute(a: Attr): Bytes {
  const out: Bytes = [...strField(1, a.name)];
  if (a.f !== undefined) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, a.f, true);
    out.push(...key(2, 5), ...b, ...vField(20, 1));
  }
  if (a.i !== undefined) out.push(...vField(3, a.i), ...vField(20, 2));
  if (a.s !== undefined) out.push(...strField(4, a.s), ...vField(20, 3));
  if (a.t !== undefined) out.push(...lenField(5, tensor(a.t)), ...vField(20, 4));
  // ints written UNPACKED (one varint each), as onnx's Python helper does
  if (a.ints !== undefined) {
    for (const v of a.ints) out.push(...vField(8, v));
    out.push(...vField(20, 7));
  }
  return out;
}

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  attrs?: Attr[];
  domain?: string;
}

function node(n: NodeSpec): Bytes {
  return [
    ...n.inputs.flatMap((i) => strField(1, i)),
    ...n.outputs.flatMap((o) => strField(2, o)),
    ...strField(3, n.name ?? n.outputs[0]),
    ...strField(4, n.op),
    ...(n.attrs ?? []).flatMap((a) => lenField(5, attribute(a))),
    ...(n.domain ? strField(7, n.domain) : []),
  ];
}

function valueInfo(name: string, dims: Array<number | string>, elemType = 1): Bytes {
  const shape = dims.flatMap((d) => lenField(1, typeof d === 'number' ? vField(1, d) : strField(2, d)));
  const tensorType = [...vField(1, elemType), ...lenField(2, shape)];
  return [...strField(1, name), ...lenField(2, lenField(1, tensorType))];
}

export interface GraphSpec {
  nodes: NodeSpec[];
  initializers?: TensorSpec[];
  inputs: Array<{ name: string; dims: Array<number | string> }>;
  outputs: Array<{ name: string; dims: Array<number | string> }>;
  opset?: number;
}

export function onnxModel(g: GraphSpec): Uint8Array {
  const graph: Bytes = [
    ...g.nodes.flatMap((n) => lenField(1, node(n))),
    ...strField(2, 'test-graph'),
    ...(g.initializers ?? []).flatMap((t) => lenField(5, tensor(t))),
    ...g.inputs.flatMap((i) => lenField(11, valueInfo(i.name, i.dims))),
    ...g.outputs.flatMap((o) => lenField(12, valueInfo(o.name, o.dims))),
  ];
  const opset = [...strField(1, ''), ...vField(2, g.opset ?? 13)];
  const model: Bytes = [...vField(1, 8), ...strField(2, 'profile-test'), ...lenField(7, graph), ...lenField(8, opset)];
  return Uint8Array.from(model);
}
