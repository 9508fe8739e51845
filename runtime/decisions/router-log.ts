// The router's side of the decision log: which rows to log, and the records for them. The cascade calls
// request() once per answered request and auditDone() when an audit ended; this module owns the sampling
// (its own seeded stream, so turning the log on does not change which rows are audited), the settings
// generation and the record layout (record.ts). Cost on the request path: with sample rate 0 and nothing
// audited, one branch; otherwise one random draw per row and a record object per logged row.

import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { seededRandom } from '../../core/random.js';
import type { InferRequest, Tensor } from '../oip/types.js';
import { type DecisionRecord, DECISION_LOG_VERSION, type IncludeInputs, type LoggedTensor, type RowRecord } from './record.js';

export interface RouterDecisionLogOptions {
  /** the queue (writer.ts DecisionLog) */
  log: { push(record: DecisionRecord): boolean };
  cascade: string;
  /** model identities written on every record (modelIdentity()) */
  saver: string;
  base: string;
  sampleRate: number;
  includeInputs: IncludeInputs;
  seed: number;
  /** router instance name (default $POD_NAME or the hostname) */
  pod?: string;
  threshold: number;
  auditRate: number;
  /** clock (ms since the epoch); tests and replays pass their own */
  now?: () => number;
}

/** Stage latencies of one request, milliseconds. */
export interface StageMs {
  saver: number;
  base?: number;
  total: number;
}

/** Per request, what the cascade decided (arrays are this request's rows). */
export interface RequestDecisions {
  req: InferRequest;
  confidence: ArrayLike<number>;
  saverTop1: ArrayLike<number>;
  /** base top-1 per row where the base answered it, -1 elsewhere (undefined: no row went to the base) */
  baseTop1?: ArrayLike<number>;
  /** per-row route as answered: saver | base | fallback */
  routes: ArrayLike<string>;
  /** rows picked for audit (indices into the request) */
  audited: ArrayLike<number>;
  threshold: number;
  auditRate: number;
  ms: StageMs;
}

/** Handle for the audited rows of one request: the cascade calls done() with the base's answers or dropped(). */
export interface AuditLogHandle {
  done(baseTop1: ArrayLike<number>): void;
  dropped(): void;
}

const round6 = (v: number) => Math.round(v * 1e6) / 1e6;
const round3 = (v: number) => Math.round(v * 1e3) / 1e3;

export class RouterDecisionLog {
  readonly pod: string;
  private readonly random: () => number;
  private seq = 0;
  private gen = 0;
  private threshold: number;
  private auditRate: number;
  private sampleRateValue: number;
  private readonly now: () => number;

  constructor(private readonly o: RouterDecisionLogOptions) {
    if (!(o.sampleRate >= 0 && o.sampleRate <= 1)) throw new RangeError(`decision log: sample rate must be in [0, 1], got ${o.sampleRate}`);
    this.pod = o.pod ?? process.env.POD_NAME ?? hostname();
    this.random = seededRandom((o.seed ^ 0x5bd1e995) >>> 0);
    this.threshold = o.threshold;
    this.auditRate = o.auditRate;
    this.sampleRateValue = o.sampleRate;
    this.now = o.now ?? Date.now;
    this.emitSettings('start', undefined);
  }

  get sampleRate(): number {
    return this.sampleRateValue;
  }

  get generation(): number {
    return this.gen;
  }

  /**
   * The settings in force changed (threshold file reload, flag): a new generation and a settings record.
   * Values that did not change are ignored; nothing changed, nothing written.
   */
  settings(next: { threshold?: number; auditRate?: number; sampleRate?: number }, reason: string): void {
    const t = next.threshold ?? this.threshold;
    const a = next.auditRate ?? this.auditRate;
    const r = next.sampleRate ?? this.sampleRateValue;
    if (!(r >= 0 && r <= 1)) return;
    if (t === this.threshold && a === this.auditRate && r === this.sampleRateValue) return;
    const prev = { gen: this.gen, threshold: this.threshold, auditRate: this.auditRate, sampleRate: this.sampleRateValue };
    this.gen++;
    this.threshold = t;
    this.auditRate = a;
    this.sampleRateValue = r;
    this.emitSettings(reason, prev);
  }

  private emitSettings(reason: string, prev: { gen: number; threshold: number; auditRate: number; sampleRate: number } | undefined): void {
    this.o.log.push({
      v: DECISION_LOG_VERSION,
      kind: 'settings',
      time: new Date(this.now()).toISOString(),
      cascade: this.o.cascade,
      pod: this.pod,
      gen: this.gen,
      threshold: this.threshold,
      auditRate: this.auditRate,
      sampleRate: this.sampleRateValue,
      reason,
      saver: this.o.saver,
      base: this.o.base,
      ...(prev ? { prev } : {}),
    });
  }

