// gRPC v2 messages (as @grpc/proto-loader hands them over: keepCase, int64 as decimal strings) <->
// the in-memory InferRequest/InferResponse both servers already use, and OipError <-> gRPC status.
// Protobuf itself is decoded by the library (runtime/oip/proto/grpc_predict_v2.proto); this file only
// checks what the wire format cannot: datatypes, shapes, content sizes and which content field is used.

import { status as GrpcStatus } from '@grpc/grpc-js';
import { dataFromBinary, dataFromJson, dataToBinary } from './tensor-data.js';
import {
  OipError,
  elementCount,
  isDatatype,
  type Datatype,
  type InferRequest,
  type InferResponse,
  type ModelMetadata,
  type RequestedOutput,
  type Tensor,
  type TensorMetadata,
} from './types.js';

const MAX_RANK = 32;

/** InferParameter as proto-loader gives it (oneofs: true). */
export interface GrpcParameter {
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param' | 'double_param' | 'uint64_param';
  bool_param?: boolean;
  int64_param?: string | number;
  string_param?: string;
  double_param?: number;
  uint64_param?: string | number;
}

export interface GrpcContents {
  bool_contents?: boolean[];
  int_contents?: number[];
  int64_contents?: Array<string | number>;
  uint_contents?: number[];
  uint64_contents?: Array<string | number>;
  fp32_contents?: number[];
  fp64_contents?: number[];
  bytes_contents?: Buffer[];
}

export interface GrpcTensor {
  name: string;
  datatype: string;
  shape: Array<string | number>;
  parameters?: Record<string, GrpcParameter>;
  contents?: GrpcContents | null;
}

export interface GrpcInferRequest {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, GrpcParameter>;
  inputs: GrpcTensor[];
  outputs?: Array<{ name: string; parameters?: Record<string, GrpcParameter> }>;
  raw_input_contents?: Buffer[];
}

export interface GrpcInferResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, GrpcParameter>;
  outputs: GrpcTensor[];
  raw_output_contents?: Buffer[];
}

/** The typed-contents field the spec assigns to each datatype (FP16 has none: raw contents only). */
export const CONTENTS_FIELD: Readonly<Record<Datatype, keyof GrpcContents | undefined>> = Object.freeze({
  BOOL: 'bool_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  FP16: undefined,
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  BYTES: 'bytes_contents',
});

const CONTENT_FIELDS: readonly (keyof GrpcContents)[] = [
  'bool_contents',
  'int_contents',
  'int64_contents',
  'uint_contents',
  'uint64_contents',
  'fp32_contents',
  'fp64_contents',
  'bytes_contents',
];

function bad(message: string): OipError {
  return new OipError(400, message);
}

export function parametersFromGrpc(p: Record<string, GrpcParameter> | undefined): Record<string, unknown> | undefined {
  if (!p) return undefined;
  const keys = Object.keys(p);
  if (keys.length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const v = p[k];
    switch (v.parameter_choice) {
      case 'bool_param':
        out[k] = v.bool_param;
        break;
      case 'string_param':
        out[k] = v.string_param;
        break;
      case 'double_param':
        out[k] = v.double_param;
        break;
      case 'int64_param':
        out[k] = Number(v.int64_param);
        break;
      case 'uint64_param':
        out[k] = Number(v.uint64_param);
        break;
      default:
        break; // unset oneof: no value
    }
  }
  return out;
}

/** Scalars only (the spec's InferParameter); anything else is a bug of the caller. */
export function parametersToGrpc(p: Record<string, unknown> | undefined): Record<string, GrpcParameter> | undefined {
  if (!p) return undefined;
  const out: Record<string, GrpcParameter> = {};
  for (const [k, v] of Object.entries(p)) {
    if (typeof v === 'boolean') out[k] = { bool_param: v };
    else if (typeof v === 'string') out[k] = { string_param: v };
    else if (typeof v === 'number') out[k] = Number.isSafeInteger(v) ? { int64_param: v } : { double_param: v };
    else if (typeof v === 'bigint') out[k] = { int64_param: v.toString() };
    else throw new TypeError(`parameter "${k}": ${typeof v} is not a v2 parameter value (string, number or boolean)`);
  }
  return out;
}

