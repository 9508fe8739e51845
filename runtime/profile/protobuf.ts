// A minimal protobuf wire-format reader (proto3/proto2 encoding), enough to walk an ONNX file
// without a protobuf dependency. Model files are untrusted input: every length is bounds-checked
// and a malformed buffer raises a ProtobufError instead of reading out of range.

export class ProtobufError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtobufError';
  }
}

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

export interface Field {
  field: number;
  wire: number;
  /** varint value as a signed 64-bit BigInt (WIRE_VARINT) */
  varint?: bigint;
  /** raw bytes: the payload of WIRE_LEN, or the 4/8 bytes of WIRE_I32/WIRE_I64 */
  bytes?: Uint8Array;
}

/** Decode a varint at `pos` (signed 64-bit two's complement); returns [value, next position]. */
export function readVarint(buf: Uint8Array, pos: number, end: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new ProtobufError(`truncated varint at byte ${pos}`);
    const b = buf[pos++];
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [BigInt.asIntN(64, result), pos];
    shift += 7n;
  }
  throw new ProtobufError(`varint longer than 10 bytes at byte ${pos}`);
}

/** Reads one message's fields in order. */
export class ProtoReader {
  private pos: number;
  private readonly end: number;

  constructor(
    private readonly buf: Uint8Array,
    start = 0,
    end = buf.length,
  ) {
    this.pos = start;
    this.end = end;
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  private readVarintBig(): bigint {
    const [v, pos] = readVarint(this.buf, this.pos, this.end);
    this.pos = pos;
    return v;
  }

  /** Next field, or undefined at the end of the message. */
  next(): Field | undefined {
    if (this.pos >= this.end) return undefined;
    const key = this.readVarintBig();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (field <= 0) throw new ProtobufError(`bad field number ${field} at byte ${this.pos}`);
    switch (wire) {
      case WIRE_VARINT:
        return { field, wire, varint: this.readVarintBig() };
      case WIRE_I64:
        return { field, wire, bytes: this.take(8) };
      case WIRE_I32:
        return { field, wire, bytes: this.take(4) };
      case WIRE_LEN: {
        const len = this.readVarintBig();
        if (len < 0n || len > BigInt(this.end - this.pos)) {
          throw new ProtobufError(`field ${field}: length ${len} runs past the end of its message (${this.end - this.pos} bytes left)`);
        }
        return { field, wire, bytes: this.take(Number(len)) };
      }
      default:
        throw new ProtobufError(`unsupported wire type ${wire} (field ${field}) at byte ${this.pos}`);
    }
  }

  private take(n: number): Uint8Array {
    if (this.pos + n > this.end) throw new ProtobufError(`truncated field at byte ${this.pos}`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

const decoder = new TextDecoder('utf-8');

export function asString(f: Field): string {
  if (!f.bytes || f.wire !== WIRE_LEN) throw new ProtobufError(`field ${f.field}: expected a string`);
  return decoder.decode(f.bytes);
}

export function asInt(f: Field): number {
  if (f.varint === undefined) throw new ProtobufError(`field ${f.field}: expected a varint`);
  const v = Number(f.varint);
  if (!Number.isSafeInteger(v)) throw new ProtobufError(`field ${f.field}: integer ${f.varint} is out of range`);
  return v;
}

export function asFloat32(f: Field): number {
  if (!f.bytes || f.wire !== WIRE_I32) throw new ProtobufError(`field ${f.field}: expected a 32-bit float`);
  return new DataView(f.bytes.buffer, f.bytes.byteOffset, 4).getFloat32(0, true);
}

/** A repeated int64/int32 field: packed (one WIRE_LEN field) or not (one varint per field). */
export function pushInts(f: Field, out: number[]): void {
  if (f.wire === WIRE_VARINT) {
    out.push(asInt(f));
    return;
  }
  if (f.wire !== WIRE_LEN || !f.bytes) throw new ProtobufError(`field ${f.field}: expected packed integers`);
  let pos = 0;
  while (pos < f.bytes.length) {
    const [big, next] = readVarint(f.bytes, pos, f.bytes.length);
    pos = next;
    const v = Number(big);
    if (!Number.isSafeInteger(v)) throw new ProtobufError(`field ${f.field}: integer ${big} is out of range`);
    out.push(v);
  }
}

/** A repeated float field: packed or one fixed32 per field. */
export function pushFloats(f: Field, out: number[]): void {
  if (f.wire === WIRE_I32) {
    out.push(asFloat32(f));
    return;
  }
  if (f.wire !== WIRE_LEN || !f.bytes) throw new ProtobufError(`field ${f.field}: expected packed floats`);
  if (f.bytes.length % 4 !== 0) throw new ProtobufError(`field ${f.field}: packed floats length ${f.bytes.length} is not a multiple of 4`);
  const dv = new DataView(f.bytes.buffer, f.bytes.byteOffset, f.bytes.length);
  for (let i = 0; i < f.bytes.length; i += 4) out.push(dv.getFloat32(i, true));
}
