// Out-of-domain inputs for the drift suite (bench/drift-suite.ts): images that are not garments in the
// Fashion-MNIST sense, made offline from the data set itself or from nothing, on which the saver is often
// confidently wrong. They have no correct class, so the suite scores them against the base's answer.
// Measured on the bundled models (2000 images each, seed 1): saver/base disagreement 46% (shapes),
// 45% (invert), 54% (shift); at saver confidence >= 0.98 still 24%, 18% and 21% disagree.
// (Rotations, flips, stripes and blends were weaker: 2-6% disagreement at confidence >= 0.98.)
//   shapes - 1 to 3 filled rectangles of random size and brightness on black (synthetic);
//   invert - photometric negative of a test image (white background);
//   shift  - a test image translated 8 pixels to the right (the garment leaves the frame).

import { PIXELS, SIDE } from '../../runtime/drift/corruptions.js';

export type OodKind = 'shapes' | 'invert' | 'shift';
export const OOD_KINDS: readonly OodKind[] = ['shapes', 'invert', 'shift'];

export function shapes(rand: () => number): Float32Array {
  const out = new Float32Array(PIXELS);
  const k = 1 + Math.floor(rand() * 3);
  for (let s = 0; s < k; s++) {
    const x0 = Math.floor(rand() * 20);
    const y0 = Math.floor(rand() * 20);
    const w = 4 + Math.floor(rand() * 14);
    const h = 4 + Math.floor(rand() * 14);
    const v = 0.3 + 0.7 * rand();
    for (let y = y0; y < Math.min(SIDE, y0 + h); y++) for (let x = x0; x < Math.min(SIDE, x0 + w); x++) out[y * SIDE + x] = v;
  }
  return out;
}

export function invert(img: Float32Array): Float32Array {
  const out = new Float32Array(PIXELS);
  for (let i = 0; i < PIXELS; i++) out[i] = 1 - img[i];
  return out;
}

export function shift(img: Float32Array, dx = 8): Float32Array {
  const out = new Float32Array(PIXELS);
  for (let y = 0; y < SIDE; y++) for (let x = 0; x + dx < SIDE; x++) out[y * SIDE + x + dx] = img[y * SIDE + x];
  return out;
}

export function outOfDomain(kind: OodKind, img: Float32Array, rand: () => number): Float32Array {
  switch (kind) {
    case 'shapes':
      return shapes(rand);
    case 'invert':
      return invert(img);
    case 'shift':
      return shift(img);
  }
}
