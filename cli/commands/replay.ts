// `tinysaver replay`: the Fashion-MNIST test set through a v2 endpoint, with a summary of saver share,
// accuracy vs the base, relative compute and latency. `--drift KIND` corrupts the stream along a
// schedule (the drift bench's corruption code, runtime/drift/), `--loop` keeps it running until Ctrl-C,
// `--rate` paces it; long runs print a running line (refreshing in place on a terminal).

import { loadFashionMnist } from '../../models/dataset/fashion-mnist.js';
import { loadZooManifest } from '../../models/zoo.js';
import { V2Client } from '../../runtime/oip/client.js';
import { parseFlags, type FlagDef } from '../flags.js';
import { progressReporter } from '../../core/text/progress.js';
import {
  formatReplaySummary,
  replayDataset,
  type ReplayOptions,
  type ReplaySummaryInput,
  type RunStats,
} from '../../runtime/replay/replay.js';
import { RecentRows, formatLiveLine } from '../../runtime/replay/live.js';
import { CORRUPTIONS, type CorruptionName } from '../../runtime/drift/corruptions.js';
import { SCHEDULE_NAMES, type ScheduleName } from '../../runtime/drift/schedule.js';
import { applyDrift, driftAt, type DriftSpec } from '../../runtime/drift/stream.js';

export const REPLAY_FLAGS: Record<string, FlagDef> = {
  url: { kind: 'url', default: 'http://127.0.0.1:8000', help: 'v2 endpoint to replay through (router, model server, Triton, ...)' },
  model: { kind: 'string', default: 'cascade', help: 'model name at --url' },
  limit: { kind: 'int', min: 1, help: 'replay only the first N test samples (default: all 10000)', meta: 'N' },
  'batch-size': { kind: 'int', min: 1, default: 1, help: 'rows per request' },
  concurrency: { kind: 'int', min: 1, default: 4, help: 'requests in flight' },
  'base-url': { kind: 'url', help: 'also replay base-only through this endpoint (measured base accuracy and throughput)', meta: 'URL' },
  'base-model': {
    kind: 'string',
    help: "model name at --base-url (default: the model the cascade's router calls at its base, else --base-zoo, else base-cnn)",
    meta: 'NAME',
  },
  'saver-zoo': { kind: 'string', help: 'zoo model whose MACs count for the saver (default: the saver the cascade names)', meta: 'NAME' },
  'base-zoo': { kind: 'string', help: 'zoo model whose MACs count for the base (default: the base the cascade names)', meta: 'NAME' },
  data: {
    kind: 'string',
    help: 'directory of the Fashion-MNIST IDX .gz files (default: $FASHION_MNIST_DIR or the Debian path)',
    meta: 'DIR',
  },
  'timeout-ms': { kind: 'int', min: 1, default: 30_000, help: 'per-request timeout' },
  drift: { kind: 'string', choices: CORRUPTIONS, help: "corrupt the images (the drift bench's corruptions) along --schedule" },
  severity: { kind: 'fraction', default: 1, help: 'peak corruption severity in [0, 1] (with --drift)' },
  schedule: {
    kind: 'string',
    choices: SCHEDULE_NAMES,
    default: 'ramp',
    help: 'severity over one period: ramp (clean, ramp up, hold, recover, clean), step (clean, full, clean), constant (with --drift)',
  },
  period: {
    kind: 'int',
    min: 1,
    help: 'rows of one schedule cycle (default: the rows of one pass over the set; with --drift)',
    meta: 'ROWS',
  },
  seed: { kind: 'int', min: 0, default: 1, help: 'seed of the corruptions (with --drift)' },
  loop: {
    kind: 'boolean',
    default: false,
    help: 'cycle the set until Ctrl-C, then print the summary (with --base-url the base answers the same rows alongside)',
  },
  rate: { kind: 'number', help: 'at most this many rows per second (default: as fast as the endpoint answers)', meta: 'ROWS_PER_S' },
};

/**
 * Which zoo models count for the MACs (saverName, baseName: --saver-zoo/--base-zoo, else what the cascade
 * names) and which model to ask for at --base-url (baseModel: --base-model, else the model the cascade's
 * router calls at its base, e.g. "base" in a cluster). --base-zoo only names the zoo entry for the cost
 * columns; it is never sent to --base-url (a cluster's base server does not serve a zoo name).
 */
export function replayModelNames(
  flags: Record<string, unknown>,
  named: Record<string, unknown>,
): { saverName?: string; baseName?: string; baseModel: string } {
  const str = (x: unknown) => (typeof x === 'string' && x !== '' ? x : undefined);
  const saverName = str(flags['saver-zoo']) ?? str(named.tinysaver_saver_model);
  const baseName = str(flags['base-zoo']) ?? str(named.tinysaver_base_model);
  const baseModel = str(flags['base-model']) ?? str(named.tinysaver_base_model) ?? baseName ?? 'base-cnn';
  return { saverName, baseName, baseModel };
}

