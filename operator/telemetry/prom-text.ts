// A small, strict parser for the Prometheus text exposition format (version 0.0.4), enough for the
// router's /metrics: comments (# HELP, # TYPE), counters, gauges, histograms with `le` buckets,
// summaries and untyped samples, label escaping (\\, \", \n), optional timestamps, NaN and ±Inf.
// Scraped bytes are hostile: every malformed line is a PromParseError naming the line, never a crash,
// and the caller's size limits are enforced before any work is done.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
const METRIC_TYPES: readonly MetricType[] = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];

export interface Sample {
  /** full sample name, e.g. `tinysaver_confidence_bucket` */
  name: string;
  labels: Record<string, string>;
  value: number;
  timestampMs?: number;
}

export interface MetricFamily {
  name: string;
  type: MetricType;
  help?: string;
  samples: Sample[];
}

export class PromParseError extends Error {
  constructor(
    message: string,
    readonly line?: number,
  ) {
    super(line === undefined ? message : `line ${line}: ${message}`);
    this.name = 'PromParseError';
  }
}

export interface ParseLimits {
  /** reject inputs longer than this many characters (default 4 MiB) */
  maxChars?: number;
  /** reject inputs with more samples than this (default 100 000) */
  maxSamples?: number;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Parse a sample value: Go-style floats plus NaN, +Inf, -Inf (case as Prometheus writes them). */
export function parseValue(text: string): number {
  switch (text) {
    case 'NaN':
      return NaN;
    case '+Inf':
    case 'Inf':
      return Infinity;
    case '-Inf':
      return -Infinity;
  }
  // Number('') is 0 and Number('0x10') is 16: reject anything that is not a plain decimal float.
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) {
    throw new PromParseError(`bad sample value "${truncate(text)}"`);
  }
  return Number(text);
}

function truncate(s: string, n = 40): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

/** Family a sample belongs to: histogram/summary samples carry a suffix on the family name. */
function familyOf(sampleName: string, families: Map<string, MetricFamily>): MetricFamily | undefined {
  const direct = families.get(sampleName);
  if (direct) return direct;
  for (const suffix of ['_bucket', '_sum', '_count', '_created']) {
    if (sampleName.endsWith(suffix)) {
      const f = families.get(sampleName.slice(0, -suffix.length));
      if (f && (f.type === 'histogram' || f.type === 'summary')) return f;
    }
  }
  return undefined;
}

/** Parse `{a="x",b="y"}` starting at `pos` (at the `{`); returns labels and the index after `}`. */
function parseLabels(line: string, pos: number, lineNo: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = Object.create(null);
  let i = pos + 1;
  const skipSpace = () => {
    while (line[i] === ' ' || line[i] === '\t') i++;
  };
  skipSpace();
  if (line[i] === '}') return { labels, end: i + 1 };
  for (;;) {
    skipSpace();
    const start = i;
    while (i < line.length && /[a-zA-Z0-9_]/.test(line[i])) i++;
    const name = line.slice(start, i);
    if (!LABEL_NAME.test(name)) throw new PromParseError(`bad label name "${truncate(name)}"`, lineNo);
    skipSpace();
    if (line[i] !== '=') throw new PromParseError(`expected "=" after label ${name}`, lineNo);
    i++;
    skipSpace();
    if (line[i] !== '"') throw new PromParseError(`expected quoted value for label ${name}`, lineNo);
    i++;
    let value = '';
    for (;;) {
      if (i >= line.length) throw new PromParseError(`unterminated value for label ${name}`, lineNo);
      const c = line[i];
      if (c === '\\') {
        const n = line[i + 1];
        if (n === '\\') value += '\\';
        else if (n === '"') value += '"';
        else if (n === 'n') value += '\n';
        else throw new PromParseError(`bad escape "\\${n ?? ''}" in label ${name}`, lineNo);
        i += 2;
      } else if (c === '"') {
        i++;
        break;
      } else {
        value += c;
        i++;
      }
    }
    if (Object.prototype.hasOwnProperty.call(labels, name)) {
      throw new PromParseError(`duplicate label ${name}`, lineNo);
    }
    labels[name] = value;
    skipSpace();
    if (line[i] === ',') {
      i++;
      skipSpace();
      if (line[i] === '}') return { labels, end: i + 1 }; // trailing comma is allowed
      continue;
    }
    if (line[i] === '}') return { labels, end: i + 1 };
    throw new PromParseError(`expected "," or "}" after label ${name}`, lineNo);
  }
}

/**
 * Parse a whole exposition. Samples without a preceding # TYPE become `untyped` families of their own
 * name. Throws PromParseError on the first malformed line.
 */
