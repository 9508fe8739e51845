// Conversions of tensor element data between the wire (JSON values, binary tensor extension bytes)
// and typed arrays. Binary payloads become zero-copy views when the offset is aligned (a copy
// otherwise); JSON values are checked element by element (type, integer-ness, range).

import { floatToHalf, halfToFloat } from './fp16.js';
import { OipError, type Datatype, type TensorData, ELEMENT_SIZE } from './types.js';

type NumericCtor =
  | Uint8ArrayConstructor
  | Uint16ArrayConstructor
  | Uint32ArrayConstructor
  | BigUint64ArrayConstructor
  | Int8ArrayConstructor
  | Int16ArrayConstructor
  | Int32ArrayConstructor
  | BigInt64ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor;

const CTOR: Readonly<Record<Exclude<Datatype, 'BYTES'>, NumericCtor>> = {
  BOOL: Uint8Array,
  UINT8: Uint8Array,
  UINT16: Uint16Array,
  UINT32: Uint32Array,
  UINT64: BigUint64Array,
  INT8: Int8Array,
  INT16: Int16Array,
  INT32: Int32Array,
  INT64: BigInt64Array,
  FP16: Uint16Array,
  FP32: Float32Array,
  FP64: Float64Array,
};

const INT_RANGE: Readonly<Partial<Record<Datatype, [number, number]>>> = {
  UINT8: [0, 0xff],
  UINT16: [0, 0xffff],
  UINT32: [0, 0xffffffff],
  INT8: [-0x80, 0x7f],
  INT16: [-0x8000, 0x7fff],
  INT32: [-0x80000000, 0x7fffffff],
};

const BIG_RANGE: Readonly<Partial<Record<Datatype, [bigint, bigint]>>> = {
  UINT64: [0n, 0xffffffffffffffffn],
  INT64: [-0x8000000000000000n, 0x7fffffffffffffffn],
};

/** Whether `data` is the storage type that `datatype` calls for (see TensorData). */
export function dataMatchesDatatype(datatype: Datatype, data: TensorData): boolean {
  if (datatype === 'BYTES') return Array.isArray(data);
  return data instanceof CTOR[datatype];
}

/** A zero-filled typed array for `count` elements (BYTES: array of empty Buffers). */
export function allocData(datatype: Datatype, count: number): TensorData {
  if (datatype === 'BYTES') return Array.from({ length: count }, () => Buffer.alloc(0));
  return new CTOR[datatype](count);
}

/** Number of elements held by tensor data. */
export function dataLength(data: TensorData): number {
  return data.length;
}

// ---------------------------------------------------------------------------------------------
// binary tensor extension

/** Tensor data from its binary payload (little-endian; BYTES: 4-byte LE length prefix per element). */
export function dataFromBinary(name: string, datatype: Datatype, bytes: Buffer, count: number): TensorData {
  if (datatype === 'BYTES') return bytesFromBinary(name, bytes, count);
  const size = ELEMENT_SIZE[datatype];
  if (bytes.length !== count * size) {
    throw new OipError(
      400,
      `tensor '${name}': binary_data_size ${bytes.length} does not match ${count} ${datatype} elements (${count * size} bytes)`,
    );
  }
  const Ctor = CTOR[datatype];
  if (bytes.byteOffset % size === 0) return new Ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, count);
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return new Ctor(copy.buffer, 0, count);
}

function bytesFromBinary(name: string, bytes: Buffer, count: number): Buffer[] {
  const out: Buffer[] = new Array(count);
  let off = 0;
  for (let i = 0; i < count; i++) {
    if (off + 4 > bytes.length) {
      throw new OipError(400, `tensor '${name}': BYTES payload truncated at element ${i} of ${count}`);
    }
    const len = bytes.readUInt32LE(off);
    off += 4;
    if (off + len > bytes.length) {
      throw new OipError(400, `tensor '${name}': BYTES element ${i} declares ${len} bytes, payload has ${bytes.length - off}`);
    }
    out[i] = bytes.subarray(off, off + len);
    off += len;
  }
  if (off !== bytes.length) {
    throw new OipError(400, `tensor '${name}': BYTES payload has ${bytes.length - off} bytes after its ${count} elements`);
  }
  return out;
}

/** The binary payload of tensor data (a view, no copy, for typed arrays). */
export function dataToBinary(datatype: Datatype, data: TensorData): Buffer {
  if (datatype === 'BYTES') {
    const elems = data as Buffer[];
    let total = 0;
    for (const b of elems) total += 4 + b.length;
    const out = Buffer.allocUnsafe(total);
    let off = 0;
    for (const b of elems) {
      out.writeUInt32LE(b.length, off);
      off += 4;
      off += b.copy(out, off);
    }
    return out;
  }
  const arr = data as Exclude<TensorData, Buffer[]>;
  return Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength);
}

// ---------------------------------------------------------------------------------------------
// JSON

const SPECIAL_FLOATS: Readonly<Record<string, number>> = {
  NaN: NaN,
  nan: NaN,
  Infinity: Infinity,
  inf: Infinity,
  '+Infinity': Infinity,
  '-Infinity': -Infinity,
  '-inf': -Infinity,
};

