// The decision log on a real router (in-process saver, base model server, loopback HTTP):
// 1. a replay of test images with the log on, then `simulate --decisions` on that log agrees with `simulate`
//    on the same labelled rows (saver share, disagreement per threshold) within the stated interval;
// 2. rotation and the total size cap under load;
// 3. a sink that blocks (stdout into a pipe nobody reads) does not stall requests; drops are counted.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zooModelPath } from '../../models/zoo.js';
import { V2Client } from '../../runtime/oip/client.js';
import { parseDecisionLine } from '../../runtime/decisions/record.js';
import { startRouter, type RunningRouter } from '../../runtime/router/server.js';
import type { RunningModelServer } from '../../runtime/server/model-server.js';
import { predictWithModels } from '../../runtime/simulate/run-models.js';
import { allRows, evaluateThreshold } from '../../runtime/simulate/sweep.js';
import { simulateDecisions } from '../../runtime/simulate/decisions.js';
import { loadFashionMnist } from '../../models/dataset/fashion-mnist.js';
import { BASE, QUIET_LOG, SAVER, imageBatch, metricsText, sample, startZooServer } from './router-helpers.js';

const BIN = fileURLToPath(new URL('../../bin/tinysaver.js', import.meta.url));
const N = 1200;
let base: RunningModelServer;
let images: Float32Array;
let dir: string;
const routers: RunningRouter[] = [];

beforeAll(async () => {
  base = await startZooServer(BASE);
  images = (await loadFashionMnist('test')).images.slice(0, N * 784);
  dir = mkdtempSync(join(tmpdir(), 'decision-log-it-'));
});

afterAll(async () => {
  await Promise.all(routers.map((r) => r.close()));
  await base?.close();
});

async function router(over: Parameters<typeof startRouter>[0]): Promise<RunningRouter> {
  const r = await startRouter({
    port: 0,
    saverOnnx: zooModelPath(SAVER),
    saverModel: SAVER,
    baseUrl: base.url,
    baseModel: BASE,
    ...QUIET_LOG,
    ...over,
  });
  routers.push(r);
  return r;
}

/** Rows [0, n) in requests of `batch` rows, `concurrency` at a time. */
async function replay(url: string, n: number, batch: number, concurrency: number, id = (k: number) => `q${k}`): Promise<number> {
  const c = new V2Client(url);
  let next = 0;
  let ok = 0;
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (;;) {
          const k = next++;
          if (k * batch >= n) return;
          const rows = Math.min(batch, n - k * batch);
          const res = await c.infer('cascade', { ...imageBatch(images, rows, k * batch), id: id(k) });
          if (res.outputs.length > 0) ok++;
        }
      }),
    );
  } finally {
    c.close();
  }
  return ok;
}

