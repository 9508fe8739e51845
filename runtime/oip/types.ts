// Open Inference Protocol v2 ("KServe v2", also spoken by Triton and MLServer): the in-memory shapes
// of requests, responses and tensors shared by the model server, the router and the clients.

export type Datatype =
  'BOOL' | 'UINT8' | 'UINT16' | 'UINT32' | 'UINT64' | 'INT8' | 'INT16' | 'INT32' | 'INT64' | 'FP16' | 'FP32' | 'FP64' | 'BYTES';

export const DATATYPES: readonly Datatype[] = Object.freeze([
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
] as Datatype[]);

/**
 * Flat row-major element storage of a tensor, one typed array per datatype:
 * - BOOL: Uint8Array (0/1), UINT8: Uint8Array, UINT16: Uint16Array, UINT32: Uint32Array,
 *   UINT64: BigUint64Array, INT8: Int8Array, INT16: Int16Array, INT32: Int32Array,
 *   INT64: BigInt64Array, FP32: Float32Array, FP64: Float64Array;
 * - FP16: Uint16Array holding the raw IEEE 754 half-precision bits (JS has no float16 array in Node 20;
 *   the JSON codec converts to and from numbers);
 * - BYTES: Buffer[] (one Buffer per element; binary-safe; JSON carries them as UTF-8 strings).
 * Typed arrays decoded from a binary payload may be views into the request body (zero copy).
 */
export type TensorData =
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Float32Array
  | Float64Array
  | Buffer[];

export interface Tensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: TensorData;
  parameters?: Record<string, unknown>;
}

export interface RequestedOutput {
  name: string;
  parameters?: Record<string, unknown>;
}

export interface InferRequest {
  id?: string;
  parameters?: Record<string, unknown>;
  inputs: Tensor[];
  outputs?: RequestedOutput[];
}

export interface InferResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, unknown>;
  outputs: Tensor[];
}

export interface TensorMetadata {
  name: string;
  datatype: Datatype;
  /** -1 marks a dynamic dimension */
  shape: number[];
}

export interface ModelMetadata {
  name: string;
  versions?: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

/**
 * An error that maps to an HTTP status of the v2 protocol:
 * 400 bad request (JSON, datatype, shape, size), 404 unknown model, 413 body too large,
 * 429 overloaded (queue full), 503 not ready / upstream unreachable, 504 upstream timeout.
 * The message is sent to the client as `{"error": message}`, so it must name the problem.
 */
export class OipError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'OipError';
    this.status = status;
  }
}

/** Bytes per element in the binary tensor extension; BYTES is variable-length (0 here). */
export const ELEMENT_SIZE: Readonly<Record<Datatype, number>> = Object.freeze({
  BOOL: 1,
  UINT8: 1,
  UINT16: 2,
  UINT32: 4,
  UINT64: 8,
  INT8: 1,
  INT16: 2,
  INT32: 4,
  INT64: 8,
  FP16: 2,
  FP32: 4,
  FP64: 8,
  BYTES: 0,
});

export function isDatatype(v: unknown): v is Datatype {
  return typeof v === 'string' && Object.prototype.hasOwnProperty.call(ELEMENT_SIZE, v);
}

/** Number of elements of a shape (product of dims; 1 for a scalar shape []). */
export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
