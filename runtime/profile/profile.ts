// Profile an ONNX model: parameters and MACs per operator, for batch size 1.
// Parameters = elements of floating-point initializers, except BatchNormalization running mean and
// variance (buffers, not learned; reported separately), matching how training frameworks count them.
// FLOPs = 2 x MACs. Symbolic dimensions (the batch) are taken as 1. Ops the profiler does not know are
// listed in `unknownOps`, and nodes whose shapes could not be inferred in `unresolved`, never skipped
// silently: when either list is non-empty the MAC total is a lower bound.

import { FLOAT_DTYPES, type OnnxModel, type OnnxNode, decodeOnnxModel } from './onnx-proto.js';
import { type OpInput, type Shape, ShapeError, inferNode, isKnownOp, prod } from './ops.js';
import { formatTable } from '../../core/text/table.js';

export interface OpProfile {
  name: string;
  opType: string;
  outputShape: Shape | null;
  macs: number;
  /** learned parameters first consumed by this node */
  params: number;
}

export interface ModelProfile {
  inputs: Array<{ name: string; shape: Shape | null }>;
  outputs: Array<{ name: string; shape: Shape | null }>;
  opset: number;
  producer: string;
  params: number;
  /** BatchNormalization running mean/variance elements (not counted in params) */
  buffers: number;
  macs: number;
  flops: number;
  ops: OpProfile[];
  /** op types the profiler has no rule for, with how many nodes use them */
  unknownOps: Array<{ opType: string; count: number }>;
  /** nodes whose output shapes could not be inferred, and why */
  unresolved: Array<{ name: string; opType: string; reason: string }>;
  /** true when the MAC total is complete (nothing unknown or unresolved) */
  complete: boolean;
}

function nodeName(n: OnnxNode, i: number): string {
  return n.name || n.outputs[0] || `${n.opType}_${i}`;
}

export function profileModel(model: OnnxModel): ModelProfile {
  const g = model.graph;
  const opset = model.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 13;
  const values = new Map<string, OpInput>();
  const initNames = new Set<string>();
  for (const t of g.initializers) {
    values.set(t.name, { shape: t.dims, values: t.values });
    initNames.add(t.name);
  }
  const inputs = g.inputs
    .filter((v) => !initNames.has(v.name))
    .map((v) => {
      const shape = v.shape ? v.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1)) : null;
      if (shape) values.set(v.name, { shape });
      return { name: v.name, shape };
    });
  // value_info from the file: a fallback for outputs of ops we cannot infer
  const declared = new Map<string, Shape>();
  for (const v of [...g.valueInfo, ...g.outputs]) {
    if (v.shape && v.shape.every((d) => d !== null))
      declared.set(
        v.name,
        v.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1)),
      );
  }

  // BatchNorm running stats (inputs 3 and 4) are buffers
  const bufferNames = new Set<string>();
  for (const n of g.nodes) if (n.opType === 'BatchNormalization') for (const i of [3, 4]) if (n.inputs[i]) bufferNames.add(n.inputs[i]);
  const isParam = new Map<string, number>();
  let params = 0;
  let buffers = 0;
  for (const t of g.initializers) {
    if (!FLOAT_DTYPES.has(t.dataType)) continue;
    const count = prod(t.dims);
    if (bufferNames.has(t.name)) buffers += count;
    else {
      params += count;
      isParam.set(t.name, count);
    }
  }

  const ops: OpProfile[] = [];
  const unknown = new Map<string, number>();
  const unresolved: ModelProfile['unresolved'] = [];
  let macs = 0;
  const claimed = new Set<string>();
  g.nodes.forEach((n, idx) => {
    const name = nodeName(n, idx);
    let p = 0;
    for (const i of n.inputs) {
      const c = isParam.get(i);
      if (c !== undefined && !claimed.has(i)) {
        p += c;
        claimed.add(i);
      }
    }
    const known = n.domain === '' || n.domain === 'ai.onnx' ? isKnownOp(n.opType) : false;
    if (!known) unknown.set(n.opType, (unknown.get(n.opType) ?? 0) + 1);
    let outShape: Shape | null = null;
    let m = 0;
    if (known) {
      try {
        const ins = n.inputs.map((i) => (i === '' ? {} : (values.get(i) ?? {})));
        const r = inferNode(n, ins, opset);
        n.outputs.forEach((o, j) => {
          if (o && r.outputs[j]) values.set(o, r.outputs[j]);
        });
        outShape = r.outputs[0]?.shape ?? null;
        m = r.macs;
      } catch (err) {
        if (!(err instanceof ShapeError)) throw err;
        unresolved.push({ name, opType: n.opType, reason: err.message });
      }
    }
    if (outShape === null) {
      // fall back on shapes declared in the file so later nodes can still be profiled
      n.outputs.forEach((o) => {
        const d = declared.get(o);
        if (d && !values.has(o)) values.set(o, { shape: d });
      });
      outShape = declared.get(n.outputs[0]) ?? null;
    }
    macs += m;
    ops.push({ name, opType: n.opType, outputShape: outShape, macs: m, params: p });
  });

  const outputs = g.outputs.map((o) => ({ name: o.name, shape: values.get(o.name)?.shape ?? null }));
  const unknownOps = [...unknown].map(([opType, count]) => ({ opType, count }));
  return {
    inputs,
    outputs,
    opset,
    producer: `${model.producerName} ${model.producerVersion}`.trim(),
    params,
    buffers,
    macs,
    flops: 2 * macs,
    ops,
    unknownOps,
    unresolved,
    complete: unknownOps.length === 0 && unresolved.length === 0,
  };
}

