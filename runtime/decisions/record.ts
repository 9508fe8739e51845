// The router's decision log: one JSON object per line (JSON Lines). A data-plane contract (DESIGN.md,
// README "Decision log"): `tinysaver simulate --decisions`, `tinysaver decisions` and users' own log
// pipelines read it, so fields are only ever added, never renamed; `v` says which version wrote it.
//
// Two kinds of record:
//
//   {"v":1,"kind":"row", ...}       one logged row of one request (see RowRecord)
//   {"v":1,"kind":"settings", ...}  the threshold / audit rate / sample rate in force changed (and once at
//                                   start): the generation `gen` that row records refer to
//
// Which rows are logged (runtime/decisions/sampler.ts): every row sampled for audit (the unbiased sample of
// both answers above the threshold), and each other row independently with probability `sampleRate`.
// Each row record carries the rates in force when it was decided, so a reader can weight it by the inverse
// of its inclusion probability (runtime/decisions/estimate.ts):
//   saver-answered rows (route saver|audit): P(logged) = a + (1 - a) r,  P(base answer known) = a
//   escalated rows (route base|fallback):    P(logged) = r              (base known unless fallback)
// with a = auditRate, r = sampleRate.

export const DECISION_LOG_VERSION = 1;

/**
 * Route of a logged row:
 * - saver: the saver answered (confidence >= threshold); not audited (or `audit: "dropped"`);
 * - audit: the saver answered and the base also ran on the row off the hot path (`baseTop1` is its answer);
 * - base: escalated, the base answered;
 * - fallback: escalated, the base failed, the saver's answer was returned (degraded).
 */
export type LoggedRoute = 'saver' | 'audit' | 'base' | 'fallback';
export const LOGGED_ROUTES: readonly LoggedRoute[] = ['saver', 'audit', 'base', 'fallback'];

/** What of the input is logged: nothing (default), a sha256 of the row's input bytes, or the row's tensors. */
export type IncludeInputs = 'none' | 'hash' | 'tensor';
export const INCLUDE_INPUTS: readonly IncludeInputs[] = ['none', 'hash', 'tensor'];

export interface LoggedTensor {
  name: string;
  datatype: string;
  /** the row's shape (batch dimension 1) */
  shape: number[];
  /** flat row-major values (BYTES as UTF-8 strings, INT64 as numbers) */
  data: Array<number | string>;
}

export interface RowRecord {
  v: 1;
  kind: 'row';
  /** ISO 8601 time the row was decided (audits: when the request was answered) */
  time: string;
  /** the cascade's model name (route --name) */
  cascade: string;
  /** the router instance (pod name / hostname): logs of several pods can be read together */
  pod: string;
  /** the request's "id" if the client sent one, else an id the router made up (`<pod>-<n>`) */
  request: string;
  /** row index within the request, and the request's row count */
  row: number;
  rows: number;
  route: LoggedRoute;
  /** saver confidence (null: the saver's scores held a NaN; such rows always escalate) */
  conf: number | null;
  saverTop1: number;
  /** base top-1 where the base ran on the row (routes base and audit), else null */
  baseTop1: number | null;
  /** set when the row was sampled for audit but the audit did not run (base saturated or failing) */
  audit?: 'dropped';
  /** settings in force when the row was decided and their generation (see SettingsRecord) */
  threshold: number;
  auditRate: number;
  sampleRate: number;
  gen: number;
  /** model identities: "sha256:<hex>" of the model file, or "<name>@<version>" from the model's metadata */
  saver: string;
  base: string;
  /** latency of the request by stage, milliseconds (base absent when the request needed no base call) */
  ms: { saver: number; base?: number; total: number };
  /** only with include inputs hash|tensor */
  input?: { sha256: string } | { tensors: LoggedTensor[] };
}

export interface SettingsRecord {
  v: 1;
  kind: 'settings';
  time: string;
  cascade: string;
  pod: string;
  /** increases by one on every change of threshold, audit rate or sample rate within one router process */
  gen: number;
  threshold: number;
  auditRate: number;
  sampleRate: number;
  /** start | file (the threshold file changed) | flag */
  reason: string;
  saver: string;
  base: string;
  /** the previous settings (absent on the first record of a process) */
  prev?: { gen: number; threshold: number; auditRate: number; sampleRate: number };
}