  /** Log the sampled rows of one answered request; returns the handle for its audited rows (if any). */
  request(d: RequestDecisions): AuditLogHandle | undefined {
    const n = d.routes.length;
    const r = this.sampleRateValue;
    const audited = d.audited;
    if (r <= 0 && audited.length === 0) return undefined;
    let time: string | undefined;
    let requestId: string | undefined;
    const common = () => {
      time ??= new Date(this.now()).toISOString();
      requestId ??= d.req.id !== undefined && d.req.id !== '' ? String(d.req.id) : `${this.pod}-${++this.seq}`;
    };
    if (r > 0) {
      let a = 0; // audited is ascending (picked in row order)
      for (let i = 0; i < n; i++) {
        if (a < audited.length && audited[a] === i) {
          a++;
          continue; // logged when its audit ends, with the base's answer
        }
        if (r < 1 && this.random() >= r) continue;
        common();
        const route = d.routes[i] as RowRecord['route'];
        const bt = route === 'base' && d.baseTop1 ? d.baseTop1[i] : -1;
        this.o.log.push(this.row(d, i, route, bt >= 0 ? bt : null, time!, requestId!));
      }
    }
    if (audited.length === 0) return undefined;
    common();
    const rows = Array.from(audited);
    const t = time!;
    const id = requestId!;
    return {
      done: (baseTop1) => {
        for (let j = 0; j < rows.length; j++) this.o.log.push(this.row(d, rows[j], 'audit', baseTop1[j], t, id));
      },
      dropped: () => {
        for (const i of rows) {
          const rec = this.row(d, i, 'saver', null, t, id);
          rec.audit = 'dropped';
          this.o.log.push(rec);
        }
      },
    };
  }

  private row(
    d: RequestDecisions,
    i: number,
    route: RowRecord['route'],
    baseTop1: number | null,
    time: string,
    request: string,
  ): RowRecord {
    const c = d.confidence[i];
    const rec: RowRecord = {
      v: DECISION_LOG_VERSION,
      kind: 'row',
      time,
      cascade: this.o.cascade,
      pod: this.pod,
      request,
      row: i,
      rows: d.routes.length,
      route,
      conf: Number.isNaN(c) ? null : round6(c),
      saverTop1: d.saverTop1[i],
      baseTop1,
      threshold: d.threshold,
      auditRate: d.auditRate,
      sampleRate: this.sampleRateValue,
      gen: this.gen,
      saver: this.o.saver,
      base: this.o.base,
      ms:
        d.ms.base === undefined
          ? { saver: round3(d.ms.saver), total: round3(d.ms.total) }
          : { saver: round3(d.ms.saver), base: round3(d.ms.base), total: round3(d.ms.total) },
    };
    if (this.o.includeInputs === 'hash') rec.input = { sha256: rowHash(d.req.inputs, i) };
    else if (this.o.includeInputs === 'tensor') rec.input = { tensors: d.req.inputs.map((t) => rowTensor(t, i)) };
    return rec;
  }
}

function rowBytes(t: Tensor, i: number): Buffer[] {
  const per = t.shape.slice(1).reduce((a, b) => a * b, 1);
  if (Array.isArray(t.data)) return (t.data as Buffer[]).slice(i * per, (i + 1) * per);
  const arr = t.data as ArrayBufferView & { BYTES_PER_ELEMENT: number };
  const size = arr.BYTES_PER_ELEMENT;
  return [Buffer.from(arr.buffer, arr.byteOffset + i * per * size, per * size)];
}

/** sha256 over the row's input tensors (name, datatype, row shape, then the raw little-endian bytes), hex. */
export function rowHash(inputs: Tensor[], i: number): string {
  const h = createHash('sha256');
  for (const t of inputs) {
    h.update(`${t.name}\0${t.datatype}\0${t.shape.slice(1).join(',')}\0`);
    for (const b of rowBytes(t, i)) {
      if (Array.isArray(t.data)) h.update(`${b.length}\0`);
      h.update(b);
    }
  }
  return h.digest('hex');
}

function rowTensor(t: Tensor, i: number): LoggedTensor {
  const per = t.shape.slice(1).reduce((a, b) => a * b, 1);
  let data: Array<number | string>;
  if (Array.isArray(t.data)) data = (t.data as Buffer[]).slice(i * per, (i + 1) * per).map((b) => b.toString('utf8'));
  else {
    const view = (t.data as unknown as { subarray(a: number, b: number): ArrayLike<number | bigint> }).subarray(i * per, (i + 1) * per);
    data = Array.from(view, (v) => (typeof v === 'bigint' ? Number(v) : v));
  }
  return { name: t.name, datatype: t.datatype, shape: [1, ...t.shape.slice(1)], data };
}

/** "sha256:<hex>" of a model file's bytes (the identity written on every record). */
export function fileIdentity(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}
