import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGzip, parseIdx, readIdxFile } from '../../models/dataset/idx.js';
import { FASHION_MNIST_CLASSES, loadFashionMnist } from '../../models/dataset/fashion-mnist.js';

/** Builds an unsigned-byte IDX buffer with the given dims and payload. */
function idx(dims: number[], payload: number[], dtype = 0x08): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = dtype;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(payload)]);
}

describe('parseIdx', () => {
  const payload = Array.from({ length: 2 * 3 * 4 }, (_, i) => (i * 7) % 256);

  it('parses a plain 3-d ubyte file', () => {
    const out = parseIdx(idx([2, 3, 4], payload));
    expect(out.dims).toEqual([2, 3, 4]);
    expect(Array.from(out.data)).toEqual(payload);
  });

  it('detects gzip by magic bytes and gives the same result', () => {
    const gz = gzipSync(idx([2, 3, 4], payload));
    expect(isGzip(gz)).toBe(true);
    const out = parseIdx(gz);
    expect(out.dims).toEqual([2, 3, 4]);
    expect(Array.from(out.data)).toEqual(payload);
  });

  it('parses 1-d label files with big-endian sizes above 255', () => {
    const labels = Array.from({ length: 300 }, (_, i) => i % 10);
    const out = parseIdx(idx([300], labels));
    expect(out.dims).toEqual([300]);
    expect(out.data[299]).toBe(9);
  });

  it('rejects a bad magic', () => {
    const buf = idx([1], [5]);
    buf[0] = 0x42;
    expect(() => parseIdx(buf, 'x.idx')).toThrow(/x\.idx: bad IDX magic 42 00 08 01/);
  });

  it('rejects a dtype other than unsigned byte', () => {
    expect(() => parseIdx(idx([1], [0, 0, 0, 0], 0x0d))).toThrow(/unsupported IDX dtype 0x0d/);
  });

  it('rejects a truncated payload, naming expected and actual sizes', () => {
    const buf = idx([2, 3, 4], payload).subarray(0, 4 + 12 + 10);
    expect(() => parseIdx(buf, 'imgs')).toThrow(/imgs: truncated IDX payload: dims \[2, 3, 4\] need 24 bytes, file has 10/);
  });

  it('rejects a truncated gzipped payload the same way', () => {
    const gz = gzipSync(idx([2, 3, 4], payload.slice(0, 20)));
    expect(() => parseIdx(gz)).toThrow(/need 24 bytes, file has 20/);
  });

  it('rejects a truncated gzip stream', () => {
    const gz = gzipSync(idx([2, 3, 4], payload));
    expect(() => parseIdx(gz.subarray(0, gz.length - 12), 'cut.gz')).toThrow(/cut\.gz: gzip data is corrupt or truncated/);
  });

  it('rejects a truncated header and trailing bytes', () => {
    expect(() => parseIdx(Buffer.from([0, 0, 8]))).toThrow(/too short for an IDX header/);
    expect(() => parseIdx(idx([2, 3, 4], []).subarray(0, 10))).toThrow(/truncated IDX header/);
    expect(() => parseIdx(idx([2], [1, 2, 3]))).toThrow(/1 trailing bytes/);
  });

  it('refuses absurd dims before allocating', () => {
    expect(() => parseIdx(idx([0xffffffff, 0xffffffff], []))).toThrow(/over the .*-byte limit/);
  });
});

describe('loadFashionMnist on a synthetic directory', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fmnist-'));
    const pixels = Array.from({ length: 3 * 784 }, (_, i) => i % 256);
    await writeFile(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(idx([3, 28, 28], pixels)));
    await writeFile(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(idx([3], [0, 9, 4])));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('scales pixels to pixel/255 and returns labels', async () => {
    const data = await loadFashionMnist('test', dir);
    expect(data.count).toBe(3);
    expect(data.images.length).toBe(3 * 784);
    expect(data.images[255]).toBeCloseTo(1, 7);
    expect(data.images[1]).toBeCloseTo(1 / 255, 7);
    expect(Array.from(data.labels)).toEqual([0, 9, 4]);
    expect(FASHION_MNIST_CLASSES[data.labels[1]]).toBe('Ankle boot');
  });

  it('names the missing file and the Debian package', async () => {
    await expect(loadFashionMnist('train', dir)).rejects.toThrow(
      new RegExp(
        `missing: ${join(dir, 'train-images-idx3-ubyte.gz').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*apt-get install dataset-fashion-mnist.*FASHION_MNIST_DIR`,
      ),
    );
  });

  it('readIdxFile prefixes errors with the path', async () => {
    const bad = join(dir, 'bad.idx');
    await writeFile(bad, Buffer.from([1, 2, 3, 4, 5]));
    await expect(readIdxFile(bad)).rejects.toThrow(`${bad}: bad IDX magic`);
  });
});
