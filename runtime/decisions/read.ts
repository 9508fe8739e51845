// Streaming reader of decision logs (several files: pods, rotated parts, time ranges): one record at a time
// to a callback, constant memory in the number of records. Bad input never throws: garbage lines, a
// truncated last line (a pod killed mid-write), over-long lines and records outside --since/--until are
// counted per reason, with the first few places, and reported.

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { type DecisionRecord, parseDecisionLine } from './record.js';

export const MAX_LINE_BYTES = 4 * 1024 * 1024;

export interface ReadOptions {
  /** keep records with time >= since / < until (ms since the epoch) */
  since?: number;
  until?: number;
  /** progress by bytes read */
  onProgress?: (done: number, total: number) => void;
}

export interface ReadStats {
  files: number;
  bytes: number;
  lines: number;
  records: number;
  /** records skipped for their time (outside --since/--until) */
  outsideRange: number;
  /** bad lines by reason */
  bad: Record<string, number>;
  /** first few bad lines: file:line reason */
  examples: string[];
}

const MAX_EXAMPLES = 5;

export function badTotal(s: ReadStats): number {
  return Object.values(s.bad).reduce((a, b) => a + b, 0);
}

/** Parse a --since/--until value: an ISO 8601 time, or a duration back from now ("90m", "2h", "7d"). */
export function parseTimeArg(flag: string, v: string, now = Date.now()): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(v.trim());
  if (m) return now - Number(m[1]) * { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 }[m[2] as 's' | 'm' | 'h' | 'd'];
  const t = Date.parse(v);
  if (!Number.isFinite(t))
    throw new Error(`--${flag}: "${v}" is neither an ISO 8601 time (2026-12-01T04:00:00Z) nor a duration like 90m, 2h, 7d`);
  return t;
}

/** Read every file in order; calls onRecord for each valid record inside the time range. */
export async function readDecisionLogs(paths: string[], onRecord: (r: DecisionRecord) => void, o: ReadOptions = {}): Promise<ReadStats> {
  const stats: ReadStats = { files: 0, bytes: 0, lines: 0, records: 0, outsideRange: 0, bad: {}, examples: [] };
  const sizes: number[] = [];
  for (const p of paths) {
    try {
      const s = await stat(p);
      if (!s.isFile()) throw new Error('not a regular file');
      sizes.push(s.size);
    } catch (e) {
      throw new Error(`${p}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  const total = sizes.reduce((a, b) => a + b, 0);
  let done = 0;
  const bad = (file: string, lineNo: number, reason: string) => {
    stats.bad[reason] = (stats.bad[reason] ?? 0) + 1;
    if (stats.examples.length < MAX_EXAMPLES) stats.examples.push(`${file}:${lineNo}: ${reason}`);
  };
  const handle = (file: string, lineNo: number, line: string, last: boolean) => {
    stats.lines++;
    if (line.trim() === '') return;
    const parsed = parseDecisionLine(line);
    if (!parsed.ok) {
      bad(
        file,
        lineNo,
        last && parsed.error.startsWith('not JSON') ? 'truncated last line (no newline at the end of the file)' : parsed.error,
      );
      return;
    }
    const t = Date.parse(parsed.record.time);
    if ((o.since !== undefined && t < o.since) || (o.until !== undefined && t >= o.until)) {
      stats.outsideRange++;
      return;
    }
    stats.records++;
    onRecord(parsed.record);
  };
  for (let f = 0; f < paths.length; f++) {
    const file = paths[f];
    stats.files++;
    let rest = '';
    let skipping = false; // inside an over-long line
    let lineNo = 0;
    const stream = createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 });
    for await (const chunk of stream as AsyncIterable<string>) {
      done += Buffer.byteLength(chunk, 'utf8');
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf('\n', start);
        if (nl < 0) {
          if (!skipping) {
            rest += chunk.slice(start);
            if (rest.length > MAX_LINE_BYTES) {
              lineNo++;
              bad(file, lineNo, `line longer than ${MAX_LINE_BYTES} bytes`);
              rest = '';
              skipping = true;
            }
          }
          break;
        }
        const piece = chunk.slice(start, nl);
        start = nl + 1;
        if (skipping) {
          skipping = false;
          continue;
        }
        lineNo++;
        const line = rest.length > 0 ? rest + piece : piece;
        rest = '';
        handle(file, lineNo, line, false);
      }
      o.onProgress?.(done, total);
    }
    if (!skipping && rest.length > 0) handle(file, ++lineNo, rest, true);
  }
  stats.bytes = done;
  return stats;
}
