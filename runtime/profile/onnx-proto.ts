// Decodes the parts of an ONNX ModelProto the profiler needs (graph, nodes, attributes, initializer
// shapes, small constant values, value_info shapes). Field numbers are from onnx/onnx.proto.
// Large tensor payloads are never copied: only their dims are kept, and values are decoded only for
// small integer/float tensors (shape arguments of Reshape, Unsqueeze, Slice...).

import { type Field, ProtoReader, ProtobufError, asFloat32, asInt, asString, pushFloats, pushInts, WIRE_LEN } from './protobuf.js';

export const ONNX_DTYPE: Record<number, string> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
  14: 'complex64',
  15: 'complex128',
  16: 'bfloat16',
};
/** Floating-point data types: initializers of these types are the model's parameters. */
export const FLOAT_DTYPES = new Set([1, 10, 11, 16]);
const MAX_DECODED_VALUES = 4096;

export interface OnnxTensor {
  name: string;
  dims: number[];
  dataType: number;
  /** element values, only for small numeric tensors */
  values?: number[];
  /** stored outside the file (data_location = EXTERNAL) */
  external: boolean;
}

export interface OnnxAttribute {
  name: string;
  f?: number;
  i?: number;
  s?: string;
  t?: OnnxTensor;
  floats: number[];
  ints: number[];
  /** the attribute holds a subgraph (If/Loop/Scan bodies) */
  hasGraph: boolean;
}

export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: Map<string, OnnxAttribute>;
}

/** A dimension: a number, a symbolic name (e.g. "batch"), or null when unknown. */
export type OnnxDim = number | string | null;

export interface OnnxValueInfo {
  name: string;
  elemType?: number;
  shape?: OnnxDim[];
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  valueInfo: OnnxValueInfo[];
}

export interface OnnxModel {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  opsets: Array<{ domain: string; version: number }>;
  graph: OnnxGraph;
}

function fields(bytes: Uint8Array): ProtoReader {
  return new ProtoReader(bytes);
}

function sub(f: Field): Uint8Array {
  if (f.wire !== WIRE_LEN || !f.bytes) throw new ProtobufError(`field ${f.field}: expected an embedded message`);
  return f.bytes;
}

function decodeTensor(bytes: Uint8Array): OnnxTensor {
  const t: OnnxTensor = { name: '', dims: [], dataType: 0, external: false };
  let raw: Uint8Array | undefined;
  const ints: number[] = [];
  const floats: number[] = [];
  const doubles: number[] = [];
  const r = fields(bytes);
  for (let f = r.next(); f; f = r.next()) {
    switch (f.field) {
      case 1:
        pushInts(f, t.dims);
        break;
      case 2:
        t.dataType = asInt(f);
        break;
      case 4:
        pushFloats(f, floats);
        break;
      case 5: // int32_data
      case 7: // int64_data
        pushInts(f, ints);
        break;
      case 8:
        t.name = asString(f);
        break;
      case 9:
        raw = sub(f);
        break;
      case 10: {
        const b = sub(f);
        const dv = new DataView(b.buffer, b.byteOffset, b.length);
        for (let i = 0; i + 8 <= b.length; i += 8) doubles.push(dv.getFloat64(i, true));
        break;
      }
      case 14:
        t.external = asInt(f) === 1;
        break;
      default:
        break;
    }
  }
  for (const d of t.dims) if (d < 0) throw new ProtobufError(`tensor ${t.name}: negative dimension ${d}`);
  const count = t.dims.reduce((a, b) => a * b, 1);
  if (count <= MAX_DECODED_VALUES) {
    if (raw) t.values = decodeRaw(raw, t.dataType, count);
    else if (ints.length === count) t.values = ints;
    else if (floats.length === count) t.values = floats;
    else if (doubles.length === count) t.values = doubles;
  }
  return t;
}

function decodeRaw(raw: Uint8Array, dataType: number, count: number): number[] | undefined {
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.length);
  const size: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 11: 8, 12: 4, 13: 8 };
  const w = size[dataType];
  if (!w || raw.length !== w * count) return undefined;
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const o = i * w;
    switch (dataType) {
      case 1:
        out.push(dv.getFloat32(o, true));
        break;
      case 2:
      case 9:
        out.push(dv.getUint8(o));
        break;
      case 3:
        out.push(dv.getInt8(o));
        break;
      case 4:
        out.push(dv.getUint16(o, true));
        break;
      case 5:
        out.push(dv.getInt16(o, true));
        break;
      case 6:
        out.push(dv.getInt32(o, true));
        break;
      case 7:
        out.push(Number(dv.getBigInt64(o, true)));
        break;
      case 11:
        out.push(dv.getFloat64(o, true));
        break;
      case 12:
        out.push(dv.getUint32(o, true));
        break;
      case 13:
        out.push(Number(dv.getBigUint64(o, true)));
        break;
    }
  }
  return out;
}

