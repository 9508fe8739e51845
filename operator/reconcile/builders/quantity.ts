// Kubernetes resource quantities ("500m", "1.5", "256Mi", "1e3", 2): exact sums and comparisons, for
// folding the saver container's resources into the router container (spec.saver.mode InRouter).
// Values are held as BigInt counts of nano-units (10^-9), Kubernetes' finest scale; finer fractions are
// rounded up, as Kubernetes does.

const BINARY: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE]([+-]?\d+))?$/;

export interface Parsed {
  nano: bigint;
  binary: boolean;
}

/** null for anything that is not a quantity this module can add exactly (e.g. a fractional exponent). */
export function parseQuantity(q: string | number): Parsed | null {
  const m = QUANTITY.exec(String(q).trim());
  if (!m) return null;
  const [, sign, number, suffix = '', exponent] = m;
  const [whole, fraction = ''] = number!.split('.');
  const digits = BigInt(`${whole || '0'}${fraction}`);
  const bits = BINARY[suffix] ?? 0;
  const exp10 = 9 + (exponent !== undefined ? Number(exponent) : (DECIMAL[suffix] ?? 0)) - fraction.length;
  if (!Number.isSafeInteger(exp10) || Math.abs(exp10) > 100) return null;
  let nano = digits << BigInt(bits);
  if (exp10 >= 0) nano *= 10n ** BigInt(exp10);
  else {
    const div = 10n ** BigInt(-exp10);
    nano = (nano + div - 1n) / div;
  }
  return { nano: sign === '-' ? -nano : nano, binary: bits > 0 };
}

/** Shortest exact form: the largest binary suffix when an input used one, else the largest decimal one. */
export function formatQuantity(nano: bigint, binary: boolean): string {
  const sign = nano < 0n ? '-' : '';
  const abs = nano < 0n ? -nano : nano;
  if (abs === 0n) return '0';
  const GIGA = 10n ** 9n;
  if (binary && abs % GIGA === 0n) {
    const units = abs / GIGA;
    for (const [s, bits] of Object.entries(BINARY).reverse()) {
      const step = 1n << BigInt(bits);
      if (units % step === 0n) return `${sign}${units / step}${s}`;
    }
  }
  for (const [s, e] of Object.entries(DECIMAL).sort(([, a], [, b]) => b - a)) {
    const step = 10n ** BigInt(9 + e);
    if (abs % step === 0n) return `${sign}${abs / step}${s}`;
  }
  return `${sign}${abs}n`; // unreachable: every nano count is divisible by 1n
}

/** a + b; null when either is not a quantity parseQuantity understands. */
export function addQuantities(a: string | number, b: string | number): string | null {
  const x = parseQuantity(a);
  const y = parseQuantity(b);
  if (!x || !y) return null;
  return formatQuantity(x.nano + y.nano, x.binary || y.binary);
}

/** The larger of a and b (a when they cannot be compared). */
export function maxQuantity(a: string | number, b: string | number): string | number {
  const x = parseQuantity(a);
  const y = parseQuantity(b);
  return x && y && y.nano > x.nano ? b : a;
}
