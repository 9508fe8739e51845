// `tinysaver up --control ...`: the operator's ThresholdController on the local router, fed by
// `tinysaver replay --drift`. Asserts directions and guarantees counted in control intervals, never
// wall-clock times: a drifting stream raises the threshold within a bounded number of intervals (for a
// bound above the budget), a clean stream lowers it again (to a threshold certified within the budget);
// mode observe never writes the threshold file; the live view's JSON endpoint keeps its schema; bad
// flags exit 2 naming the flag.

import { execFile } from 'node:child_process';
import { readFile, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { BIN, type Child, getJson, requireDist, sleep, spawnCli, startUp } from './up-helpers.js';
import { rawRequest } from './router-helpers.js';

const run = promisify(execFile);
const children: Child[] = [];
const track = <T extends Child>(c: T): T => (children.push(c), c);

beforeAll(requireDist);
afterEach(async () => {
  for (const c of children.splice(0)) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
});

interface Sample {
  t: number;
  threshold: number;
  min: number;
  max: number;
  recommended: number | null;
  bound: number | null;
  budget: number;
  auditRate: number;
  rows: number;
  share: number | null;
  escalation: number | null;
  latencyP50Ms: Record<string, number | null>;
  latencyP95Ms: Record<string, number | null>;
  holding: boolean;
  reason: string;
}
interface Decision {
  t: number;
  first: number;
  count: number;
  from: number;
  to: number;
  changed: boolean;
  direction: string;
  reason: string;
  message: string;
  bound: number | null;
  boundAfter: number | null;
  budget: number;
  auditRate: number;
}
interface Live {
  schema: string;
  instance: string;
  startedAt: number;
  now: number;
  config: Record<string, unknown>;
  samples: Sample[];
  decisions: Decision[];
}

// Short intervals and window (flags), so the test sees many control intervals quickly.
const CONTROL = ['--interval', '1s', '--window', '6s', '--min-audits', '50', '--epsilon', '0.01', '--saver', 'saver-tinycnn'];
const STREAM = ['--loop', '--rate', '500', '--batch-size', '25', '--concurrency', '2'];
const NOISE = ['--drift', 'noise', '--severity', '0.5', '--schedule', 'constant'];

/** Polls the view until `until` holds or `maxActing` acting intervals (data, no guard holding) passed since `since`. */
async function watch(
  view: string,
  since: number,
  maxActing: number,
  until: (l: Live) => boolean,
): Promise<{ live: Live; acting: number; met: boolean }> {
  const safety = Date.now() + 240_000; // only so a broken run cannot hang the suite; never the assertion
  for (;;) {
    const { body: live } = await getJson<Live>(`${view}/api/live`);
    const acting = live.samples.filter((s) => s.t > since && !s.holding && s.rows > 0).length;
    if (until(live)) return { live, acting, met: true };
    if (acting >= maxActing || Date.now() > safety) return { live, acting, met: false };
    await sleep(300);
  }
}

describe('up --control adaptive with a drifting replay', () => {
  test('raises the threshold under drift and lowers it after the drift stops, each within a bounded number of intervals', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tinysaver-upctl-'));
    const statusFile = path.join(dir, 'status.json');
    const up = track(await startUp(['--control', 'adaptive', ...CONTROL, '--status-file', statusFile]));
    expect(up.view).toBeDefined();
    const view = up.view!;
    const initial = 0.88;

    // ---- drift: the saver turns confidently wrong on noisy images; the bound at 0.88 exceeds the budget
    const t0 = Date.now();
    const drift = track(spawnCli(['replay', '--url', up.router, ...STREAM, ...NOISE]));
    const raised = await watch(view, t0, 15, (l) => l.decisions.some((d) => d.t > t0 && d.changed && d.direction === 'raise'));
    expect(raised.met, `no raise within ${raised.acting} acting intervals:\n${up.out().slice(-3000)}`).toBe(true);
    const raise = raised.live.decisions.find((d) => d.t > t0 && d.changed && d.direction === 'raise')!;
    expect(raise.reason).toBe('BoundExceeded');
    expect(raise.from).toBe(initial);
    expect(raise.to).toBeGreaterThan(raise.from);
    expect(raise.bound!).toBeGreaterThan(raise.budget); // raised because the certified bound broke the budget
    expect(raise.to).toBeLessThanOrEqual(1);
    expect(await drift.stop()).toBe(0);
    expect(drift.out()).toMatch(/drift\s+noise, peak severity 0.5, schedule constant/);

    // ---- clean traffic again: the window refills with clean rows and the threshold comes back down
    const t1 = Date.now();
    const high = Math.max(...raised.live.samples.map((s) => s.threshold));
    const clean = track(spawnCli(['replay', '--url', up.router, ...STREAM]));
    const lowered = await watch(view, t1, 60, (l) => l.decisions.some((d) => d.t > t1 && d.changed && d.direction === 'lower'));
    expect(lowered.met, `no lowering within ${lowered.acting} acting intervals:\n${up.out().slice(-3000)}`).toBe(true);
    expect(await clean.stop()).toBe(0);
    const after = lowered.live.decisions.filter((d) => d.t > t1 && d.changed && d.direction === 'lower');
    for (const d of after) {
      expect(d.reason).toBe('Certified');
      expect(d.to).toBeLessThan(d.from);
      expect(d.to).toBeGreaterThanOrEqual(0.5); // --min (CRD default)
      // one step (maxStep, or the next grid edge); after a detected return to clean (controller v2) the
      // threshold may go straight to the certified one, which the bound check below still holds to
      if (!/change detected|return to clean|calibration re-admitted/.test(d.message))
        expect(d.from - d.to).toBeLessThanOrEqual(0.02 + 1e-9 + 0.011);
      expect(d.boundAfter!).toBeLessThanOrEqual(d.budget); // only to a threshold certified within budget
    }
    expect(Math.min(...after.map((d) => d.to))).toBeLessThan(high);

    // every decision line was printed; the router follows the file the controller wrote
    const lines = up
      .out()
      .split('\n')
      .filter((l) => /^\d\d:\d\d:\d\d {2}t /.test(l));
    expect(lines.length).toBeGreaterThanOrEqual(lowered.live.samples.length - 2);
    expect(lines.some((l) => /t 0\.88 -> [\d.]+\s+BoundExceeded\s+bound [\d.]+% > budget 1\.00%/.test(l))).toBe(true);
    // (a cycle may rewrite the file between the two reads: compare a consistent pair)
    let file = { threshold: NaN, auditRate: NaN };
    let gauge = NaN;
    for (let i = 0; i < 20 && gauge !== file.threshold; i++) {
      if (i > 0) await sleep(250);
      file = JSON.parse(await readFile(up.thresholdFile, 'utf8'));
      gauge = Number(/^tinysaver_threshold (\S+)$/m.exec((await rawRequest(up.router, 'GET', '/metrics')).body.toString())?.[1]);
    }
    expect(gauge).toBe(file.threshold);

    // --status-file: the ModelCascade-like object with the threshold history
    await sleep(1500);
    const status = JSON.parse(await readFile(statusFile, 'utf8'));
    expect(status.kind).toBe('ModelCascade');
    expect(status.spec.threshold).toMatchObject({ mode: 'adaptive', initial: initial });
    expect(status.spec.budget).toEqual({ maxAccuracyLoss: 0.01, confidence: 0.95 });
    const history = status.status.history as { from: number; to: number; reason: string; time: string }[];
    expect(history.length).toBeGreaterThan(0);
    expect(history.length).toBeLessThanOrEqual(10);
    expect(history.some((h) => h.reason === 'Certified' && h.to < h.from)).toBe(true);
    expect(history[history.length - 1]).toEqual(status.status.lastChange);
    expect(status.status.conditions[0].type).toBe('ThresholdControl');

    expect(await up.stop()).toBe(0);
  }, 300_000);
});