function decodeAttribute(bytes: Uint8Array): OnnxAttribute {
  const a: OnnxAttribute = { name: '', floats: [], ints: [], hasGraph: false };
  const r = fields(bytes);
  for (let f = r.next(); f; f = r.next()) {
    switch (f.field) {
      case 1:
        a.name = asString(f);
        break;
      case 2:
        a.f = asFloat32(f);
        break;
      case 3:
        a.i = asInt(f);
        break;
      case 4:
        a.s = asString(f);
        break;
      case 5:
        a.t = decodeTensor(sub(f));
        break;
      case 6:
      case 11:
        a.hasGraph = true;
        break;
      case 7:
        pushFloats(f, a.floats);
        break;
      case 8:
        pushInts(f, a.ints);
        break;
      default:
        break;
    }
  }
  return a;
}

function decodeNode(bytes: Uint8Array): OnnxNode {
  const n: OnnxNode = { name: '', opType: '', domain: '', inputs: [], outputs: [], attributes: new Map() };
  const r = fields(bytes);
  for (let f = r.next(); f; f = r.next()) {
    switch (f.field) {
      case 1:
        n.inputs.push(asString(f));
        break;
      case 2:
        n.outputs.push(asString(f));
        break;
      case 3:
        n.name = asString(f);
        break;
      case 4:
        n.opType = asString(f);
        break;
      case 5: {
        const a = decodeAttribute(sub(f));
        n.attributes.set(a.name, a);
        break;
      }
      case 7:
        n.domain = asString(f);
        break;
      default:
        break;
    }
  }
  return n;
}

function decodeShape(bytes: Uint8Array): OnnxDim[] {
  const dims: OnnxDim[] = [];
  const r = fields(bytes);
  for (let f = r.next(); f; f = r.next()) {
    if (f.field !== 1) continue;
    let d: OnnxDim = null;
    const dr = fields(sub(f));
    for (let g = dr.next(); g; g = dr.next()) {
      if (g.field === 1) d = asInt(g);
      else if (g.field === 2) d = asString(g);
    }
    dims.push(d);
  }
  return dims;
}

function decodeValueInfo(bytes: Uint8Array): OnnxValueInfo {
  const v: OnnxValueInfo = { name: '' };
  const r = fields(bytes);
  for (let f = r.next(); f; f = r.next()) {
    if (f.field === 1) v.name = asString(f);
    else if (f.field === 2) {
      // TypeProto.tensor_type (1) -> elem_type (1), shape (2)
      const tr = fields(sub(f));
      for (let g = tr.next(); g; g = tr.next()) {
        if (g.field !== 1) continue;
        const tt = fields(sub(g));
        for (let h = tt.next(); h; h = tt.next()) {
          if (h.field === 1) v.elemType = asInt(h);
          else if (h.field === 2) v.shape = decodeShape(sub(h));
        }
      }
    }
  }
  return v;
}

function decodeGraph(bytes: Uint8Array): OnnxGraph {
  const g: OnnxGraph = { name: '', nodes: [], initializers: [], inputs: [], outputs: [], valueInfo: [] };
  const r = fields(bytes);
  for (let f = r.next(); f; f = r.next()) {
    switch (f.field) {
      case 1:
        g.nodes.push(decodeNode(sub(f)));
        break;
      case 2:
        g.name = asString(f);
        break;
      case 5:
        g.initializers.push(decodeTensor(sub(f)));
        break;
      case 11:
        g.inputs.push(decodeValueInfo(sub(f)));
        break;
      case 12:
        g.outputs.push(decodeValueInfo(sub(f)));
        break;
      case 13:
        g.valueInfo.push(decodeValueInfo(sub(f)));
        break;
      default:
        break;
    }
  }
  return g;
}

/** Decode an ONNX model file's bytes. Throws ProtobufError on malformed input or when no graph is found. */
export function decodeOnnxModel(bytes: Uint8Array): OnnxModel {
  const m: OnnxModel = { irVersion: 0, producerName: '', producerVersion: '', opsets: [], graph: undefined as unknown as OnnxGraph };
  const r = fields(bytes);
  for (let f = r.next(); f; f = r.next()) {
    switch (f.field) {
      case 1:
        m.irVersion = asInt(f);
        break;
      case 2:
        m.producerName = asString(f);
        break;
      case 3:
        m.producerVersion = asString(f);
        break;
      case 7:
        m.graph = decodeGraph(sub(f));
        break;
      case 8: {
        let domain = '';
        let version = 0;
        const or = fields(sub(f));
        for (let g = or.next(); g; g = or.next()) {
          if (g.field === 1) domain = asString(g);
          else if (g.field === 2) version = asInt(g);
        }
        m.opsets.push({ domain, version });
        break;
      }
      default:
        break;
    }
  }
  if (!m.graph) throw new ProtobufError('not an ONNX model: no graph (ModelProto field 7) found');
  return m;
}
