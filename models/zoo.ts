// The bundled example models (models/zoo/*.onnx) and their manifest.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type ZooRole = 'base' | 'saver';

export interface ZooModel {
  name: string;
  file: string;
  role: ZooRole;
  params: number;
  /** Analytic multiply-accumulates per sample (conv and linear layers only). */
  macs: number;
  /** Top-1 on the 10k Fashion-MNIST test set, from the PyTorch evaluation at training time. */
  testAccuracy: number;
  trainSeconds?: number;
  input: { name: string; shape: (string | number)[]; datatype: string };
  output: { name: string; shape: (string | number)[]; datatype?: string };
  classes: string[];
}

export interface ZooManifest {
  dataset: string;
  preprocessing: string;
  macsNote: string;
  opset: number;
  seed: number;
  torch: string;
  models: ZooModel[];
}

/** Walks up from this module until package.json, so it works from sources and from dist/. */
function findPackageRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${start}: cannot locate models/zoo`);
    dir = parent;
  }
}

export const PACKAGE_ROOT = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
export const ZOO_DIR = join(PACKAGE_ROOT, 'models', 'zoo');

let cached: ZooManifest | undefined;

export function loadZooManifest(): ZooManifest {
  if (cached) return cached;
  const path = join(ZOO_DIR, 'manifest.json');
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read zoo manifest ${path}: ${(err as Error).message}`);
  }
  const models = (parsed as { models?: unknown }).models;
  if (!Array.isArray(models) || models.length === 0) {
    throw new Error(`zoo manifest ${path}: "models" must be a non-empty array`);
  }
  cached = parsed as ZooManifest;
  return cached;
}

export function zooModel(name: string): ZooModel {
  const manifest = loadZooManifest();
  const model = manifest.models.find((m) => m.name === name);
  if (!model) {
    throw new Error(`unknown zoo model ${JSON.stringify(name)}; known: ${manifest.models.map((m) => m.name).join(', ')}`);
  }
  return model;
}

/** Absolute path of a bundled model's ONNX file. */
export function zooModelPath(name: string): string {
  return join(ZOO_DIR, zooModel(name).file);
}
