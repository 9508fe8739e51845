// The committed example models, run by real onnxruntime-node sessions over the real 10k
// Fashion-MNIST test set (Debian's dataset-fashion-mnist, installed by .ci/run).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { FASHION_MNIST_CLASSES, loadFashionMnist, type FashionMnistData } from '../../models/dataset/fashion-mnist.js';
import { loadZooManifest, ZOO_DIR, zooModelPath, type ZooModel } from '../../models/zoo.js';

const PIXELS = 784;
const BATCH = 1000;

const manifest = loadZooManifest();
const base = manifest.models.find((m) => m.role === 'base');
const savers = manifest.models.filter((m) => m.role === 'saver');

let test: FashionMnistData;
beforeAll(async () => {
  test = await loadFashionMnist('test');
});

async function accuracy(session: ort.InferenceSession): Promise<{ acc: number; sample: Float32Array }> {
  let correct = 0;
  let sample = new Float32Array(0);
  for (let start = 0; start < test.count; start += BATCH) {
    const n = Math.min(BATCH, test.count - start);
    const input = new ort.Tensor('float32', test.images.subarray(start * PIXELS, (start + n) * PIXELS), [n, 1, 28, 28]);
    const out = await session.run({ input });
    const logits = out.logits;
    expect(logits.type).toBe('float32');
    expect(logits.dims).toEqual([n, 10]);
    const data = logits.data as Float32Array;
    if (start === 0) sample = data.slice(0, 10 * 4);
    for (let r = 0; r < n; r++) {
      let best = 0;
      for (let c = 1; c < 10; c++) if (data[r * 10 + c] > data[r * 10 + best]) best = c;
      if (best === test.labels[start + r]) correct++;
    }
  }
  return { acc: correct / test.count, sample };
}

describe('model zoo manifest', () => {
  it('has one base and at least three savers, each saver <= 1/10 of the base MACs', () => {
    expect(base).toBeDefined();
    expect(savers.length).toBeGreaterThanOrEqual(3);
    for (const s of savers) expect(s.macs * 10).toBeLessThanOrEqual(base!.macs);
    expect(base!.testAccuracy).toBeGreaterThanOrEqual(0.91);
  });

  it('documents the I/O contract and class names for every model', () => {
    for (const m of manifest.models) {
      expect(m.input).toEqual({ name: 'input', shape: ['N', 1, 28, 28], datatype: 'FP32' });
      expect(m.output).toMatchObject({ name: 'logits', shape: ['N', 10] });
      expect(m.classes).toEqual([...FASHION_MNIST_CLASSES]);
      expect(m.params).toBeGreaterThan(0);
    }
  });

  it('ships only self-contained ONNX files (no external data), a few MB in all', () => {
    const files = readdirSync(ZOO_DIR).sort();
    expect(files).toEqual([...manifest.models.map((m) => m.file), 'manifest.json'].sort());
    const total = files.reduce((sum, f) => sum + statSync(join(ZOO_DIR, f)).size, 0);
    expect(total).toBeLessThan(10 * 1024 * 1024);
  });

  it('rejects unknown model names clearly', () => {
    expect(() => zooModelPath('no-such-model')).toThrow(/unknown zoo model "no-such-model"; known: .*saver-linear/);
  });
});

describe.each(manifest.models.map((m) => [m.name, m] as [string, ZooModel]))('%s (onnxruntime-node)', (name, model) => {
  let session: ort.InferenceSession;
  beforeAll(async () => {
    session = await ort.InferenceSession.create(zooModelPath(name));
  });

  it('exposes input "input" FP32 [N,1,28,28] and output "logits" FP32 [N,10]', () => {
    expect(session.inputNames).toEqual(['input']);
    expect(session.outputNames).toEqual(['logits']);
    const inMeta = session.inputMetadata[0];
    const outMeta = session.outputMetadata[0];
    expect(inMeta.isTensor && inMeta.type).toBe('float32');
    expect(inMeta.isTensor && inMeta.shape).toEqual(['N', 1, 28, 28]);
    expect(outMeta.isTensor && outMeta.type).toBe('float32');
    expect(outMeta.isTensor && outMeta.shape).toEqual(['N', 10]);
  });

  it('reproduces the manifest test accuracy within 0.2 percentage points', async () => {
    const { acc, sample } = await accuracy(session);
    expect(Math.abs(acc - model.testAccuracy)).toBeLessThanOrEqual(0.002);
    // Raw logits, not probabilities: some values fall outside [0, 1].
    expect(Array.from(sample).some((v) => v < 0 || v > 1)).toBe(true);
  });

  it('gives the same logits for a row alone as inside a batch (dynamic batch axis)', async () => {
    const batch = await session.run({ input: new ort.Tensor('float32', test.images.subarray(0, 8 * PIXELS), [8, 1, 28, 28]) });
    const single = await session.run({
      input: new ort.Tensor('float32', test.images.subarray(5 * PIXELS, 6 * PIXELS), [1, 1, 28, 28]),
    });
    const b = batch.logits.data as Float32Array;
    const s = single.logits.data as Float32Array;
    for (let c = 0; c < 10; c++) expect(s[c]).toBeCloseTo(b[5 * 10 + c], 4);
  });
});
