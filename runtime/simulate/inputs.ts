// I/O edges of the offline tools: default models from the bundled zoo, the Fashion-MNIST test set,
// cost ratios from the profiler, predictions from models (with a progress bar) or from a JSONL file.

import { readFile } from 'node:fs/promises';
import { loadFashionMnist } from '../../models/dataset/fashion-mnist.js';
import { zooModelPath } from '../../models/zoo.js';
import type { ConfidenceMeasure } from '../../core/cascade/confidence.js';
import { profileOnnxBytes } from '../profile/profile.js';
import { progressReporter } from '../../core/text/progress.js';
import { type Predictions, parsePredictionsJsonl } from './predictions.js';
import { type LabelledImages, combinePredictions, predictWithModels, scoreModel } from './run-models.js';
import type { RowConfidence } from '../../core/cascade/confidence.js';

export const DEFAULT_SAVER = 'saver-tinycnn';
export const DEFAULT_BASE = 'base-cnn';
const MAX_PREDICTIONS_BYTES = 2 * 1024 ** 3 - 1;

/** A model argument: an ONNX path, or the name of a bundled zoo model. */
export function resolveModel(arg: string): string {
  if (arg.endsWith('.onnx') || arg.includes('/')) return arg;
  return zooModelPath(arg);
}

/** MACs of a model from its graph; throws if the profile is incomplete (the ratio would be wrong). */
export async function modelMacs(path: string): Promise<number> {
  const p = profileOnnxBytes(await readFile(path));
  if (!p.complete)
    throw new Error(
      `${path}: cannot count MACs exactly (unknown ops: ${p.unknownOps.map((u) => u.opType).join(', ') || 'none'}; unresolved: ${p.unresolved.length}); pass --cost-ratio`,
    );
  if (p.macs <= 0) throw new Error(`${path}: the graph has no Conv/Gemm/MatMul MACs; pass --cost-ratio`);
  return p.macs;
}

export interface ModelRunOptions {
  datasetDir?: string;
  limit?: number;
  batchSize?: number;
  measure?: ConfidenceMeasure;
  probabilities?: boolean;
  /** progress label on stderr (none when undefined) */
  progressLabel?: string;
}

let testSet: Awaited<ReturnType<typeof loadFashionMnist>> | undefined;

async function fashionTestSet(dir?: string): Promise<LabelledImages> {
  testSet ??= await loadFashionMnist('test', dir);
  return { images: testSet.images, labels: testSet.labels, count: testSet.count, sampleShape: [1, 28, 28] };
}

/** One model's confidence/top-1 over the Fashion-MNIST test set, with progress on stderr. */
export async function scoreOnTestSet(
  modelPath: string,
  o: ModelRunOptions = {},
): Promise<{ rows: RowConfidence; labels: ArrayLike<number> }> {
  const set = await fashionTestSet(o.datasetDir);
  const bar = o.progressLabel ? progressReporter(o.progressLabel) : undefined;
  try {
    const rows = await scoreModel(modelPath, set, {
      batchSize: o.batchSize,
      limit: o.limit,
      measure: o.measure,
      probabilities: o.probabilities,
      onProgress: bar?.update,
    });
    return { rows, labels: set.labels };
  } finally {
    bar?.end();
  }
}

export { combinePredictions };

/** Run both models over the Fashion-MNIST test set (loaded once per process). */
export async function predictionsFromModels(saverPath: string, basePath: string, o: ModelRunOptions = {}): Promise<Predictions> {
  const set = await fashionTestSet(o.datasetDir);
  const bar = o.progressLabel ? progressReporter(o.progressLabel) : undefined;
  try {
    return await predictWithModels(saverPath, basePath, set, {
      batchSize: o.batchSize,
      limit: o.limit,
      measure: o.measure,
      probabilities: o.probabilities,
      onProgress: bar?.update,
    });
  } finally {
    bar?.end();
  }
}

export async function predictionsFromFile(path: string, measure: ConfidenceMeasure, probabilities: boolean | 'auto'): Promise<Predictions> {
  const buf = await readFile(path);
  if (buf.length > MAX_PREDICTIONS_BYTES) throw new Error(`${path}: larger than 2 GiB`);
  return parsePredictionsJsonl(buf.toString('utf8'), { measure, probabilities, source: path });
}