test('up --control observe computes decisions but never writes the threshold', async () => {
  const up = track(await startUp(['--control', 'observe', ...CONTROL]));
  const before = await readFile(up.thresholdFile, 'utf8');
  expect(JSON.parse(before)).toEqual({ threshold: 0.88, auditRate: 0.02 });
  const t0 = Date.now();
  const drift = track(spawnCli(['replay', '--url', up.router, ...STREAM, ...NOISE]));
  const seen = await watch(up.view!, t0, 8, () => false);
  await drift.stop();
  expect(seen.acting).toBeGreaterThanOrEqual(8);
  const acting = seen.live.samples.filter((s) => !s.holding && s.rows > 0);
  // the same evidence that makes adaptive raise: observe reports it and recommends more, applies nothing
  expect(acting.some((s) => s.bound! > s.budget)).toBe(true);
  expect(acting.some((s) => s.recommended! > 0.88)).toBe(true);
  expect(seen.live.samples.every((s) => s.threshold === 0.88)).toBe(true);
  expect(seen.live.decisions.every((d) => !d.changed && d.to === 0.88)).toBe(true);
  expect(await readFile(up.thresholdFile, 'utf8')).toBe(before);
  const metrics = (await rawRequest(up.router, 'GET', '/metrics')).body.toString();
  expect(Number(/^tinysaver_threshold (\S+)$/m.exec(metrics)?.[1])).toBe(0.88);
  expect(Number(/^tinysaver_audit_rate (\S+)$/m.exec(metrics)?.[1])).toBe(0.02);
  expect(up.out()).toMatch(/t 0\.88 \(observe: would be [\d.]+\)/);
  expect(await up.stop()).toBe(0);
}, 180_000);

