// IDX file parser (the MNIST/Fashion-MNIST container format).
// Layout: magic = 0x00 0x00 <dtype> <ndims>, then ndims big-endian uint32 sizes, then the payload.
// Only dtype 0x08 (unsigned byte) is supported: it is all Fashion-MNIST uses.
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const IDX_UBYTE = 0x08;
const GZIP_MAGIC0 = 0x1f;
const GZIP_MAGIC1 = 0x8b;
/** Refuse absurd headers before allocating (Fashion-MNIST's largest file is 47 MB). */
const MAX_PAYLOAD_BYTES = 1 << 30;

export function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === GZIP_MAGIC0 && buf[1] === GZIP_MAGIC1;
}

/** Parses an IDX buffer, gzip-compressed or plain (detected by the gzip magic bytes). */
export function parseIdx(input: Uint8Array, source = 'IDX buffer'): IdxArray {
  let buf: Uint8Array;
  if (isGzip(input)) {
    try {
      buf = gunzipSync(input);
    } catch (err) {
      throw new Error(`${source}: gzip data is corrupt or truncated (${(err as Error).message})`);
    }
  } else {
    buf = input;
  }
  if (buf.length < 4) {
    throw new Error(`${source}: too short for an IDX header (${buf.length} bytes, need at least 4)`);
  }
  if (buf[0] !== 0 || buf[1] !== 0) {
    const got = Array.from(buf.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new Error(`${source}: bad IDX magic ${got} (expected 00 00 <dtype> <ndims>)`);
  }
  if (buf[2] !== IDX_UBYTE) {
    throw new Error(`${source}: unsupported IDX dtype 0x${buf[2].toString(16).padStart(2, '0')} (only 0x08 unsigned byte)`);
  }
  const ndims = buf[3];
  if (ndims === 0) throw new Error(`${source}: IDX header declares 0 dimensions`);
  const headerBytes = 4 + 4 * ndims;
  if (buf.length < headerBytes) {
    throw new Error(`${source}: truncated IDX header (${buf.length} bytes, ${ndims} dims need ${headerBytes})`);
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims: number[] = [];
  let expected = 1;
  for (let i = 0; i < ndims; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    expected *= d;
  }
  if (expected > MAX_PAYLOAD_BYTES) {
    throw new Error(`${source}: IDX dims [${dims.join(', ')}] declare ${expected} bytes, over the ${MAX_PAYLOAD_BYTES}-byte limit`);
  }
  const payload = buf.length - headerBytes;
  if (payload < expected) {
    throw new Error(`${source}: truncated IDX payload: dims [${dims.join(', ')}] need ${expected} bytes, file has ${payload}`);
  }
  if (payload > expected) {
    throw new Error(`${source}: IDX payload has ${payload - expected} trailing bytes beyond dims [${dims.join(', ')}] (${expected} bytes)`);
  }
  return { dims, data: buf.subarray(headerBytes) };
}

/** Reads and parses an IDX file (.gz or plain). */
export async function readIdxFile(path: string): Promise<IdxArray> {
  return parseIdx(await readFile(path), path);
}