function shapeFromGrpc(name: string, shape: Array<string | number>): number[] {
  if (shape.length > MAX_RANK) throw bad(`tensor '${name}': rank ${shape.length} exceeds ${MAX_RANK}`);
  return shape.map((d) => {
    const n = Number(d);
    if (!Number.isSafeInteger(n) || n < 0) throw bad(`tensor '${name}': shape dimension ${d} is not a non-negative integer`);
    return n;
  });
}

/** Which content fields hold values. */
function usedFields(c: GrpcContents | null | undefined): (keyof GrpcContents)[] {
  if (!c) return [];
  return CONTENT_FIELDS.filter((f) => (c[f]?.length ?? 0) > 0);
}

function tensorFromGrpc(t: GrpcTensor, raw: Buffer | undefined, where: string): Tensor {
  const name = t.name;
  if (!name) throw bad(`${where}: "name" must be a non-empty string`);
  if (!isDatatype(t.datatype)) throw bad(`tensor '${name}': unknown datatype ${JSON.stringify(t.datatype)}`);
  const datatype = t.datatype;
  const shape = shapeFromGrpc(name, t.shape ?? []);
  const count = elementCount(shape);
  const used = usedFields(t.contents);
  let tensor: Tensor;
  if (raw !== undefined) {
    if (used.length > 0) throw bad(`tensor '${name}': has both typed contents (${used.join(', ')}) and raw_input_contents; use one`);
    tensor = { name, datatype, shape, data: dataFromBinary(name, datatype, raw, count) };
  } else {
    const field = CONTENTS_FIELD[datatype];
    if (field === undefined) throw bad(`tensor '${name}': datatype ${datatype} has no typed contents field; send it in raw_input_contents`);
    const wrong = used.filter((f) => f !== field);
    if (wrong.length > 0) throw bad(`tensor '${name}': datatype ${datatype} takes ${field}, got ${wrong.join(', ')}`);
    const values = (t.contents?.[field] ?? []) as unknown[];
    if (values.length !== count) {
      throw bad(`tensor '${name}': ${values.length} elements in ${field} for shape [${shape.join(',')}] (${count} elements)`);
    }
    const data = datatype === 'BYTES' ? (values as Buffer[]).map((b) => Buffer.from(b)) : dataFromJson(name, datatype, values);
    tensor = { name, datatype, shape, data };
  }
  const parameters = parametersFromGrpc(t.parameters);
  if (parameters) tensor.parameters = parameters;
  return tensor;
}

/** ModelInferRequest -> InferRequest; OipError(400) naming the tensor and the problem. */
export function inferRequestFromGrpc(m: GrpcInferRequest): InferRequest {
  const raw = m.raw_input_contents ?? [];
  const inputs = m.inputs ?? [];
  if (inputs.length === 0) throw bad('malformed request: "inputs" is empty');
  if (raw.length > 0 && raw.length !== inputs.length) {
    throw bad(`raw_input_contents has ${raw.length} entries for ${inputs.length} inputs (one per input, in order)`);
  }
  const seen = new Set<string>();
  const tensors = inputs.map((t, i) => {
    if (seen.has(t.name)) throw bad(`tensor '${t.name}' appears twice in "inputs"`);
    seen.add(t.name);
    return tensorFromGrpc(t, raw.length > 0 ? raw[i] : undefined, `inputs[${i}]`);
  });
  const req: InferRequest = { inputs: tensors };
  if (m.id) req.id = m.id;
  const params = parametersFromGrpc(m.parameters);
  if (params) req.parameters = params;
  if (m.outputs && m.outputs.length > 0) {
    req.outputs = m.outputs.map((o, i): RequestedOutput => {
      if (!o.name) throw bad(`outputs[${i}]: "name" must be a non-empty string`);
      const p = parametersFromGrpc(o.parameters);
      return p ? { name: o.name, parameters: p } : { name: o.name };
    });
  }
  return req;
}

function tensorHead(t: Tensor): GrpcTensor {
  const out: GrpcTensor = { name: t.name, datatype: t.datatype, shape: t.shape };
  const p = parametersToGrpc(t.parameters);
  if (p) out.parameters = p;
  return out;
}

/** InferResponse -> ModelInferResponse, every output in raw_output_contents. */
export function inferResponseToGrpc(r: InferResponse): GrpcInferResponse {
  const out: GrpcInferResponse = {
    model_name: r.model_name,
    model_version: r.model_version ?? '',
    id: r.id ?? '',
    outputs: r.outputs.map(tensorHead),
    raw_output_contents: r.outputs.map((t) => dataToBinary(t.datatype, t.data)),
  };
  const p = parametersToGrpc(r.parameters);
  if (p) out.parameters = p;
  return out;
}

