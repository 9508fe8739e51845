// What `tinysaver roi` reads, parsed and checked (pure: text in, values out): the operating point from
// `simulate --json` or `select --json` output, a capacity from `profile --measure --out` or a number, a
// daily traffic profile. Errors name the file and the field.

import { CAPACITY_KIND, type CapacityProfile } from '../profile/measure.js';
import { type VersionWhatIf, asSimulationReport } from '../simulate/decisions.js';
import type { ReplicaShape } from './prices.js';

export interface OperatingPointInfo {
  /** where it came from, in words */
  source: string;
  threshold: number | null;
  saverShare: number;
  /** audit rate in the input (simulate's --audit-rate), if any */
  auditRate: number | null;
  /** certified upper bound on P(saver answers and differs from the base) at the point, and its ε, confidence */
  lossBound: number | null;
  epsilon: number | null;
  confidence: number | null;
  /** measured on the evaluation split: accuracy lost vs the base (labels) and share of rows that differ */
  accuracyLoss: number | null;
  disagreement: number | null;
  /** finite-threshold sweep points (simulate output only): the plot's curve */
  sweep: Array<{ threshold: number; saverShare: number }>;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

interface PointJson {
  threshold?: unknown;
  evaluation?: { saverShare?: unknown; accuracyLoss?: unknown; disagreement?: unknown };
  certification?: { bound?: unknown; epsilon?: unknown; delta?: unknown };
}

function fromPoint(p: PointJson, where: string): Omit<OperatingPointInfo, 'source' | 'auditRate' | 'sweep'> {
  const r = num(p.evaluation?.saverShare);
  if (r === null || r < 0 || r > 1)
    throw new Error(`${where}.evaluation.saverShare: expected a number in [0, 1], got ${JSON.stringify(p.evaluation?.saverShare)}`);
  const delta = num(p.certification?.delta);
  return {
    threshold: p.threshold === 'Infinity' ? Infinity : num(p.threshold),
    saverShare: r,
    lossBound: num(p.certification?.bound),
    epsilon: num(p.certification?.epsilon),
    confidence: delta === null ? null : 1 - delta,
    accuracyLoss: num(p.evaluation?.accuracyLoss),
    disagreement: num(p.evaluation?.disagreement),
  };
}

/**
 * The operating point in `simulate --json` output (point 'budget' or 'paper') or `select --json` output
 * (the saver named, default rank 1; budget point).
 */
export function parseOperatingPoint(
  text: string,
  file: string,
  o: { point?: 'budget' | 'paper'; saver?: string } = {},
): OperatingPointInfo {
  let doc: any;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not JSON (expected the output of tinysaver simulate --json or select --json): ${(e as Error).message}`);
  }
  const point = o.point ?? 'budget';
  if (doc && Array.isArray(doc.ranking)) {
    if (point !== 'budget') throw new Error(`${file}: select output carries the budget point only; drop --point ${point}`);
    const ranked = o.saver ? doc.ranking.find((x: any) => x.name === o.saver) : doc.ranking[0];
    if (!ranked) throw new Error(`${file}: no saver "${o.saver}" in the ranking (have: ${doc.ranking.map((x: any) => x.name).join(', ')})`);
    if (!ranked.budget) throw new Error(`${file}: ranking entry ${ranked.name} has no budget point`);
    return {
      source: `select output ${file}: saver ${ranked.name} (rank ${ranked.rank}), budget point`,
      auditRate: null,
      sweep: [],
      ...fromPoint(ranked.budget, `${file}: ranking[${ranked.name}].budget`),
    };
  }
  if (doc && Array.isArray(doc.versions)) {
    // simulate --decisions --json: one what-if per logged cascade version; its simulate-shaped report
    const versions = doc.versions as VersionWhatIf[];
    if (versions.length === 0) throw new Error(`${file}: the decision logs held no row records`);
    const v = o.saver ? versions.find((x) => x.cascade === o.saver || x.saver === o.saver) : versions[0];
    if (!v) throw new Error(`${file}: no version of "${o.saver}" (have: ${versions.map((x) => `${x.cascade} (${x.saver})`).join(', ')})`);
    if (point !== 'budget') throw new Error(`${file}: decision-log output carries the budget point only; drop --point ${point}`);
    return fromSimulateDoc(
      asSimulationReport(v),
      file,
      'budget',
      `decision logs ${file}: cascade ${v.cascade}, saver ${v.saver}, budget point`,
    );
  }
  if (!doc || typeof doc !== 'object' || !Array.isArray(doc.sweep) || !doc.budget) {
    throw new Error(
      `${file}: expected the output of tinysaver simulate --json (fields sweep, budget; also with --decisions) or select --json (field ranking)`,
    );
  }
  if (o.saver) throw new Error(`${file}: --saver-name applies to select and decision-log output only`);
  return fromSimulateDoc(doc, file, point, `simulate output ${file}: ${point} point`);
}

function fromSimulateDoc(doc: any, file: string, point: 'budget' | 'paper', source: string): OperatingPointInfo {
  const p = doc[point];
  if (!p) throw new Error(`${file}: no ${point} operating point (${doc.paperNote ?? 'absent'})`);
  const sweep: OperatingPointInfo['sweep'] = [];
  for (const [k, s] of (doc.sweep as any[]).entries()) {
    const t = num(s?.threshold);
    const r = num(s?.saverShare);
    if (s?.threshold === 'Infinity' || s?.threshold === Infinity) continue; // base only: the plot's reference line
    if (t === null || r === null || r < 0 || r > 1)
      throw new Error(`${file}: sweep[${k}]: expected numbers threshold and saverShare in [0, 1]`);
    sweep.push({ threshold: t, saverShare: r });
  }
  return { source, auditRate: num(doc.auditRate), sweep, ...fromPoint(p, `${file}: ${point}`) };
}

export interface Capacity {
  rowsPerSecond: number;
  /** replica shape implied by the measurement (cores of a CPU replica, one GPU for CUDA); none for a bare number */
  shape?: ReplicaShape;
  source: string;
}

/** A capacity flag: a number (rows/s per replica) or the text of a `profile --measure --out` file. */
export function parseCapacityNumber(flag: string, raw: string): Capacity | null {
  if (!/^\s*[-+0-9.eE]+\s*$/.test(raw)) return null;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${flag}: capacity must be a number of rows/s per replica > 0, got ${raw}`);
  return { rowsPerSecond: v, source: `${v} rows/s per replica (${flag})` };
}

