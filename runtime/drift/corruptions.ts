// Seeded image corruptions for the drift benchmark (28x28 grayscale, pixel/255 in [0, 1]), in the spirit
// of the "-C" robustness benchmarks: additive Gaussian noise, Gaussian blur, contrast loss, occlusion.
// Each takes a severity in [0, 1] (0 = untouched) and returns a new image; randomness comes from the
// caller's seeded generator, so a run is reproducible.

export const SIDE = 28;
export const PIXELS = SIDE * SIDE;

export type CorruptionName = 'noise' | 'blur' | 'contrast' | 'occlusion';
export const CORRUPTIONS: readonly CorruptionName[] = ['noise', 'blur', 'contrast', 'occlusion'];

/** Standard normal via Box-Muller. */
export function gaussian(rand: () => number): number {
  let u = 0;
  while (u === 0) u = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

const clamp01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);

export function gaussianNoise(img: Float32Array, severity: number, rand: () => number): Float32Array {
  const sigma = 0.45 * severity;
  const out = new Float32Array(img.length);
  for (let i = 0; i < img.length; i++) out[i] = clamp01(img[i] + sigma * gaussian(rand));
  return out;
}

export function gaussianBlur(img: Float32Array, severity: number): Float32Array {
  const sigma = 2.2 * severity;
  if (sigma < 0.05) return Float32Array.from(img);
  const radius = Math.ceil(3 * sigma);
  const kernel: number[] = [];
  let sum = 0;
  for (let k = -radius; k <= radius; k++) {
    const w = Math.exp(-(k * k) / (2 * sigma * sigma));
    kernel.push(w);
    sum += w;
  }
  for (let i = 0; i < kernel.length; i++) kernel[i] /= sum;
  // separable: rows, then columns; edges clamp
  const tmp = new Float32Array(PIXELS);
  const out = new Float32Array(PIXELS);
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      let v = 0;
      for (let k = -radius; k <= radius; k++) v += kernel[k + radius] * img[y * SIDE + Math.min(SIDE - 1, Math.max(0, x + k))];
      tmp[y * SIDE + x] = v;
    }
  }
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      let v = 0;
      for (let k = -radius; k <= radius; k++) v += kernel[k + radius] * tmp[Math.min(SIDE - 1, Math.max(0, y + k)) * SIDE + x];
      out[y * SIDE + x] = v;
    }
  }
  return out;
}

export function contrast(img: Float32Array, severity: number): Float32Array {
  const c = 1 - 0.85 * severity;
  let mean = 0;
  for (let i = 0; i < img.length; i++) mean += img[i];
  mean /= img.length;
  const out = new Float32Array(img.length);
  for (let i = 0; i < img.length; i++) out[i] = clamp01((img[i] - mean) * c + mean);
  return out;
}

export function occlusion(img: Float32Array, severity: number, rand: () => number): Float32Array {
  const out = Float32Array.from(img);
  const size = Math.round(16 * severity);
  if (size <= 0) return out;
  const x0 = Math.floor(rand() * (SIDE - size + 1));
  const y0 = Math.floor(rand() * (SIDE - size + 1));
  const fill = rand() < 0.5 ? 0 : 1; // black or white patch
  for (let y = y0; y < y0 + size; y++) for (let x = x0; x < x0 + size; x++) out[y * SIDE + x] = fill;
  return out;
}

export function corrupt(name: CorruptionName, img: Float32Array, severity: number, rand: () => number): Float32Array {
  if (!(severity >= 0 && severity <= 1)) throw new RangeError(`severity must be in [0, 1], got ${severity}`);
  switch (name) {
    case 'noise':
      return gaussianNoise(img, severity, rand);
    case 'blur':
      return gaussianBlur(img, severity);
    case 'contrast':
      return contrast(img, severity);
    case 'occlusion':
      return occlusion(img, severity, rand);
  }
}
