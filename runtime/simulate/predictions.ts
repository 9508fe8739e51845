// Per-row predictions of a saver and a base model: the input of every offline analysis. They come
// either from running both models over a labelled data set (run-models.ts) or from a JSONL file of
// logged predictions (this module). JSONL, one row per sample, either full scores:
//   {"saver": [scores...], "base": [scores...], "label": 3}
// (scores are softmax probabilities or logits; see parsePredictionsJsonl's `probabilities`), or compact:
//   {"saverConf": 0.93, "saverTop1": 3, "baseTop1": 3, "label": 3}
// "label" is optional but must be present on every row or on none. Blank lines are skipped.

import { type ConfidenceMeasure, rowConfidence } from '../../core/cascade/confidence.js';

export interface Predictions {
  count: number;
  /** saver confidence per row (NaN when its scores held a NaN: such rows always escalate) */
  saverConfidence: Float64Array;
  saverTop1: Int32Array;
  baseTop1: Int32Array;
  /** true labels, or null when the data has none */
  labels: Int32Array | null;
}

export const MAX_JSONL_LINE_CHARS = 1 << 20;
export const MAX_JSONL_ROWS = 10_000_000;

export interface JsonlOptions {
  measure?: ConfidenceMeasure;
  /** score arrays are probabilities: 'auto' (default) treats a row as probabilities when it is >= 0 and sums to 1 within 1e-3 */
  probabilities?: boolean | 'auto';
  /** name used in error messages */
  source?: string;
}

function looksLikeProbabilities(v: number[]): boolean {
  let sum = 0;
  for (const x of v) {
    if (x < 0 || x > 1) return false;
    sum += x;
  }
  return Math.abs(sum - 1) < 1e-3;
}

function scoresRow(where: string, name: string, v: unknown, classes: number | undefined): number[] {
  if (!Array.isArray(v) || v.length === 0) throw new Error(`${where}: "${name}" must be a non-empty array of numbers`);
  if (classes !== undefined && v.length !== classes)
    throw new Error(`${where}: "${name}" has ${v.length} scores, earlier rows had ${classes}`);
  for (let i = 0; i < v.length; i++) {
    if (typeof v[i] !== 'number' || !Number.isFinite(v[i])) throw new Error(`${where}: "${name}"[${i}] is not a finite number`);
  }
  return v as number[];
}

function intField(where: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
    throw new Error(`${where}: "${name}" must be an integer >= 0, got ${JSON.stringify(v)}`);
  return v;
}

/** Parse JSONL predictions. Throws an Error naming the line and field on bad input. */
export function parsePredictionsJsonl(text: string, opts: JsonlOptions = {}): Predictions {
  const source = opts.source ?? 'predictions';
  const measure = opts.measure ?? 'max-prob';
  const conf: number[] = [];
  const st: number[] = [];
  const bt: number[] = [];
  const labels: number[] = [];
  let labelled: boolean | undefined;
  let classes: number | undefined;
  let lineNo = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    lineNo++;
    const line = text.slice(start, end).trim();
    start = end + 1;
    if (line === '') {
      if (end >= text.length) break;
      continue;
    }
    const where = `${source} line ${lineNo}`;
    if (line.length > MAX_JSONL_LINE_CHARS) throw new Error(`${where}: longer than ${MAX_JSONL_LINE_CHARS} characters`);
    if (conf.length >= MAX_JSONL_ROWS) throw new Error(`${source}: more than ${MAX_JSONL_ROWS} rows`);
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new Error(`${where}: not valid JSON (${(e as Error).message})`);
    }
    if (row === null || typeof row !== 'object' || Array.isArray(row)) throw new Error(`${where}: expected a JSON object`);
    if ('saver' in row) {
      const s = scoresRow(where, 'saver', row.saver, classes);
      classes = s.length;
      const probs = opts.probabilities === 'auto' || opts.probabilities === undefined ? looksLikeProbabilities(s) : opts.probabilities;
      const r = rowConfidence(s, 1, s.length, measure, probs);
      conf.push(r.confidence[0]);
      st.push(r.top1[0]);
    } else if ('saverConf' in row) {
      // null = the saver's scores were NaN (the row escalates), as predictionsToJsonl writes it
      const c = row.saverConf === null ? NaN : row.saverConf;
      if (typeof c !== 'number' || !(Number.isNaN(c) || (c >= 0 && c <= 1)))
        throw new Error(`${where}: "saverConf" must be a number in [0, 1], got ${JSON.stringify(c)}`);
      conf.push(c);
      st.push(intField(where, 'saverTop1', row.saverTop1));
    } else {
      throw new Error(`${where}: needs "saver" (scores) or "saverConf" + "saverTop1"`);
    }
    if ('base' in row) {
      const b = scoresRow(where, 'base', row.base, undefined);
      let best = 0;
      for (let i = 1; i < b.length; i++) if (b[i] > b[best]) best = i;
      bt.push(best);
    } else if ('baseTop1' in row) {
      bt.push(intField(where, 'baseTop1', row.baseTop1));
    } else {
      throw new Error(`${where}: needs "base" (scores) or "baseTop1"`);
    }
    const has = 'label' in row && row.label !== null;
    if (labelled === undefined) labelled = has;
    else if (labelled !== has) throw new Error(`${where}: "label" must be on every row or on none`);
    if (has) labels.push(intField(where, 'label', row.label));
  }
  if (conf.length === 0) throw new Error(`${source}: no rows`);
  return {
    count: conf.length,
    saverConfidence: Float64Array.from(conf),
    saverTop1: Int32Array.from(st),
    baseTop1: Int32Array.from(bt),
    labels: labelled ? Int32Array.from(labels) : null,
  };
}

/** The same predictions as compact JSONL (e.g. to save a model run for later). */
export function predictionsToJsonl(p: Predictions): string {
  const lines: string[] = [];
  for (let i = 0; i < p.count; i++) {
    const row: Record<string, number> = { saverConf: p.saverConfidence[i], saverTop1: p.saverTop1[i], baseTop1: p.baseTop1[i] };
    if (p.labels) row.label = p.labels[i];
    lines.push(JSON.stringify(row));
  }
  return lines.join('\n') + '\n';
}