test('the live view JSON endpoint keeps its schema; the view is read-only; the router port serves only the protocol', async () => {
  const up = track(await startUp(['--control', 'adaptive', ...CONTROL]));
  const view = up.view!;
  const t0 = Date.now();
  const stream = track(spawnCli(['replay', '--url', up.router, ...STREAM]));
  const got = await watch(view, t0, 3, () => false);
  await stream.stop();
  const { status, body: live, type } = await getJson<Live>(`${view}/api/live`);
  expect(status).toBe(200);
  expect(type).toMatch(/^application\/json/);
  expect(Object.keys(live).sort()).toEqual(['config', 'decisions', 'instance', 'now', 'samples', 'schema', 'startedAt']);
  expect(live.schema).toBe('tinysaver.live/v1');
  expect(typeof live.instance).toBe('string');
  expect(live.now).toBeGreaterThanOrEqual(live.startedAt);
  expect(live.config).toEqual({
    mode: 'adaptive',
    epsilon: 0.01,
    confidence: 0.95,
    min: 0.5,
    max: 1,
    initial: 0.88,
    intervalMs: 1000,
    windowMs: 6000,
    routers: [up.router],
    saver: 'saver-tinycnn',
    base: 'base-cnn',
  });
  const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  const numOrNull = (v: unknown) => v === null || num(v);
  expect(live.samples.length).toBeGreaterThanOrEqual(got.acting);
  for (const s of live.samples) {
    expect(Object.keys(s).sort()).toEqual(
      [
        'auditRate',
        'bound',
        'budget',
        'escalation',
        'holding',
        'latencyP50Ms',
        'latencyP95Ms',
        'max',
        'min',
        'reason',
        'recommended',
        'rows',
        'share',
        't',
        'threshold',
      ].sort(),
    );
    for (const k of ['t', 'threshold', 'min', 'max', 'budget', 'auditRate', 'rows'] as const) expect(num(s[k]), k).toBe(true);
    for (const k of ['recommended', 'bound', 'share', 'escalation'] as const) expect(numOrNull(s[k]), k).toBe(true);
    for (const q of [s.latencyP50Ms, s.latencyP95Ms]) {
      expect(Object.keys(q).sort()).toEqual(['base', 'saver', 'total']);
      for (const v of Object.values(q)) expect(numOrNull(v)).toBe(true);
    }
    expect(typeof s.holding).toBe('boolean');
    expect(typeof s.reason).toBe('string');
    if (s.rows > 0) {
      expect(s.share! + s.escalation!).toBeCloseTo(1, 9);
      expect(s.latencyP50Ms.total).not.toBeNull();
    } else {
      expect(s.share).toBeNull(); // no rows: no number, never a stale one
    }
  }
  const withRows = live.samples.filter((s) => s.rows > 0);
  expect(withRows.length).toBeGreaterThan(0);
  for (const s of withRows) expect(s.latencyP95Ms.total!).toBeGreaterThanOrEqual(s.latencyP50Ms.total!);
  expect(live.decisions.length).toBeGreaterThan(0);
  for (const d of live.decisions) {
    for (const k of ['t', 'first', 'count', 'from', 'to', 'budget', 'auditRate'] as const) expect(num(d[k]), k).toBe(true);
    expect(numOrNull(d.bound) && numOrNull(d.boundAfter)).toBe(true);
    expect(d.first).toBeLessThanOrEqual(d.t);
    expect(['raise', 'lower', 'none']).toContain(d.direction);
    expect(d.changed).toBe(d.direction !== 'none');
  }
  // ?since= returns only newer samples
  const last = live.samples[live.samples.length - 1].t;
  const newer = await getJson<Live>(`${view}/api/live?since=${last}`);
  expect(newer.body.samples.every((s) => s.t > last)).toBe(true);
  expect((await getJson(`${view}/api/live?since=yesterday`)).status).toBe(400);
  // /api/cascade: the ModelCascade-like object
  const mc = await getJson<{ kind: string; status: { threshold: number } }>(`${view}/api/cascade`);
  expect(mc.body.kind).toBe('ModelCascade');
  expect(num(mc.body.status.threshold)).toBe(true);
  // the page and its assets, from this server only
  const page = await fetch(`${view}/`);
  expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
  expect(await page.text()).toMatch(/<script type="module" src="view.js">/);
  expect((await fetch(`${view}/view.js`)).status).toBe(200);
  const ticks = await fetch(`${view}/ticks.js`); // core/plot/ticks.ts, compiled: the axes' round ticks
  expect(ticks.headers.get('content-type')).toMatch(/^text\/javascript/);
  expect(await ticks.text()).toMatch(/export function niceTicks/);
  // read-only
  const post = await fetch(`${view}/api/live`, { method: 'POST', body: '{}' });
  expect(post.status).toBe(405);
  expect((await fetch(`${view}/nothing`)).status).toBe(404);
  // the router's v2 port exposes nothing of the view
  for (const p of ['/', '/ui', '/api/live', '/view.js']) expect((await rawRequest(up.router, 'GET', p)).status).toBe(404);
  expect(await up.stop()).toBe(0);
}, 180_000);