describe('decision log on a real router', () => {
  it('simulate --decisions on the logged replay agrees with simulate on the labelled rows', async () => {
    const path = join(dir, 'replay.jsonl');
    const r = await router({ threshold: 0.8, auditRate: 0.4, decisionLog: path, decisionSampleRate: 1, seed: 3 });
    expect(await replay(r.url, N, 8, 4)).toBe(N / 8);
    await r.auditsIdle();
    await r.close();

    const what = await simulateDecisions([path], { costRatio: 0.05, epsilon: 0.02, delta: 0.05, step: 0.05 });
    expect(what.read.bad).toEqual({});
    expect(what.versions).toHaveLength(1);
    const v = what.versions[0];
    expect(v.saver).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(v.base).toBe(`${BASE}@1`);
    expect(v.report.records).toBe(N);
    expect(v.report.routes.audit).toBeGreaterThan(50);

    // the same rows through `simulate`'s code path: both models over the labelled images
    const d = await loadFashionMnist('test');
    const preds = await predictWithModels(
      zooModelPath(SAVER),
      zooModelPath(BASE),
      { images: d.images, labels: d.labels, count: d.count, sampleShape: [1, 28, 28] },
      { limit: N },
    );
    const rows = allRows(N);
    const slack = 2 / N; // a row whose confidence sits on a threshold (batch-size numerics, 1e-6 rounding in the log)
    for (const s of [0.5, 0.7, 0.8, 0.85, 0.9, 0.95]) {
      const truth = evaluateThreshold(preds, rows, s, 0.05);
      const p = v.report.points.find((x) => x.threshold === s)!;
      // sample rate 1: the saver share is observed, not estimated
      expect(Math.abs(p.saverShare - truth.saverShare), `share at ${s}`).toBeLessThanOrEqual(slack);
      // above the threshold in force the disagreement comes from the audits: within 4 standard errors
      expect(Math.abs(p.disagreement - truth.disagreement), `disagreement at ${s} (se ${p.disagreementSe})`).toBeLessThanOrEqual(
        4 * p.disagreementSe + slack,
      );
      if (s < 0.8) expect(p.disagreementSe).toBeGreaterThan(0);
    }
    // below the threshold in force every row went to the base: the disagreement there is exact
    const below = evaluateThreshold(preds, rows, 0.5, 0.05).disagreement - evaluateThreshold(preds, rows, 0.8, 0.05).disagreement;
    const est =
      v.report.points.find((x) => x.threshold === 0.5)!.disagreement - v.report.points.find((x) => x.threshold === 0.8)!.disagreement;
    expect(Math.abs(est - below)).toBeLessThanOrEqual(slack);
  });

  it('records the generation change when the threshold file changes, and the new sample rate', async () => {
    const path = join(dir, 'gen.jsonl');
    const file = join(dir, 'threshold.json');
    writeFileSync(file, JSON.stringify({ threshold: 0.8, auditRate: 0, decisionSampleRate: 0 }));
    const r = await router({ thresholdFile: file, reloadIntervalMs: 60_000, decisionLog: path });
    await replay(r.url, 80, 8, 1);
    writeFileSync(file, JSON.stringify({ threshold: 0.9, auditRate: 0, decisionSampleRate: 1 }));
    await r.reloadThreshold();
    await replay(r.url, 80, 8, 1, (k) => `after-${k}`);
    await r.close();
    const recs = readFileSync(path, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(recs.filter((x) => x.kind === 'settings').map((x) => [x.gen, x.threshold, x.sampleRate, x.reason])).toEqual([
      [0, 0.8, 0, 'start'],
      [1, 0.9, 1, 'file'],
    ]);
    const rows = recs.filter((x) => x.kind === 'row');
    // sample rate 0 before the change (no audits: nothing logged), every row after it, under generation 1
    expect(rows).toHaveLength(80);
    expect(rows.every((x) => x.gen === 1 && x.threshold === 0.9 && x.request.startsWith('after-'))).toBe(true);
  });

  it('rotates under load and keeps the files within the total cap', async () => {
    const path = join(dir, 'rot', 'decisions.jsonl');
    await import('node:fs/promises').then((fs) => fs.mkdir(join(dir, 'rot')));
    const r = await router({
      threshold: 0.8,
      auditRate: 0.1,
      decisionLog: path,
      decisionSampleRate: 1,
      decisionInputs: 'hash',
      decisionLogMaxFileMib: 0.03,
      decisionLogMaxTotalMib: 0.09,
    });
    expect(await replay(r.url, N, 4, 8)).toBe(N / 4);
    await r.auditsIdle();
    // a file keeps up with this load: nothing dropped
    expect(sample(await metricsText(r.url), 'tinysaver_decision_log_dropped_total')).toBe(0);
    await r.close();
    const files = readdirSync(join(dir, 'rot')).sort();
    expect(files).toEqual(['decisions.jsonl', 'decisions.jsonl.1', 'decisions.jsonl.2']);
    const max = Math.round(0.03 * 1024 * 1024);
    let total = 0;
    for (const f of files) {
      const size = statSync(join(dir, 'rot', f)).size;
      expect(size).toBeLessThanOrEqual(max);
      total += size;
      for (const l of readFileSync(join(dir, 'rot', f), 'utf8')
        .split('\n')
        .filter(Boolean))
        expect(parseDecisionLine(l).ok, l).toBe(true);
    }
    expect(total).toBeLessThanOrEqual(3 * max);
  });

  it('a sink that blocks (stdout into a full pipe) does not stall requests; drops are counted', async () => {
    const child = spawn(
      process.execPath,
      [
        BIN,
        'route',
        '--port',
        '0',
        '--grpc-port',
        '0',
        '--saver-onnx',
        zooModelPath(SAVER),
        '--saver-model',
        SAVER,
        '--base-url',
        base.url,
        '--base-model',
        BASE,
        '--threshold',
        '0.8',
        '--decision-log',
        '-',
        '--decision-sample-rate',
        '1',
        '--decision-inputs',
        'tensor',
        '--decision-log-queue',
        '64',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    // stdout is never read: once the pipe buffer is full the router's writes block
    child.stdout!.pause();
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const t = setInterval(() => {
          const m = /serving model "cascade" at (http:\/\/\S+) /.exec(err);
          if (m) {
            clearInterval(t);
            resolve(m[1]);
          } else if (child.exitCode !== null) {
            clearInterval(t);
            reject(new Error(`route exited: ${err}`));
          }
        }, 50);
      });
      // each request logs 16 rows with their 784-value input tensors (~100 KiB of log): the pipe fills at once
      expect(await replay(url, 16 * 150, 16, 4)).toBe(150);
      const m = await metricsText(url);
      expect(sample(m, 'tinysaver_decision_log_dropped_total')).toBeGreaterThan(0);
      expect(sample(m, 'tinysaver_rows_total', { route: 'saver' }) + sample(m, 'tinysaver_rows_total', { route: 'base' })).toBe(16 * 150);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
