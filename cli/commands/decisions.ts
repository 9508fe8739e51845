// `tinysaver decisions LOG... [--request ID] [--bucket 5m] [--since T] [--until T]`: the audit questions
// answered from router decision logs (runtime/decisions/summary.ts).

import { progressReporter } from '../../core/text/progress.js';
import { type FlagDef, parseFlags } from '../flags.js';
import { badTotal, parseTimeArg, readDecisionLogs } from '../../runtime/decisions/read.js';
import { DecisionSummarizer, formatBuckets, formatRequest, formatSettings } from '../../runtime/decisions/summary.js';
import { takeLogArgs } from './simulate.js';

export const DECISIONS_FLAGS: Record<string, FlagDef> = {
  request: {
    kind: 'string',
    meta: 'ID',
    help: 'show every logged row of this request id: route, confidence, answers, threshold, generation, models',
  },
  bucket: { kind: 'string', meta: 'DURATION', default: '5m', help: 'time bucket of the summary (30s, 5m, 1h, 1d)' },
  since: { kind: 'string', meta: 'TIME', help: 'only records at or after TIME (ISO 8601, or a duration back from now: 90m, 2h, 7d)' },
  until: { kind: 'string', meta: 'TIME', help: 'only records before TIME' },
  top: { kind: 'int', min: 1, default: 3, help: 'classes listed per bucket' },
  json: { kind: 'boolean', default: false, help: 'print the result as JSON' },
};

const USAGE = 'tinysaver decisions LOG... [--request ID] [--bucket 5m] [--since TIME] [--until TIME]';
const SUMMARY =
  'Answer the audit questions from router decision logs: per time bucket the saver share, thresholds in force, disagreement on audited rows and the classes the saver answered; the settings changes (threshold generations); one request by id.';

export function parseDuration(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(v.trim());
  if (!m || Number(m[1]) <= 0) throw new Error(`--${flag}: "${v}" is not a duration like 30s, 5m, 1h, 1d`);
  return Number(m[1]) * { ms: 1, s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
}

export async function run(argvIn: string[]): Promise<number> {
  // logs are positional: every argument that is not a flag or a flag's value
  const logs: string[] = [];
  const flagArgs: string[] = [];
  const { logs: viaFlag, rest } = takeLogArgs(argvIn, 'logs');
  logs.push(...viaFlag);
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a.startsWith('--')) {
      flagArgs.push(a);
      const name = a.slice(2).split('=')[0];
      const def = DECISIONS_FLAGS[name];
      if (def && def.kind !== 'boolean' && !a.includes('=') && i + 1 < rest.length) flagArgs.push(rest[++i]);
    } else logs.push(a);
  }
  const parsed = parseFlags(flagArgs, USAGE, SUMMARY, DECISIONS_FLAGS);
  if (parsed.kind === 'help') {
    console.log(parsed.text);
    return 0;
  }
  const fail = (msg: string) => {
    console.error(`tinysaver decisions: ${msg}`);
    return 2;
  };
  if (parsed.kind === 'error') return fail(parsed.message);
  const f = parsed.values;
  if (logs.length === 0) return fail(`no log files given\nUsage: ${USAGE}`);
  let summarizer: DecisionSummarizer;
  let stats: Awaited<ReturnType<typeof readDecisionLogs>>;
  try {
    const bucketMs = parseDuration('bucket', f.bucket as string);
    const since = f.since === undefined ? undefined : parseTimeArg('since', f.since as string);
    const until = f.until === undefined ? undefined : parseTimeArg('until', f.until as string);
    summarizer = new DecisionSummarizer(bucketMs, f.request as string | undefined);
    const bar = progressReporter('decisions: reading');
    try {
      stats = await readDecisionLogs(logs, (r) => summarizer.add(r), { since, until, onProgress: bar.update });
    } finally {
      bar.end();
    }
  } catch (e) {
    return fail((e as Error).message);
  }
  const versions = summarizer.result(f.top as number);
  if (f.json) {
    console.log(
      JSON.stringify(
        {
          read: stats,
          versions,
          settings: summarizer.settings,
          request: f.request === undefined ? undefined : { id: f.request, rows: summarizer.requestRows },
        },
        null,
        2,
      ),
    );
    return 0;
  }
  const out: string[] = [
    `read ${stats.files} file(s), ${stats.records} record(s)${stats.outsideRange ? `; ${stats.outsideRange} outside --since/--until` : ''}`,
  ];
  const bad = badTotal(stats);
  if (bad > 0) {
    out.push(
      `skipped ${bad} bad line(s): ${Object.entries(stats.bad)
        .map(([k, v]) => `${v} ${k}`)
        .join('; ')}`,
    );
    for (const e of stats.examples) out.push(`  e.g. ${e}`);
  }
  if (f.request !== undefined) {
    out.push('', formatRequest(f.request as string, summarizer.requestRows));
    if (summarizer.requestRowsDropped) out.push(`  (${summarizer.requestRowsDropped} more rows not shown)`);
  } else {
    out.push(
      '',
      `per ${f.bucket} bucket (saver share weighted by the inverse sampling probability; audit disagree = audited rows where saver != base):`,
      '',
    );
    out.push(versions.length ? formatBuckets(versions) : 'no row records');
    out.push(
      `settings changes (${summarizer.settings.length}${summarizer.settingsDropped ? ` shown, ${summarizer.settingsDropped} more` : ''}):`,
    );
    out.push(summarizer.settings.length ? formatSettings(summarizer.settings) : '  none');
  }
  console.log(out.join('\n'));
  return 0;
}