export function profileOnnxBytes(bytes: Uint8Array): ModelProfile {
  return profileModel(decodeOnnxModel(bytes));
}

/** Human-readable engineering notation: 1.23 M, 45.6 K. */
export function humanCount(v: number): string {
  const abs = Math.abs(v);
  if (abs >= 1e9) return `${(v / 1e9).toFixed(2)} G`;
  if (abs >= 1e6) return `${(v / 1e6).toFixed(2)} M`;
  if (abs >= 1e3) return `${(v / 1e3).toFixed(2)} K`;
  return String(v);
}

/** Per-op table + totals as text. */
export function formatProfile(p: ModelProfile, title: string): string {
  const rows = p.ops.map((o) => [
    o.name,
    o.opType,
    o.outputShape ? `[${o.outputShape.join(', ')}]` : '?',
    o.macs ? o.macs.toLocaleString('en-US') : '',
    o.params ? o.params.toLocaleString('en-US') : '',
  ]);
  const head = ['node', 'op', 'output shape', 'MACs', 'params'];
  const out = [
    `${title}  (opset ${p.opset}${p.producer ? `, ${p.producer}` : ''}; batch = 1)`,
    `inputs: ${p.inputs.map((i) => `${i.name} [${i.shape?.join(', ') ?? '?'}]`).join(', ')}`,
    '',
    formatTable(head, rows, (i) => i < 3),
    '',
    `parameters: ${p.params.toLocaleString('en-US')} (${humanCount(p.params)})${p.buffers ? `  + ${p.buffers.toLocaleString('en-US')} BatchNorm buffer elements` : ''}`,
    `MACs:       ${p.macs.toLocaleString('en-US')} (${humanCount(p.macs)})`,
    `FLOPs:      ${p.flops.toLocaleString('en-US')} (${humanCount(p.flops)}, = 2 x MACs)`,
  ];
  if (p.unknownOps.length) out.push(`unknown ops (not counted): ${p.unknownOps.map((u) => `${u.opType} x${u.count}`).join(', ')}`);
  if (p.unresolved.length) out.push(`unresolved shapes (MACs missing):`, ...p.unresolved.map((u) => `  ${u.name}: ${u.reason}`));
  if (!p.complete) out.push('MAC total is a LOWER BOUND (see above).');
  return out.join('\n');
}
