// Encode/decode of v2 infer requests and responses: JSON tensors and the binary tensor extension
// (a JSON header of `Inference-Header-Content-Length` bytes followed by the raw tensors in the order
// of the tensors carrying a `binary_data_size` parameter). Every decode error is an OipError(400)
// naming the tensor and the problem: the bytes come from the network.

import {
  OipError,
  isDatatype,
  elementCount,
  type Datatype,
  type InferRequest,
  type InferResponse,
  type RequestedOutput,
  type Tensor,
} from './types.js';
import { dataFromBinary, dataFromJson, dataMatchesDatatype, dataToBinary, dataToJson } from './tensor-data.js';

export const HEADER_LENGTH_HEADER = 'inference-header-content-length';
const MAX_RANK = 32;

export interface EncodedMessage {
  body: Buffer;
  headers: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------
// decode

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseHeader(body: Buffer, headerLength: number | undefined): { json: Record<string, unknown>; hl: number } {
  let hl = body.length;
  if (headerLength !== undefined) {
    if (!Number.isInteger(headerLength) || headerLength < 0 || headerLength > body.length) {
      throw new OipError(400, `Inference-Header-Content-Length ${headerLength} is not a byte count within the body (${body.length} bytes)`);
    }
    hl = headerLength;
  }
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8', 0, hl));
  } catch (e) {
    throw new OipError(400, `malformed JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(json)) throw new OipError(400, 'malformed request: the JSON body must be an object');
  return { json, hl };
}

function optionalParams(v: unknown, where: string): Record<string, unknown> | undefined {
  if (v === undefined) return undefined;
  if (!isPlainObject(v)) throw new OipError(400, `${where}: "parameters" must be an object`);
  return v;
}

function parseShape(name: string, v: unknown): number[] {
  if (!Array.isArray(v)) throw new OipError(400, `tensor '${name}': "shape" must be an array of integers`);
  if (v.length > MAX_RANK) throw new OipError(400, `tensor '${name}': rank ${v.length} exceeds ${MAX_RANK}`);
  for (const d of v) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new OipError(400, `tensor '${name}': shape dimension ${JSON.stringify(d)} is not a non-negative integer`);
    }
  }
  return v as number[];
}

/**
 * Row-major flattening of JSON data. Data may be flat or nested; nesting must follow the shape
 * (an array at depth k has shape[k] entries; a leaf array at depth k has prod(shape[k:]) entries).
 */
function flattenData(name: string, data: unknown, shape: number[]): unknown[] {
  if (!Array.isArray(data)) throw new OipError(400, `tensor '${name}': "data" must be an array`);
  const count = elementCount(shape);
  if (data.length === 0 || !Array.isArray(data[0])) {
    if (data.length !== count) {
      throw new OipError(400, `tensor '${name}': shape [${shape.join(',')}] needs ${count} elements, data has ${data.length}`);
    }
    return data;
  }
  const out: unknown[] = [];
  const walk = (arr: unknown[], depth: number, path: string): void => {
    if (arr.length > 0 && Array.isArray(arr[0])) {
      if (depth >= shape.length - 1 || arr.length !== shape[depth]) {
        throw new OipError(
          400,
          `tensor '${name}': nested data${path} has ${arr.length} entries where shape [${shape.join(',')}] has ${shape[depth] ?? 'none'}`,
        );
      }
      for (let i = 0; i < arr.length; i++) {
        const child = arr[i];
        if (!Array.isArray(child)) {
          throw new OipError(400, `tensor '${name}': nested data${path}[${i}] is not an array like its siblings`);
        }
        walk(child, depth + 1, `${path}[${i}]`);
      }
      return;
    }
    const want = elementCount(shape.slice(depth));
    if (arr.length !== want) {
      throw new OipError(
        400,
        `tensor '${name}': nested data${path} has ${arr.length} elements, shape [${shape.join(',')}] needs ${want} there`,
      );
    }
    for (let i = 0; i < arr.length; i++) out.push(arr[i]);
  };
  walk(data, 0, '');
  return out;
}

function decodeTensors(list: unknown, key: 'inputs' | 'outputs', body: Buffer, hl: number): Tensor[] {
  if (!Array.isArray(list)) throw new OipError(400, `malformed request: "${key}" must be an array of tensors`);
  const seen = new Set<string>();
  const tensors: Tensor[] = new Array(list.length);
  let offset = hl;
  for (let i = 0; i < list.length; i++) {
    const t = list[i];
    if (!isPlainObject(t)) throw new OipError(400, `${key}[${i}] must be an object`);
    const name = t.name;
    if (typeof name !== 'string' || name === '') throw new OipError(400, `${key}[${i}]: "name" must be a non-empty string`);
    if (seen.has(name)) throw new OipError(400, `tensor '${name}' appears twice in "${key}"`);
    seen.add(name);
    const datatype = t.datatype;
    if (!isDatatype(datatype)) {
      throw new OipError(400, `tensor '${name}': unknown datatype ${JSON.stringify(datatype)}`);
    }
    const shape = parseShape(name, t.shape);
    let parameters = optionalParams(t.parameters, `tensor '${name}'`);
    const count = elementCount(shape);
    const binSize = parameters?.binary_data_size;
    let tensor: Tensor;
    if (binSize !== undefined) {
      if (typeof binSize !== 'number' || !Number.isSafeInteger(binSize) || binSize < 0) {
        throw new OipError(400, `tensor '${name}': binary_data_size ${JSON.stringify(binSize)} is not a byte count`);
      }
      if (t.data !== undefined) throw new OipError(400, `tensor '${name}': has both "data" and binary_data_size`);
      if (offset + binSize > body.length) {
        throw new OipError(
          400,
          `tensor '${name}': binary payload truncated: needs ${binSize} bytes at offset ${offset}, body has ${body.length - offset}`,
        );
      }
      const data = dataFromBinary(name, datatype, body.subarray(offset, offset + binSize), count);
      offset += binSize;
      const { binary_data_size: _drop, ...rest } = parameters!;
      parameters = Object.keys(rest).length > 0 ? rest : undefined;
      tensor = { name, datatype, shape, data };
    } else {
      if (t.data === undefined) throw new OipError(400, `tensor '${name}': has neither "data" nor binary_data_size`);
      tensor = { name, datatype, shape, data: dataFromJson(name, datatype, flattenData(name, t.data, shape)) };
    }
    if (parameters !== undefined) tensor.parameters = parameters;
    tensors[i] = tensor;
  }
  if (offset !== body.length) {
    throw new OipError(400, `${body.length - offset} bytes after the JSON header are not claimed by any tensor's binary_data_size`);
  }
  return tensors;
}

function decodeRequestedOutputs(v: unknown): RequestedOutput[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw new OipError(400, 'malformed request: "outputs" must be an array');
  return v.map((o, i) => {
    if (!isPlainObject(o) || typeof o.name !== 'string') {
      throw new OipError(400, `outputs[${i}] must be an object with a string "name"`);
    }
    const parameters = optionalParams(o.parameters, `requested output '${o.name}'`);
    return parameters === undefined ? { name: o.name } : { name: o.name, parameters };
  });
}

function optionalString(v: unknown, field: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new OipError(400, `"${field}" must be a string`);
  return v;
}

/** Decode an infer request body (JSON, or JSON header + binary tensors when headerLength is given). */
export function decodeInferRequest(body: Buffer, headerLength?: number): InferRequest {
  const { json, hl } = parseHeader(body, headerLength);
  if (json.inputs === undefined) throw new OipError(400, 'malformed request: missing "inputs"');
  const inputs = decodeTensors(json.inputs, 'inputs', body, hl);
  if (inputs.length === 0) throw new OipError(400, 'malformed request: "inputs" is empty');
  const req: InferRequest = { inputs };
  const id = optionalString(json.id, 'id');
  if (id !== undefined) req.id = id;
  const parameters = optionalParams(json.parameters, 'request');
  if (parameters !== undefined) req.parameters = parameters;
  const outputs = decodeRequestedOutputs(json.outputs);
  if (outputs !== undefined) req.outputs = outputs;
  return req;
}

/** Decode an infer response body (JSON, or JSON header + binary tensors when headerLength is given). */
export function decodeInferResponse(body: Buffer, headerLength?: number): InferResponse {
  const { json, hl } = parseHeader(body, headerLength);
  if (typeof json.model_name !== 'string') throw new OipError(400, 'malformed response: "model_name" must be a string');
  if (json.outputs === undefined) throw new OipError(400, 'malformed response: missing "outputs"');
  const res: InferResponse = { model_name: json.model_name, outputs: decodeTensors(json.outputs, 'outputs', body, hl) };
  const version = optionalString(json.model_version, 'model_version');
  if (version !== undefined) res.model_version = version;
  const id = optionalString(json.id, 'id');
  if (id !== undefined) res.id = id;
  const parameters = optionalParams(json.parameters, 'response');
  if (parameters !== undefined) res.parameters = parameters;
  return res;
}

/** Parse the `Inference-Header-Content-Length` header value (undefined when absent). */
export function parseHeaderLength(v: string | string[] | undefined): number | undefined {
  if (v === undefined) return undefined;
  const s = Array.isArray(v) ? v[0] : v;
  if (!/^\d{1,15}$/.test(s.trim())) {
    throw new OipError(400, `Inference-Header-Content-Length ${JSON.stringify(s)} is not a byte count`);
  }
  return Number(s);
}

// ---------------------------------------------------------------------------------------------
// encode

function checkTensor(t: Tensor): void {
  if (!dataMatchesDatatype(t.datatype, t.data)) {
    throw new TypeError(`tensor '${t.name}': data storage does not match datatype ${t.datatype}`);
  }
  const count = elementCount(t.shape);
  if (t.data.length !== count) {
    throw new TypeError(`tensor '${t.name}': ${t.data.length} elements for shape [${t.shape.join(',')}]`);
  }
}

/** JSON text of one tensor; when `binary` the data goes to `chunks` and the JSON gets binary_data_size. */
function tensorJson(t: Tensor, binary: boolean, chunks: Buffer[]): string {
  checkTensor(t);
  let head = `{"name":${JSON.stringify(t.name)},"datatype":"${t.datatype}","shape":[${t.shape.join(',')}]`;
  if (binary) {
    const bytes = dataToBinary(t.datatype, t.data);
    chunks.push(bytes);
    const params = { ...(t.parameters ?? {}), binary_data_size: bytes.length };
    return `${head},"parameters":${JSON.stringify(params)}}`;
  }
  if (t.parameters !== undefined) {
    const { binary_data_size: _drop, ...rest } = t.parameters;
    head += `,"parameters":${JSON.stringify(rest)}`;
  }
  return `${head},"data":${dataToJson(t.datatype as Datatype, t.data)}}`;
}

function finish(parts: string[], chunks: Buffer[]): EncodedMessage {
  const header = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  if (chunks.length === 0) {
    return {
      body: header,
      headers: { 'Content-Type': 'application/json', 'Content-Length': String(header.length) },
    };
  }
  const body = Buffer.concat([header, ...chunks]);
  return {
    body,
    headers: {
      'Content-Type': 'application/octet-stream',
      'Inference-Header-Content-Length': String(header.length),
      'Content-Length': String(body.length),
    },
  };
}

/**
 * Encode an infer request. `binaryInputs` sends every input in the binary extension;
 * `binaryOutputs` asks the server for binary outputs (`binary_data_output` on the request and
 * `binary_data` on every requested output, as the binary tensor extension names them).
 */
export function encodeInferRequest(req: InferRequest, opts: { binaryInputs?: boolean; binaryOutputs?: boolean } = {}): EncodedMessage {
  const parts: string[] = [];
  const chunks: Buffer[] = [];
  if (req.id !== undefined) parts.push(`"id":${JSON.stringify(req.id)}`);
  let params = req.parameters;
  if (opts.binaryOutputs) params = { ...(params ?? {}), binary_data_output: true };
  if (params !== undefined) parts.push(`"parameters":${JSON.stringify(params)}`);
  const inputs = req.inputs.map((t) => tensorJson(t, opts.binaryInputs === true, chunks));
  parts.push(`"inputs":[${inputs.join(',')}]`);
  if (req.outputs !== undefined) {
    const outs = opts.binaryOutputs
      ? req.outputs.map((o) => ({ ...o, parameters: { ...(o.parameters ?? {}), binary_data: true } }))
      : req.outputs;
    parts.push(`"outputs":${JSON.stringify(outs)}`);
  }
  return finish(parts, chunks);
}

/** Encode an infer response; `binaryOutput(name)` picks the outputs sent in the binary extension. */
export function encodeInferResponse(res: InferResponse, binaryOutput: (outputName: string) => boolean): EncodedMessage {
  const parts: string[] = [`"model_name":${JSON.stringify(res.model_name)}`];
  const chunks: Buffer[] = [];
  if (res.model_version !== undefined) parts.push(`"model_version":${JSON.stringify(res.model_version)}`);
  if (res.id !== undefined) parts.push(`"id":${JSON.stringify(res.id)}`);
  if (res.parameters !== undefined) parts.push(`"parameters":${JSON.stringify(res.parameters)}`);
  const outputs = res.outputs.map((t) => tensorJson(t, binaryOutput(t.name), chunks));
  parts.push(`"outputs":[${outputs.join(',')}]`);
  return finish(parts, chunks);
}

/**
 * Which outputs a request wants in binary (binary tensor extension): a requested output's own
 * `binary_data` parameter wins (true or false); otherwise the request-level `binary_data_output`
 * parameter (default false). A per-output `binary_data_output` (this project's name before it
 * followed the extension's text) is still read where `binary_data` is absent.
 */
export function binaryOutputSelector(req: InferRequest): (outputName: string) => boolean {
  const all = req.parameters?.binary_data_output === true;
  const per = new Map<string, boolean>();
  for (const o of req.outputs ?? []) {
    const v = o.parameters?.binary_data ?? o.parameters?.binary_data_output;
    if (typeof v === 'boolean') per.set(o.name, v);
  }
  if (per.size === 0) return () => all;
  return (name) => per.get(name) ?? all;
}
