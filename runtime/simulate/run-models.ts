// Run a saver and a base ONNX model in-process (onnxruntime-node, same session code as the model
// server) over a labelled image set and collect per-row predictions, with a progress bar on stderr.

import { type ConfidenceMeasure, type RowConfidence, rowConfidence } from '../../core/cascade/confidence.js';
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

async function scoresOf(
  model: OnnxModel,
  data: Float32Array,
  rows: number,
  sampleShape: number[],
): Promise<{ scores: ArrayLike<number>; classes: number }> {
  const input = model.inputs[0];
  const output = model.outputs[0];
  const out = await model.run({ [input.name]: { datatype: 'FP32', shape: [rows, ...sampleShape], data } }, [output.name]);
  const t = out[output.name];
  if (t.shape.length !== 2 || t.shape[0] !== rows)
    throw new Error(`${model.path}: output '${output.name}' has shape [${t.shape}], expected [${rows}, classes]`);
  return { scores: t.data as ArrayLike<number>, classes: t.shape[1] };
}

/** One model's per-row confidence and top-1 over the images (or the first `limit`). */
export async function scoreModel(modelPath: string, set: LabelledImages, opts: RunModelsOptions = {}): Promise<RowConfidence> {
  const batch = opts.batchSize ?? 512;
  const n = Math.min(set.count, opts.limit ?? set.count);
  const per = set.sampleShape.reduce((a, b) => a * b, 1);
  if (set.images.length < set.count * per) throw new Error(`image data holds ${set.images.length} values, expected ${set.count} x ${per}`);
  const model = await loadOnnxModel(modelPath);
  try {
    const confidence = new Float64Array(n);
    const top1 = new Int32Array(n);
    for (let start = 0; start < n; start += batch) {
      const rows = Math.min(batch, n - start);
      const s = await scoresOf(model, set.images.subarray(start * per, (start + rows) * per), rows, set.sampleShape);
      const c = rowConfidence(s.scores, rows, s.classes, opts.measure ?? 'max-prob', opts.probabilities ?? false);
      confidence.set(c.confidence, start);
      top1.set(c.top1, start);
      opts.onProgress?.(start + rows, n);
    }
    return { confidence, top1 };
  } finally {
    await model.release();
  }
}

/** Predictions from already scored saver and base rows. */
export function combinePredictions(saver: RowConfidence, base: RowConfidence, labels: ArrayLike<number>): Predictions {
  const n = saver.top1.length;
  if (base.top1.length !== n) throw new Error(`saver scored ${n} rows but base ${base.top1.length}`);
  return {
    count: n,
    saverConfidence: saver.confidence,
    saverTop1: saver.top1,
    baseTop1: base.top1,
    labels: Int32Array.from({ length: n }, (_, i) => labels[i]),
  };
}

/** Saver and base predictions for every image (or the first `limit`). */
export async function predictWithModels(
  saverPath: string,
  basePath: string,
  set: LabelledImages,
  opts: RunModelsOptions = {},
): Promise<Predictions> {
  const n = Math.min(set.count, opts.limit ?? set.count);
  // progress counts both passes: saver rows then base rows
  const saver = await scoreModel(saverPath, set, { ...opts, onProgress: (d) => opts.onProgress?.(d, 2 * n) });
  const base = await scoreModel(basePath, set, { ...opts, onProgress: (d) => opts.onProgress?.(n + d, 2 * n) });
  return combinePredictions(saver, base, set.labels);
}