export async function run(argv: string[]): Promise<number> {
  const p = parseFlags(
    argv,
    'tinysaver replay [flags]',
    'Stream the Fashion-MNIST test set through a v2 endpoint and summarise saver share, accuracy, relative compute and latency.',
    REPLAY_FLAGS,
  );
  if (p.kind === 'help') return (console.log(p.text), 0);
  if (p.kind === 'error') return (console.error(`tinysaver replay: ${p.message}`), 2);
  const v = p.values;
  const url = v.url as string;
  const model = v.model as string;
  const rate = v.rate as number | undefined;
  if (rate !== undefined && !(rate > 0))
    return (console.error(`tinysaver replay: --rate: ${rate} is not a positive number of rows per second`), 2);
  if (!v.drift) {
    for (const flag of ['period']) if (v[flag] !== undefined) return (console.error(`tinysaver replay: --${flag} needs --drift`), 2);
    for (const flag of ['severity', 'schedule', 'seed']) {
      if (argv.some((a) => a === `--${flag}` || a.startsWith(`--${flag}=`)))
        return (console.error(`tinysaver replay: --${flag} needs --drift`), 2);
    }
  }
  const loop = v.loop as boolean;
  try {
    const all = await loadFashionMnist('test', v.data as string | undefined);
    const count = Math.min(all.count, (v.limit as number | undefined) ?? all.count);
    const data = { images: all.images.subarray(0, count * 784), labels: all.labels.subarray(0, count), count };

    // Which saver/base the cascade runs (the router names them in its metadata parameters).
    const probe = new V2Client(url, { timeoutMs: v['timeout-ms'] as number });
    let named: Record<string, unknown> = {};
    try {
      const meta = (await probe.metadata(model)) as { parameters?: Record<string, unknown> };
      named = meta.parameters ?? {};
    } finally {
      probe.close();
    }
    const { saverName, baseName, baseModel } = replayModelNames(v, named);

    const opts: ReplayOptions = {
      batchSize: v['batch-size'] as number,
      concurrency: v.concurrency as number,
      timeoutMs: v['timeout-ms'] as number,
      rate,
    };
    const drift: DriftSpec | undefined = v.drift
      ? {
          kind: v.drift as CorruptionName,
          severity: v.severity as number,
          schedule: v.schedule as ScheduleName,
          periodRows: (v.period as number | undefined) ?? count,
          seed: v.seed as number,
        }
      : undefined;
    if (drift) opts.transform = (images, first) => applyDrift(drift, images, first).images;
    // A long or drifting run: the base (when given) answers the same rows alongside, and a running line
    // shows the recent numbers; a plain run keeps the progress bar and the base-only pass after it.
    const live = loop || drift !== undefined;
    let cascade: RunStats;
    if (live) {
      if (v['base-url']) opts.pair = { url: v['base-url'] as string, model: baseModel };
      cascade = await liveReplay({ url, model }, data, opts, loop, drift);
    } else {
      const bar = progressReporter(`replay ${model}`);
      cascade = await replayDataset({ url, model }, data, { ...opts, onProgress: bar.update });
      bar.end();
    }
    let base: RunStats | undefined;
    if (v['base-url'] && !live) {
      const baseBar = progressReporter(`replay ${baseModel} (base only)`);
      base = await replayDataset({ url: v['base-url'] as string, model: baseModel }, data, { ...opts, onProgress: baseBar.update });
      baseBar.end();
    }

    const summary: ReplaySummaryInput = { label: `"${model}" at ${url}`, cascade, base };
    if (drift)
      summary.drift = `${drift.kind}, peak severity ${drift.severity}, schedule ${drift.schedule} over ${drift.periodRows} rows, seed ${drift.seed}`;
    let manifest;
    try {
      manifest = loadZooManifest();
    } catch {
      manifest = undefined;
    }
    const saverZoo = manifest?.models.find((m) => m.name === saverName);
    const baseZoo = manifest?.models.find((m) => m.name === baseName);
    if (saverZoo && baseZoo) summary.macs = { saver: saverZoo.name, saverMacs: saverZoo.macs, base: baseZoo.name, baseMacs: baseZoo.macs };
    // the manifest holds the clean test set's accuracy: not a reference for a drifted stream
    if (!base && baseZoo && !drift) summary.baseAccuracyFromManifest = { model: baseZoo.name, accuracy: baseZoo.testAccuracy };
    console.log(formatReplaySummary(summary));
    return 0;
  } catch (e) {
    console.error(`tinysaver replay: ${(e as Error).message}`);
    return 1;
  }
}

/** Runs the replay with a running line (in place on a TTY, every 5 s otherwise); --loop runs until SIGINT/SIGTERM. */
async function liveReplay(
  target: { url: string; model: string },
  data: { images: Float32Array; labels: Uint8Array; count: number },
  opts: ReplayOptions,
  loop: boolean,
  drift: DriftSpec | undefined,
): Promise<RunStats> {
  const tty = process.stdout.isTTY === true;
  const recent = new RecentRows(1000);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let lastFirstRow = 0;
  const line = () => formatLiveLine(recent.snapshot(), drift ? { kind: drift.kind, ...driftAt(drift, lastFirstRow) } : undefined);
  const timer = setInterval(
    () => {
      if (recent.snapshot().total === 0) return;
      if (tty) process.stdout.write(`\r\x1b[2K${line()}`);
      else console.log(line());
    },
    tty ? 500 : 5000,
  );
  try {
    return await replayDataset(target, data, {
      ...opts,
      rows: loop ? Infinity : data.count,
      signal: stop.signal,
      onBatch: (b) => {
        recent.add(b, Date.now());
        lastFirstRow = Math.max(lastFirstRow, b.firstRow);
      },
    });
  } finally {
    clearInterval(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (recent.snapshot().total > 0) {
      if (tty) process.stdout.write(`\r\x1b[2K${line()}\n`);
      else console.log(line());
    }
  }
}