export type DecisionRecord = RowRecord | SettingsRecord;

/** Probability that a row with this route was logged, and that its base answer is in the log. */
export function inclusion(route: LoggedRoute, auditRate: number, sampleRate: number): { logged: number; baseKnown: number } {
  if (route === 'saver' || route === 'audit') return { logged: auditRate + (1 - auditRate) * sampleRate, baseKnown: auditRate };
  return { logged: sampleRate, baseKnown: route === 'base' ? sampleRate : 0 };
}

// ---- parsing (readers: simulate --decisions, decisions) ----

export type ParsedLine = { ok: true; record: DecisionRecord } | { ok: false; error: string };

const isFrac = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1;
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const isStr = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/**
 * Parse and check one line of a decision log. Never throws: a bad line is `{ok: false, error}` naming the
 * field, so a reader can count and report it and go on.
 */
export function parseDecisionLine(line: string): ParsedLine {
  let doc: unknown;
  try {
    doc = JSON.parse(line);
  } catch {
    return { ok: false, error: 'not JSON (truncated or garbage line)' };
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return { ok: false, error: 'not a JSON object' };
  const r = doc as Record<string, unknown>;
  if (r.v !== DECISION_LOG_VERSION)
    return { ok: false, error: `unknown record version v=${JSON.stringify(r.v)} (this reader knows ${DECISION_LOG_VERSION})` };
  if (typeof r.time !== 'string' || !Number.isFinite(Date.parse(r.time))) return { ok: false, error: '"time" must be an ISO 8601 time' };
  for (const f of ['cascade', 'pod', 'saver', 'base'] as const)
    if (!isStr(r[f])) return { ok: false, error: `"${f}" must be a non-empty string` };
  for (const f of ['threshold', 'auditRate', 'sampleRate'] as const)
    if (!isFrac(r[f])) return { ok: false, error: `"${f}" must be a number in [0, 1]` };
  if (!isCount(r.gen)) return { ok: false, error: '"gen" must be an integer >= 0' };
  if (r.kind === 'settings') return { ok: true, record: r as unknown as SettingsRecord };
  if (r.kind !== 'row') return { ok: false, error: `unknown "kind" ${JSON.stringify(r.kind)}` };
  if (!isStr(r.request)) return { ok: false, error: '"request" must be a non-empty string' };
  if (!isCount(r.rows) || r.rows < 1) return { ok: false, error: '"rows" must be an integer >= 1' };
  if (!isCount(r.row) || r.row >= r.rows) return { ok: false, error: '"row" must be an integer in [0, rows)' };
  if (!LOGGED_ROUTES.includes(r.route as LoggedRoute)) return { ok: false, error: `"route" must be one of ${LOGGED_ROUTES.join(', ')}` };
  if (r.conf !== null && !isFrac(r.conf)) return { ok: false, error: '"conf" must be a number in [0, 1] or null' };
  if (!isCount(r.saverTop1)) return { ok: false, error: '"saverTop1" must be an integer >= 0' };
  const needsBase = r.route === 'base' || r.route === 'audit';
  if (needsBase ? !isCount(r.baseTop1) : r.baseTop1 !== null && r.baseTop1 !== undefined) {
    return {
      ok: false,
      error: needsBase ? `"baseTop1" must be an integer >= 0 on route ${r.route}` : `"baseTop1" must be null on route ${r.route}`,
    };
  }
  if (r.route === 'saver' || r.route === 'audit') {
    if (r.conf === null || (r.conf as number) < (r.threshold as number))
      return { ok: false, error: `route ${r.route} with confidence ${r.conf} below threshold ${r.threshold}` };
  }
  const ms = r.ms as Record<string, unknown> | undefined;
  if (!ms || typeof ms !== 'object' || typeof ms.total !== 'number' || typeof ms.saver !== 'number')
    return { ok: false, error: '"ms" must hold numbers "saver" and "total"' };
  if (r.baseTop1 === undefined) r.baseTop1 = null;
  return { ok: true, record: r as unknown as RowRecord };
}

/**
 * The "version" a record belongs to: records of different cascades or model identities are never
 * pooled (their confidences and answers are not comparable); readers report them apart.
 */
export function versionKey(r: { cascade: string; saver: string; base: string }): string {
  return `${r.cascade} | saver ${r.saver} | base ${r.base}`;
}