describe('bad input exits 2 naming the flag', () => {
  const fails = async (args: string[]) =>
    (await run(process.execPath, [BIN, ...args]).catch((e) => e)) as { code?: number; stderr: string };
  test('replay --drift with an unknown kind', async () => {
    const r = await fails(['replay', '--drift', 'fog']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--drift: "fog" is not one of noise, blur, contrast, occlusion/);
  });
  test('replay --severity outside [0, 1]', async () => {
    for (const v of ['1.5', '-0.1']) {
      // --severity=V: parseArgs reads a separate '-0.1' as another option
      const r = await fails(['replay', '--drift', 'blur', `--severity=${v}`]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--severity: -?[\d.]+ is outside \[0, 1\]/);
    }
  });
  test('replay --schedule without --drift, unknown schedules, and a zero rate', async () => {
    expect((await fails(['replay', '--schedule', 'step'])).stderr).toMatch(/--schedule needs --drift/);
    expect((await fails(['replay', '--drift', 'blur', '--schedule', 'zigzag'])).stderr).toMatch(
      /--schedule: "zigzag" is not one of ramp, step, constant/,
    );
    const r = await fails(['replay', '--rate', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--rate: 0 is not a positive number/);
  });
  test('up --control adaptive without an audit rate', async () => {
    const r = await fails(['up', '--control', 'adaptive', '--audit-rate', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--audit-rate: --control adaptive needs audits/);
  });
  test('up --confidence, --epsilon, --control and --interval', async () => {
    expect((await fails(['up', '--confidence', '1.2'])).stderr).toMatch(/--confidence: "1.2" is not a confidence level in \[0.5, 1\)/);
    expect((await fails(['up', '--epsilon', '0'])).stderr).toMatch(/--epsilon: the budget must be above 0/);
    expect((await fails(['up', '--control', 'auto'])).stderr).toMatch(/--control: "auto" is not one of adaptive, observe, fixed/);
    expect((await fails(['up', '--interval', 'soon'])).stderr).toMatch(/--interval: "soon" is not a duration/);
    expect((await fails(['up', '--min', '0.9', '--threshold', '0.88'])).stderr).toMatch(
      /--threshold 0.88 must lie in \[--min 0.9, --max 1\]/,
    );
  });
});