export function parseCapacityFile(flag: string, file: string, text: string, model?: string): Capacity {
  let doc: any;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`${flag} ${file}: not JSON (expected tinysaver profile --measure --out output): ${(e as Error).message}`);
  }
  const list: CapacityProfile[] = Array.isArray(doc) ? doc : [doc];
  const bad = list.find((p) => p?.kind !== CAPACITY_KIND);
  if (bad !== undefined)
    throw new Error(`${flag} ${file}: not a capacity file (kind must be ${CAPACITY_KIND}, from tinysaver profile --measure --out)`);
  let p: CapacityProfile;
  if (list.length === 1) p = list[0];
  else {
    const hits = model ? list.filter((x) => x.model === model || x.model.endsWith(`/${model}`) || x.model.endsWith(`/${model}.onnx`)) : [];
    if (hits.length !== 1)
      throw new Error(
        `${flag} ${file}: holds ${list.length} models (${list.map((x) => x.model).join(', ')}); name one as ${flag} ${file}#MODEL`,
      );
    p = hits[0];
  }
  const v = p.capacity?.rowsPerSecond;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    throw new Error(`${flag} ${file}: capacity.rowsPerSecond must be a number > 0, got ${JSON.stringify(v)}`);
  const shape: ReplicaShape = p.provider === 'cuda' ? { cores: 0, gpus: 1 } : { cores: p.cores, gpus: 0 };
  const m = p.machine;
  const where = m ? ` on ${m.cpu}, ${m.logicalCpus} CPUs, load average ${m.loadAverage1mBefore?.toFixed?.(1) ?? '?'}` : '';
  return {
    rowsPerSecond: v,
    shape,
    source: `${p.model} measured on ${p.provider} (${p.cores} thread(s))${where}, batch ${p.capacity.batch}, ${p.measuredAt}`,
  };
}

/** A daily traffic profile: rows/s per equal slot of the day, separated by commas, spaces or lines; '#' starts a comment. */
export function parseTrafficProfile(text: string, file: string): number[] {
  const values: number[] = [];
  for (const [n, line] of text.split('\n').entries()) {
    for (const tok of line
      .replace(/#.*/, '')
      .split(/[\s,;]+/)
      .filter(Boolean)) {
      const v = Number(tok);
      if (!Number.isFinite(v) || v < 0) throw new Error(`${file}: line ${n + 1}: "${tok}" is not a number of rows/s >= 0`);
      values.push(v);
    }
  }
  if (values.length === 0) throw new Error(`${file}: no values (expected rows/s per equal slot of the day, e.g. 24 hourly values)`);
  if (!values.some((v) => v > 0)) throw new Error(`${file}: every slot is 0 rows/s`);
  return values;
}