function describe(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 40)}...` : s;
}

function badElement(name: string, i: number, v: unknown, why: string): OipError {
  return new OipError(400, `tensor '${name}': element ${i} ${describe(v)} ${why}`);
}

function floatValue(name: string, i: number, v: unknown): number {
  if (typeof v === 'number') return v;
  // Non-finite floats have no JSON literal; they travel as strings "NaN", "Infinity", "-Infinity".
  if (typeof v === 'string' && Object.prototype.hasOwnProperty.call(SPECIAL_FLOATS, v)) return SPECIAL_FLOATS[v];
  throw badElement(name, i, v, 'is not a number');
}

/**
 * Tensor data from a flat array of JSON values. Floats: numbers or "NaN"/"Infinity"/"-Infinity";
 * integers: integral numbers in the datatype's range (64-bit ones also as decimal strings, exact);
 * BOOL: true/false (or 0/1); BYTES: strings (UTF-8).
 */
export function dataFromJson(name: string, datatype: Datatype, flat: readonly unknown[]): TensorData {
  const n = flat.length;
  switch (datatype) {
    case 'FP32':
    case 'FP64': {
      const out = datatype === 'FP32' ? new Float32Array(n) : new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const v = flat[i];
        out[i] = typeof v === 'number' ? v : floatValue(name, i, v);
      }
      return out;
    }
    case 'FP16': {
      const out = new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = floatToHalf(floatValue(name, i, flat[i]));
      return out;
    }
    case 'BOOL': {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const v = flat[i];
        if (v === true || v === 1) out[i] = 1;
        else if (v !== false && v !== 0) throw badElement(name, i, v, 'is not a boolean');
      }
      return out;
    }
    case 'UINT64':
    case 'INT64': {
      const out = datatype === 'INT64' ? new BigInt64Array(n) : new BigUint64Array(n);
      const [lo, hi] = BIG_RANGE[datatype]!;
      for (let i = 0; i < n; i++) {
        const v = flat[i];
        let b: bigint;
        if (typeof v === 'number' && Number.isInteger(v)) b = BigInt(v);
        else if (typeof v === 'string' && /^-?\d{1,20}$/.test(v)) b = BigInt(v);
        else throw badElement(name, i, v, 'is not an integer');
        if (b < lo || b > hi) throw badElement(name, i, v, `is out of range for ${datatype}`);
        out[i] = b;
      }
      return out;
    }
    case 'BYTES': {
      const out: Buffer[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const v = flat[i];
        if (typeof v !== 'string') throw badElement(name, i, v, 'is not a string');
        out[i] = Buffer.from(v, 'utf8');
      }
      return out;
    }
    default: {
      const Ctor = CTOR[datatype] as Exclude<NumericCtor, BigInt64ArrayConstructor | BigUint64ArrayConstructor>;
      const out = new Ctor(n);
      const [lo, hi] = INT_RANGE[datatype]!;
      for (let i = 0; i < n; i++) {
        const v = flat[i];
        if (typeof v !== 'number' || !Number.isInteger(v)) throw badElement(name, i, v, 'is not an integer');
        if (v < lo || v > hi) throw badElement(name, i, v, `is out of range for ${datatype}`);
        out[i] = v;
      }
      return out;
    }
  }
}

function floatsJson(values: ArrayLike<number>): string {
  // JSON.stringify of a plain array is V8's fastest number formatter; it writes NaN/Inf as null.
  const s = JSON.stringify(Array.from(values));
  if (s.indexOf('null') < 0) return s;
  const parts: string[] = new Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    parts[i] = Number.isFinite(v) ? String(v) : `"${v}"`;
  }
  return `[${parts.join(',')}]`;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** JSON text of tensor data as a flat array (64-bit integers beyond 2^53 as exact digit strings). */
export function dataToJson(datatype: Datatype, data: TensorData): string {
  switch (datatype) {
    case 'FP32':
    case 'FP64':
      return floatsJson(data as Float32Array | Float64Array);
    case 'FP16': {
      const bits = data as Uint16Array;
      const vals = new Float64Array(bits.length);
      for (let i = 0; i < bits.length; i++) vals[i] = halfToFloat(bits[i]);
      return floatsJson(vals);
    }
    case 'BOOL': {
      const u = data as Uint8Array;
      const parts: string[] = new Array(u.length);
      for (let i = 0; i < u.length; i++) parts[i] = u[i] ? 'true' : 'false';
      return `[${parts.join(',')}]`;
    }
    case 'BYTES':
      return JSON.stringify((data as Buffer[]).map((b) => b.toString('utf8')));
    case 'INT64':
    case 'UINT64': {
      // Beyond 2^53 a JSON number would be rounded by JSON.parse: such values go as digit strings.
      const big = data as BigInt64Array;
      const parts: string[] = new Array(big.length);
      for (let i = 0; i < big.length; i++) {
        const v = big[i];
        parts[i] = v <= MAX_SAFE && v >= -MAX_SAFE ? v.toString() : `"${v}"`;
      }
      return `[${parts.join(',')}]`;
    }
    default:
      return `[${Array.prototype.join.call(data, ',')}]`;
  }
}

/** Element values as JS numbers (FP16 decoded, 64-bit integers via Number()); for validation and tests. */
export function dataToNumbers(datatype: Datatype, data: TensorData): Float64Array {
  if (datatype === 'BYTES') throw new TypeError('dataToNumbers: BYTES tensors have no numeric values');
  const n = data.length;
  const out = new Float64Array(n);
  if (datatype === 'FP16') {
    const bits = data as Uint16Array;
    for (let i = 0; i < n; i++) out[i] = halfToFloat(bits[i]);
  } else if (datatype === 'INT64' || datatype === 'UINT64') {
    const big = data as BigInt64Array;
    for (let i = 0; i < n; i++) out[i] = Number(big[i]);
  } else {
    out.set(data as Exclude<TensorData, Buffer[] | BigInt64Array | BigUint64Array>);
  }
  return out;
}
