// Fashion-MNIST reader for tests, demos and benchmarks. Data comes from Debian's
// dataset-fashion-mnist package (or any directory holding the four IDX .gz files).
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { readIdxFile } from './idx.js';

export const DEFAULT_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** Class names in label order (0..9). */
export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
]);

export type FashionMnistSplit = 'train' | 'test';

export interface FashionMnistData {
  /** count*784 values, row-major [N,1,28,28], pixel/255 (the models' input contract). */
  images: Float32Array;
  labels: Uint8Array;
  count: number;
  rows: 28;
  cols: 28;
}

const FILES: Record<FashionMnistSplit, { images: string; labels: string }> = {
  train: { images: 'train-images-idx3-ubyte.gz', labels: 'train-labels-idx1-ubyte.gz' },
  test: { images: 't10k-images-idx3-ubyte.gz', labels: 't10k-labels-idx1-ubyte.gz' },
};

/** The directory to read from: the argument, else $FASHION_MNIST_DIR, else the Debian path. */
export function fashionMnistDir(dir?: string): string {
  return dir ?? process.env.FASHION_MNIST_DIR ?? DEFAULT_FASHION_MNIST_DIR;
}

async function requireFile(path: string): Promise<void> {
  try {
    await access(path);
  } catch {
    throw new Error(
      `Fashion-MNIST file missing: ${path}. Install it with \`apt-get install dataset-fashion-mnist\` ` +
        `or set FASHION_MNIST_DIR to a directory holding the IDX .gz files.`,
    );
  }
}

export async function loadFashionMnist(split: FashionMnistSplit, dir?: string): Promise<FashionMnistData> {
  if (split !== 'train' && split !== 'test') {
    throw new Error(`Fashion-MNIST split must be 'train' or 'test', got ${JSON.stringify(split)}`);
  }
  const base = fashionMnistDir(dir);
  const imagesPath = join(base, FILES[split].images);
  const labelsPath = join(base, FILES[split].labels);
  await requireFile(imagesPath);
  await requireFile(labelsPath);
  const [images, labels] = await Promise.all([readIdxFile(imagesPath), readIdxFile(labelsPath)]);

  if (images.dims.length !== 3 || images.dims[1] !== 28 || images.dims[2] !== 28) {
    throw new Error(`${imagesPath}: expected image dims [N, 28, 28], got [${images.dims.join(', ')}]`);
  }
  if (labels.dims.length !== 1) {
    throw new Error(`${labelsPath}: expected label dims [N], got [${labels.dims.join(', ')}]`);
  }
  const count = images.dims[0];
  if (labels.dims[0] !== count) {
    throw new Error(`${imagesPath} has ${count} images but ${labelsPath} has ${labels.dims[0]} labels`);
  }
  for (let i = 0; i < count; i++) {
    if (labels.data[i] > 9) throw new Error(`${labelsPath}: label ${labels.data[i]} at index ${i} is outside 0..9`);
  }

  const pixels = new Float32Array(images.data.length);
  for (let i = 0; i < pixels.length; i++) pixels[i] = images.data[i] / 255;
  return { images: pixels, labels: Uint8Array.from(labels.data), count, rows: 28, cols: 28 };
}
