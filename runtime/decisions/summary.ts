// `tinysaver decisions`: the audit questions answered from a decision log.
// - per time bucket (per cascade/model version): estimated saver share (inverse-probability weighted, as in
//   estimate.ts), the thresholds in force, the saver/base disagreement on audited rows, the classes the
//   saver answered most;
// - the settings changes (generation, threshold, audit and sample rate, which pod);
// - one request id: every logged row of it, its route, confidence, answers, threshold and models.
// Memory: per bucket a few counters and one counter per class; a request lookup keeps only its own rows.

import { formatTable } from '../../core/text/table.js';
import { type DecisionRecord, type RowRecord, type SettingsRecord, inclusion, versionKey } from './record.js';

export interface BucketSummary {
  start: string;
  records: number;
  estimatedRows: number;
  saverShare: number;
  thresholds: [number, number];
  audits: number;
  auditDisagreements: number;
  /** saver-answered classes by estimated rows, most first */
  topClasses: Array<{ cls: number; share: number }>;
}

export interface VersionSummary {
  key: string;
  buckets: BucketSummary[];
}

interface BucketAcc {
  records: number;
  w: number;
  saverW: number;
  tMin: number;
  tMax: number;
  audits: number;
  auditDis: number;
  classes: Map<number, number>;
}

export class DecisionSummarizer {
  private readonly versions = new Map<string, Map<number, BucketAcc>>();
  readonly settings: SettingsRecord[] = [];
  settingsDropped = 0;
  readonly requestRows: RowRecord[] = [];
  requestRowsDropped = 0;

  constructor(
    private readonly bucketMs: number,
    private readonly request?: string,
    private readonly maxSettings = 1000,
    private readonly maxRequestRows = 10_000,
  ) {
    if (!(bucketMs > 0)) throw new RangeError(`bucket must be > 0 ms, got ${bucketMs}`);
  }

  add(r: DecisionRecord): void {
    if (r.kind === 'settings') {
      if (this.settings.length < this.maxSettings) this.settings.push(r);
      else this.settingsDropped++;
      return;
    }
    if (this.request !== undefined && r.request === this.request) {
      if (this.requestRows.length < this.maxRequestRows) this.requestRows.push(r);
      else this.requestRowsDropped++;
    }
    const p = inclusion(r.route, r.auditRate, r.sampleRate);
    if (!(p.logged > 0)) return;
    const key = versionKey(r);
    let v = this.versions.get(key);
    if (!v) this.versions.set(key, (v = new Map()));
    const b = Math.floor(Date.parse(r.time) / this.bucketMs);
    let a = v.get(b);
    if (!a) v.set(b, (a = { records: 0, w: 0, saverW: 0, tMin: Infinity, tMax: -Infinity, audits: 0, auditDis: 0, classes: new Map() }));
    const w = 1 / p.logged;
    a.records++;
    a.w += w;
    a.tMin = Math.min(a.tMin, r.threshold);
    a.tMax = Math.max(a.tMax, r.threshold);
    if (r.route === 'saver' || r.route === 'audit') {
      a.saverW += w;
      a.classes.set(r.saverTop1, (a.classes.get(r.saverTop1) ?? 0) + w);
    }
    if (r.route === 'audit' && r.baseTop1 !== null) {
      a.audits++;
      if (r.baseTop1 !== r.saverTop1) a.auditDis++;
    }
  }

  result(topK = 3): VersionSummary[] {
    const out: VersionSummary[] = [];
    for (const [key, v] of this.versions) {
      const buckets = [...v.entries()]
        .sort((x, y) => x[0] - y[0])
        .map(([b, a]) => ({
          start: new Date(b * this.bucketMs).toISOString(),
          records: a.records,
          estimatedRows: a.w,
          saverShare: a.w > 0 ? a.saverW / a.w : 0,
          thresholds: [a.tMin, a.tMax] as [number, number],
          audits: a.audits,
          auditDisagreements: a.auditDis,
          topClasses: [...a.classes.entries()]
            .sort((x, y) => y[1] - x[1] || x[0] - y[0])
            .slice(0, topK)
            .map(([cls, w]) => ({ cls, share: a.saverW > 0 ? w / a.saverW : 0 })),
        }));
      out.push({ key, buckets });
    }
    return out.sort((a, b) => b.buckets.reduce((n, x) => n + x.records, 0) - a.buckets.reduce((n, x) => n + x.records, 0));
  }
}

const pct = (v: number, d = 1) => `${(100 * v).toFixed(d)}%`;
const range = ([lo, hi]: [number, number]) => (lo === hi ? String(lo) : `${lo}..${hi}`);

export function formatBuckets(versions: VersionSummary[]): string {
  const lines: string[] = [];
  for (const v of versions) {
    lines.push(`${v.key}`);
    const rows = v.buckets.map((b) => [
      b.start,
      String(b.records),
      String(Math.round(b.estimatedRows)),
      pct(b.saverShare),
      range(b.thresholds),
      b.audits > 0 ? `${b.auditDisagreements}/${b.audits} (${pct(b.auditDisagreements / b.audits)})` : '0',
      b.topClasses.map((c) => `${c.cls}:${pct(c.share, 0)}`).join(' '),
    ]);
    lines.push(
      formatTable(['bucket start', 'records', '~rows', 'saver share', 'threshold', 'audit disagree', 'top saver classes'], rows).replace(
        /^/gm,
        '  ',
      ),
      '',
    );
  }
  return lines.join('\n');
}

export function formatSettings(s: SettingsRecord[]): string {
  const rows = s.map((r) => [
    r.time,
    r.pod,
    String(r.gen),
    r.prev ? `${r.prev.threshold} -> ${r.threshold}` : String(r.threshold),
    r.prev && r.prev.auditRate !== r.auditRate ? `${r.prev.auditRate} -> ${r.auditRate}` : String(r.auditRate),
    r.prev && r.prev.sampleRate !== r.sampleRate ? `${r.prev.sampleRate} -> ${r.sampleRate}` : String(r.sampleRate),
    r.reason,
  ]);
  return formatTable(['time', 'pod', 'gen', 'threshold', 'audit rate', 'sample rate', 'reason'], rows);
}

export function formatRequest(id: string, rows: RowRecord[]): string {
  if (rows.length === 0) return `request ${id}: not in the log (not sampled, or outside the files / time range read)`;
  const sorted = [...rows].sort((a, b) => a.row - b.row || a.time.localeCompare(b.time));
  const f = sorted[0];
  const lines = [
    `request ${id}: ${sorted.length} of ${f.rows} row(s) logged; pod ${f.pod}; ${f.time}; cascade ${f.cascade}`,
    `  saver ${f.saver}; base ${f.base}`,
    `  latency ms: saver ${f.ms.saver}${f.ms.base !== undefined ? `, base ${f.ms.base}` : ''}, total ${f.ms.total}`,
  ];
  const table = sorted.map((r) => [
    String(r.row),
    r.route + (r.audit === 'dropped' ? ' (audit dropped)' : ''),
    r.conf === null ? 'NaN' : String(r.conf),
    String(r.saverTop1),
    r.baseTop1 === null ? '-' : String(r.baseTop1),
    String(r.threshold),
    String(r.gen),
    r.input ? ('sha256' in r.input ? r.input.sha256.slice(0, 16) : 'tensor') : '-',
  ]);
  lines.push(
    formatTable(['row', 'route', 'confidence', 'saver top-1', 'base top-1', 'threshold', 'gen', 'input'], table).replace(/^/gm, '  '),
  );
  return lines.join('\n');
}