/** InferRequest -> ModelInferRequest with raw_input_contents (the client side). */
export function inferRequestToGrpc(model: string, r: InferRequest, version = ''): GrpcInferRequest {
  const out: GrpcInferRequest = {
    model_name: model,
    model_version: version,
    id: r.id ?? '',
    inputs: r.inputs.map(tensorHead),
    raw_input_contents: r.inputs.map((t) => dataToBinary(t.datatype, t.data)),
  };
  const p = parametersToGrpc(r.parameters);
  if (p) out.parameters = p;
  if (r.outputs)
    out.outputs = r.outputs.map((o) => ({ name: o.name, ...(o.parameters ? { parameters: parametersToGrpc(o.parameters) } : {}) }));
  return out;
}

/** ModelInferResponse -> InferResponse (raw or typed contents); OipError(502) when malformed. */
export function inferResponseFromGrpc(m: GrpcInferResponse): InferResponse {
  const raw = m.raw_output_contents ?? [];
  if (raw.length > 0 && raw.length !== m.outputs.length) {
    throw new OipError(502, `raw_output_contents has ${raw.length} entries for ${m.outputs.length} outputs`);
  }
  try {
    const outputs = m.outputs.map((t, i) => tensorFromGrpc(t, raw.length > 0 ? raw[i] : undefined, `outputs[${i}]`));
    const res: InferResponse = { model_name: m.model_name, outputs };
    if (m.model_version) res.model_version = m.model_version;
    if (m.id) res.id = m.id;
    const p = parametersFromGrpc(m.parameters);
    if (p) res.parameters = p;
    return res;
  } catch (e) {
    if (e instanceof OipError) throw new OipError(502, `malformed ModelInferResponse: ${e.message}`);
    throw e;
  }
}

export function metadataToGrpc(m: ModelMetadata): Record<string, unknown> {
  const t = (x: TensorMetadata) => ({ name: x.name, datatype: x.datatype, shape: x.shape });
  return { name: m.name, versions: m.versions ?? [], platform: m.platform, inputs: m.inputs.map(t), outputs: m.outputs.map(t) };
}

export function metadataFromGrpc(m: {
  name: string;
  versions: string[];
  platform: string;
  inputs: GrpcTensor[];
  outputs: GrpcTensor[];
}): ModelMetadata {
  const t = (x: GrpcTensor): TensorMetadata => ({ name: x.name, datatype: x.datatype as Datatype, shape: x.shape.map(Number) });
  return { name: m.name, versions: m.versions, platform: m.platform, inputs: m.inputs.map(t), outputs: m.outputs.map(t) };
}

/** The gRPC status of an OipError's HTTP status (the same error, the same meaning, on either edge). */
export function grpcCode(httpStatus: number): GrpcStatus {
  switch (httpStatus) {
    case 400:
      return GrpcStatus.INVALID_ARGUMENT;
    case 404:
      return GrpcStatus.NOT_FOUND;
    case 405:
      return GrpcStatus.UNIMPLEMENTED;
    case 413:
    case 429:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case 503:
    case 502:
      return GrpcStatus.UNAVAILABLE;
    case 504:
      return GrpcStatus.DEADLINE_EXCEEDED;
    default:
      return httpStatus >= 400 && httpStatus < 500 ? GrpcStatus.FAILED_PRECONDITION : GrpcStatus.INTERNAL;
  }
}

/** The HTTP status an upstream's gRPC status stands for (so the router treats both edges alike). */
export function httpStatusOf(code: GrpcStatus): number {
  switch (code) {
    case GrpcStatus.INVALID_ARGUMENT:
    case GrpcStatus.OUT_OF_RANGE:
      return 400;
    case GrpcStatus.NOT_FOUND:
      return 404;
    case GrpcStatus.UNIMPLEMENTED:
      return 405;
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return 429;
    case GrpcStatus.DEADLINE_EXCEEDED:
      return 504;
    case GrpcStatus.UNAVAILABLE:
    case GrpcStatus.CANCELLED:
      return 503;
    case GrpcStatus.FAILED_PRECONDITION:
      return 400;
    default:
      return 500;
  }
}
