// Run a saver and a base ONNX model in-process (onnxruntime-node, same session code as the model
// server) over a labelled image set and collect per-row predictions, with a progress bar on stderr.

import { type ConfidenceMeasure, rowConfidence } from '../cascade/confidence.js';
import { type OnnxModel, loadOnnxModel } from '../onnx/session.js';
import type { Predictions } from './predictions.js';

export interface LabelledImages {
  /** count * prod(sampleShape) float32 values, row-major */
  images: Float32Array;
  labels: ArrayLike<number>;
  count: number;
  /** shape of one sample, e.g. [1, 28, 28] */
  sampleShape: number[];
}

export interface RunModelsOptions {
  batchSize?: number;
  measure?: ConfidenceMeasure;
  /** model outputs are probabilities already (default: logits, softmax applied) */
  probabilities?: boolean;
  /** rows to run (default: all) — tests use a prefix to stay fast */
  limit?: number;
  onProgress?: (done: number, total: number) => void;
}

async function scoresOf(model: OnnxModel, data: Float32Array, rows: number, sampleShape: number[]): Promise<{ scores: ArrayLike<number>; classes: number }> {
  const input = model.inputs[0];
  const output = model.outputs[0];
  const out = await model.run({ [input.name]: { datatype: 'FP32', shape: [rows, ...sampleShape], data } }, [output.name]);
  const t = out[output.name];
  if (t.shape.length !== 2 || t.shape[0] !== rows) throw new Error(`${model.path}: output '${output.name}' has shape [${t.shape}], expected [${rows}, classes]`);
  return { scores: t.data as ArrayLike<number>, classes: t.shape[1] };
}

/** Saver and base predictions for every image (or the first `limit`). */
export async function predictWithModels(saverPath: string, basePath: string, set: LabelledImages, opts: RunModelsOptions = {}): Promise<Predictions> {
  const batch = opts.batchSize ?? 512;
  const n = Math.min(set.count, opts.limit ?? set.count);
  const per = set.sampleShape.reduce((a, b) => a * b, 1);
  if (set.images.length < set.count * per) throw new Error(`image data holds ${set.images.length} values, expected ${set.count} x ${per}`);
  const [saver, base] = await Promise.all([loadOnnxModel(saverPath), loadOnnxModel(basePath)]);
  try {
    const saverConfidence = new Float64Array(n);
    const saverTop1 = new Int32Array(n);
    const baseTop1 = new Int32Array(n);
    const labels = new Int32Array(n);
    for (let start = 0; start < n; start += batch) {
      const rows = Math.min(batch, n - start);
      const data = set.images.subarray(start * per, (start + rows) * per);
      const [s, b] = await Promise.all([scoresOf(saver, data, rows, set.sampleShape), scoresOf(base, data, rows, set.sampleShape)]);
      const sc = rowConfidence(s.scores, rows, s.classes, opts.measure ?? 'max-prob', opts.probabilities ?? false);
      const bc = rowConfidence(b.scores, rows, b.classes, 'max-prob', opts.probabilities ?? false);
      saverConfidence.set(sc.confidence, start);
      saverTop1.set(sc.top1, start);
      baseTop1.set(bc.top1, start);
      for (let i = 0; i < rows; i++) labels[start + i] = set.labels[start + i];
      opts.onProgress?.(start + rows, n);
    }
    return { count: n, saverConfidence, saverTop1, baseTop1, labels };
  } finally {
    await Promise.all([saver.release(), base.release()]);
  }
}