export function parsePromText(text: string, limits: ParseLimits = {}): Map<string, MetricFamily> {
  const maxChars = limits.maxChars ?? 4 * 1024 * 1024;
  const maxSamples = limits.maxSamples ?? 100_000;
  if (typeof text !== 'string') throw new PromParseError('input is not text');
  if (text.length > maxChars) throw new PromParseError(`input of ${text.length} chars exceeds the limit of ${maxChars}`);
  const families = new Map<string, MetricFamily>();
  let samples = 0;
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const lineNo = n + 1;
    const line = lines[n].replace(/\r$/, '');
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/.exec(line);
      if (!m) continue; // any other comment is ignored, as Prometheus does
      const [, kind, name, rest = ''] = m;
      if (!METRIC_NAME.test(name)) throw new PromParseError(`bad metric name "${truncate(name)}"`, lineNo);
      let fam = families.get(name);
      if (kind === 'TYPE') {
        const type = rest.trim() as MetricType;
        if (!METRIC_TYPES.includes(type)) throw new PromParseError(`unknown metric type "${truncate(rest)}"`, lineNo);
        if (fam && fam.samples.length > 0) throw new PromParseError(`# TYPE for ${name} after its samples`, lineNo);
        if (fam && fam.type !== 'untyped') throw new PromParseError(`second # TYPE for ${name}`, lineNo);
        if (fam) fam.type = type;
        else families.set(name, { name, type, samples: [] });
      } else {
        if (!fam) families.set(name, (fam = { name, type: 'untyped', samples: [] }));
        fam.help = rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      }
      continue;
    }
    // sample line: name[{labels}] value [timestamp]
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nameMatch) throw new PromParseError(`bad sample line "${truncate(line)}"`, lineNo);
    const name = nameMatch[0];
    let pos = name.length;
    let labels: Record<string, string> = Object.create(null);
    if (line[pos] === '{') {
      const parsed = parseLabels(line, pos, lineNo);
      labels = parsed.labels;
      pos = parsed.end;
    }
    const rest = line
      .slice(pos)
      .trim()
      .split(/[ \t]+/);
    if (rest.length < 1 || rest.length > 2 || rest[0] === '') {
      throw new PromParseError(`expected "value [timestamp]" after ${name}`, lineNo);
    }
    let value: number;
    try {
      value = parseValue(rest[0]);
    } catch (e) {
      throw new PromParseError((e as Error).message, lineNo);
    }
    let timestampMs: number | undefined;
    if (rest.length === 2) {
      if (!/^-?\d+$/.test(rest[1])) throw new PromParseError(`bad timestamp "${truncate(rest[1])}"`, lineNo);
      timestampMs = Number(rest[1]);
    }
    if (++samples > maxSamples) throw new PromParseError(`more than ${maxSamples} samples`, lineNo);
    let fam = familyOf(name, families);
    if (!fam) families.set(name, (fam = { name, type: 'untyped', samples: [] }));
    fam.samples.push(timestampMs === undefined ? { name, labels, value } : { name, labels, value, timestampMs });
  }
  return families;
}

/** Labels equal to `match` on every key of `match` (other labels are ignored). */
export function labelsMatch(labels: Record<string, string>, match: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(match)) if (labels[k] !== v) return false;
  return true;
}

export interface HistogramSeries {
  /** upper edges in ascending order, +Inf last */
  le: number[];
  /** cumulative counts per edge, as exposed */
  cumulative: number[];
  sum: number;
  count: number;
}

/**
 * The histogram series of `family` whose labels match `match` (the `le` label excluded). Validates
 * what the certification relies on: finite non-negative counts, non-decreasing cumulative counts, a
 * +Inf bucket, and `_count` equal to the +Inf bucket. Returns undefined when no series matches.
 */
export function histogramSeries(family: MetricFamily, match: Record<string, string> = {}): HistogramSeries | undefined {
  if (family.type !== 'histogram') throw new PromParseError(`${family.name} is a ${family.type}, not a histogram`);
  const buckets: { le: number; count: number }[] = [];
  let sum: number | undefined;
  let count: number | undefined;
  for (const s of family.samples) {
    if (!labelsMatch(s.labels, match)) continue;
    // Only exact series: labels other than `le` must be exactly `match`.
    const keys = Object.keys(s.labels).filter((k) => k !== 'le');
    if (keys.length !== Object.keys(match).length) continue;
    if (s.name === `${family.name}_bucket`) {
      if (s.labels.le === undefined) throw new PromParseError(`${s.name} without an le label`);
      const le = parseValue(s.labels.le);
      if (Number.isNaN(le)) throw new PromParseError(`${s.name}: le is NaN`);
      buckets.push({ le, count: s.value });
    } else if (s.name === `${family.name}_sum`) sum = s.value;
    else if (s.name === `${family.name}_count`) count = s.value;
  }
  if (buckets.length === 0 && count === undefined) return undefined;
  buckets.sort((a, b) => a.le - b.le);
  for (let i = 0; i < buckets.length; i++) {
    const b = buckets[i];
    if (!Number.isFinite(b.count) || b.count < 0) throw new PromParseError(`${family.name}: bucket le=${b.le} has count ${b.count}`);
    if (i > 0 && b.le === buckets[i - 1].le) throw new PromParseError(`${family.name}: duplicate bucket le=${b.le}`);
    if (i > 0 && b.count < buckets[i - 1].count) throw new PromParseError(`${family.name}: bucket counts are not cumulative at le=${b.le}`);
  }
  const last = buckets[buckets.length - 1];
  if (!last || last.le !== Infinity) throw new PromParseError(`${family.name}: no le="+Inf" bucket`);
  if (count === undefined) count = last.count;
  if (count !== last.count) throw new PromParseError(`${family.name}: _count ${count} != +Inf bucket ${last.count}`);
  return { le: buckets.map((b) => b.le), cumulative: buckets.map((b) => b.count), sum: sum ?? NaN, count };
}
