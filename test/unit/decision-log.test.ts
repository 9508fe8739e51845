import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { certifyThreshold } from '../../core/cascade/certify.js';
import { countsFromRows } from '../../core/cascade/histogram.js';
import { DecisionEstimator, sweepGrid } from '../../runtime/decisions/estimate.js';
import { readDecisionLogs } from '../../runtime/decisions/read.js';
import { type DecisionRecord, type RowRecord, inclusion, parseDecisionLine } from '../../runtime/decisions/record.js';
import { RouterDecisionLog, rowHash } from '../../runtime/decisions/router-log.js';
import { type DecisionSink, RotatingFileSink } from '../../runtime/decisions/sink.js';
import { DecisionLog } from '../../runtime/decisions/writer.js';
import { DecisionSummarizer } from '../../runtime/decisions/summary.js';
import { simulateDecisions } from '../../runtime/simulate/decisions.js';
import { logTraffic, population, truth } from '../support/decision-traffic.js';

const EST = { costRatio: 0.05, epsilon: 0.02, delta: 0.05 };

function collect(p: ReturnType<typeof population>, o: Parameters<typeof logTraffic>[1]): DecisionRecord[] {
  const out: DecisionRecord[] = [];
  logTraffic(p, o, (r) => out.push(r));
  return out;
}

const rowsOf = (recs: DecisionRecord[]) => recs.filter((r): r is RowRecord => r.kind === 'row');

describe('decision record format', () => {
  it('writes a settings record at start and row records with every documented field; lines parse back', () => {
    const recs: DecisionRecord[] = [];
    const log = new RouterDecisionLog({
      log: { push: (r) => (recs.push(r), true) },
      cascade: 'c1',
      saver: 'sha256:aa',
      base: 'base@1',
      sampleRate: 1,
      includeInputs: 'hash',
      seed: 3,
      pod: 'p0',
      threshold: 0.8,
      auditRate: 0.5,
      now: () => Date.parse('2026-12-01T01:02:03.004Z'),
    });
    const input = { name: 'x', datatype: 'FP32' as const, shape: [3, 2], data: Float32Array.from([1, 2, 3, 4, 5, 6]) };
    const handle = log.request({
      req: { inputs: [input] },
      confidence: Float64Array.from([0.9, 0.5, NaN]),
      saverTop1: Int32Array.from([1, 2, 3]),
      baseTop1: Int32Array.from([-1, 7, 3]),
      routes: ['saver', 'base', 'fallback'],
      audited: [0],
      threshold: 0.8,
      auditRate: 0.5,
      ms: { saver: 0.12345, base: 1.5, total: 2 },
    });
    expect(recs[0]).toMatchObject({
      v: 1,
      kind: 'settings',
      gen: 0,
      threshold: 0.8,
      auditRate: 0.5,
      sampleRate: 1,
      reason: 'start',
      pod: 'p0',
    });
    // rows 1 and 2 at once; row 0 (audited) only when its audit ends
    expect(rowsOf(recs).map((r) => r.row)).toEqual([1, 2]);
    handle!.done([4]);
    const rows = rowsOf(recs);
    expect(rows.map((r) => [r.row, r.route, r.baseTop1])).toEqual([
      [1, 'base', 7],
      [2, 'fallback', null],
      [0, 'audit', 4],
    ]);
    const a = rows[2];
    expect(a).toMatchObject({
      v: 1,
      kind: 'row',
      time: '2026-12-01T01:02:03.004Z',
      cascade: 'c1',
      pod: 'p0',
      request: 'p0-1',
      rows: 3,
      conf: 0.9,
      saverTop1: 1,
      threshold: 0.8,
      auditRate: 0.5,
      sampleRate: 1,
      gen: 0,
      saver: 'sha256:aa',
      base: 'base@1',
      ms: { saver: 0.123, base: 1.5, total: 2 },
    });
    expect(rows[1].conf).toBeNull();
    // the hash covers the row's own bytes: row 0 differs from row 1, and equals a recomputation
    expect((a.input as { sha256: string }).sha256).toBe(rowHash([input], 0));
    expect(rowHash([input], 0)).not.toBe(rowHash([input], 1));
    for (const r of recs) {
      const back = parseDecisionLine(JSON.stringify(r));
      expect(back.ok, JSON.stringify(back)).toBe(true);
    }
  });

  it('logs the input tensor of a row on opt-in', () => {
    const recs: DecisionRecord[] = [];
    const log = new RouterDecisionLog({
      log: { push: (r) => (recs.push(r), true) },
      cascade: 'c',
      saver: 's',
      base: 'b',
      sampleRate: 1,
      includeInputs: 'tensor',
      seed: 1,
      pod: 'p',
      threshold: 0.5,
      auditRate: 0,
    });
    log.request({
      req: { id: 'r1', inputs: [{ name: 'x', datatype: 'INT64', shape: [2, 2], data: BigInt64Array.from([1n, 2n, 3n, 4n]) }] },
      confidence: [0.9, 0.9],
      saverTop1: [0, 0],
      routes: ['saver', 'saver'],
      audited: [],
      threshold: 0.5,
      auditRate: 0,
      ms: { saver: 1, total: 1 },
    });
    expect(rowsOf(recs)[1]).toMatchObject({
      request: 'r1',
      row: 1,
      input: { tensors: [{ name: 'x', datatype: 'INT64', shape: [1, 2], data: [3, 4] }] },
    });
  });

  it('refuses bad lines naming the field, and never throws', () => {
    const good = {
      v: 1,
      kind: 'row',
      time: '2026-12-01T00:00:00Z',
      cascade: 'c',
      pod: 'p',
      request: 'r',
      row: 0,
      rows: 1,
      route: 'base',
      conf: 0.3,
      saverTop1: 1,
      baseTop1: 2,
      threshold: 0.5,
      auditRate: 0.1,
      sampleRate: 0.5,
      gen: 0,
      saver: 's',
      base: 'b',
      ms: { saver: 1, total: 2 },
    };
    expect(parseDecisionLine(JSON.stringify(good)).ok).toBe(true);
    const bad = (patch: Record<string, unknown>) => {
      const r = parseDecisionLine(JSON.stringify({ ...good, ...patch }));
      return r.ok ? 'ok' : r.error;
    };
    expect(bad({ v: 2 })).toMatch(/version/);
    expect(bad({ time: 'yesterday' })).toMatch(/"time"/);
    expect(bad({ route: 'elsewhere' })).toMatch(/"route"/);
    expect(bad({ conf: 1.5 })).toMatch(/"conf"/);
    expect(bad({ baseTop1: null })).toMatch(/"baseTop1"/);
    expect(bad({ route: 'saver', baseTop1: null })).toMatch(/below threshold/);
    expect(bad({ row: 1 })).toMatch(/"row"/);
    expect(bad({ sampleRate: -1 })).toMatch(/"sampleRate"/);
    for (const line of ['', '{', 'null', '[1,2]', '{"v":1', 'garbage \u0000 bytes']) expect(parseDecisionLine(line).ok).toBe(false);
  });
});

describe('sampling', () => {
  const pop = population(20_000, 11);
  it('logs nothing with sample rate 0 and no audits, every row at rate 1', () => {
    expect(rowsOf(collect(pop, { threshold: 0.8, auditRate: 0, sampleRate: 0, seed: 1 }))).toHaveLength(0);
    const all = rowsOf(collect(pop, { threshold: 0.8, auditRate: 0.1, sampleRate: 1, seed: 1 }));
    expect(all).toHaveLength(20_000);
  });

  it('logs every audited row and about the sample rate of the others', () => {
    const recs = rowsOf(collect(pop, { threshold: 0.8, auditRate: 0.05, sampleRate: 0.1, seed: 2 }));
    const saverRows = Array.from(pop.conf).filter((c) => c >= 0.8).length;
    const audits = recs.filter((r) => r.route === 'audit').length;
    // binomial(saverRows, 0.05) within 5 sd
    expect(Math.abs(audits - 0.05 * saverRows)).toBeLessThan(5 * Math.sqrt(saverRows * 0.05 * 0.95));
    const others = recs.length - audits;
    const candidates = 20_000 - audits;
    expect(Math.abs(others - 0.1 * candidates)).toBeLessThan(5 * Math.sqrt(candidates * 0.1 * 0.9));
    // every audit the router picked is there: the same seeded draws decide audits with the log on or off
    const withLogOff = rowsOf(collect(pop, { threshold: 0.8, auditRate: 0.05, sampleRate: 0, seed: 2 }));
    expect(withLogOff.map((r) => `${r.request}/${r.row}`)).toEqual(
      recs.filter((r) => r.route === 'audit').map((r) => `${r.request}/${r.row}`),
    );
  });

  it('records a new generation on every settings change, with the previous values', () => {
    const recs: DecisionRecord[] = [];
    const log = new RouterDecisionLog({
      log: { push: (r) => (recs.push(r), true) },
      cascade: 'c',
      saver: 's',
      base: 'b',
      sampleRate: 0,
      includeInputs: 'none',
      seed: 1,
      pod: 'p',
      threshold: 0.9,
      auditRate: 0.02,
    });
    log.settings({ threshold: 0.9, auditRate: 0.02 }, 'file');
    expect(recs).toHaveLength(1);
    log.settings({ threshold: 0.85 }, 'file');
    log.settings({ sampleRate: 0.01 }, 'file');
    expect(log.generation).toBe(2);
    expect(recs.slice(1)).toMatchObject([
      { kind: 'settings', gen: 1, threshold: 0.85, prev: { gen: 0, threshold: 0.9 } },
      { kind: 'settings', gen: 2, sampleRate: 0.01, prev: { gen: 1, sampleRate: 0 } },
    ]);
  });

  it('gives the inclusion probabilities the weights rest on', () => {
    expect(inclusion('saver', 0.1, 0.2)).toEqual({ logged: 0.1 + 0.9 * 0.2, baseKnown: 0.1 });
    expect(inclusion('audit', 0.1, 0)).toEqual({ logged: 0.1, baseKnown: 0.1 });
    expect(inclusion('base', 0.1, 0.2)).toEqual({ logged: 0.2, baseKnown: 0.2 });
    expect(inclusion('fallback', 0.1, 0.2)).toEqual({ logged: 0.2, baseKnown: 0 });
  });
});

describe('IPW what-if estimator', () => {
  const grid = sweepGrid(0.05);
  it('equals the brute-force truth at sample rate 1 and audit rate 1', () => {
    const pop = population(5000, 21);
    const est = new DecisionEstimator(grid);
    for (const r of rowsOf(collect(pop, { threshold: 0.7, auditRate: 1, sampleRate: 1, seed: 3 }))) est.add(r);
    const res = est.result(EST);
    expect(res.estimatedRows).toBeCloseTo(5000, 9);
    for (const p of res.points) {
      const t = truth(pop, p.threshold);
      expect(p.saverShare).toBeCloseTo(t.share, 12);
      expect(p.disagreement).toBeCloseTo(t.disagreement, 12);
      expect(p.saverShareSe).toBe(0);
    }
  });

  it('is unbiased and its 95 % intervals cover the truth at sample rate 0.2, audit rate 0.1', () => {
    const pop = population(20_000, 5);
    const checks = [0.5, 0.7, 0.8, 0.9, 0.95];
    let covered = 0;
    let cases = 0;
    const meanShare = new Array(checks.length).fill(0);
    const meanDis = new Array(checks.length).fill(0);
    const reps = 30;
    for (let seed = 1; seed <= reps; seed++) {
      const est = new DecisionEstimator(grid);
      for (const r of rowsOf(collect(pop, { threshold: 0.8, auditRate: 0.1, sampleRate: 0.2, seed }))) est.add(r);
      const res = est.result(EST);
      checks.forEach((s, j) => {
        const p = res.points.find((x) => x.threshold === s)!;
        const t = truth(pop, s);
        meanShare[j] += p.saverShare / reps;
        meanDis[j] += p.disagreement / reps;
        for (const [v, se, tv] of [
          [p.saverShare, p.saverShareSe, t.share],
          [p.disagreement, p.disagreementSe, t.disagreement],
        ]) {
          cases++;
          if (Math.abs(v - tv) <= res.z * se) covered++;
        }
      });
    }
    // nominal 95 %: over 300 seeded cases, at least 88 % covered (a wrong weight or variance fails this by far)
    expect(covered / cases).toBeGreaterThan(0.88);
    checks.forEach((s, j) => {
      const t = truth(pop, s);
      expect(Math.abs(meanShare[j] - t.share)).toBeLessThan(0.01);
      expect(Math.abs(meanDis[j] - t.disagreement)).toBeLessThan(0.006);
    });
  });

  it('corrects for dropped audits', () => {
    const pop = population(40_000, 9);
    const est = new DecisionEstimator(grid);
    for (const r of rowsOf(collect(pop, { threshold: 0.5, auditRate: 0.3, sampleRate: 0.05, seed: 4, dropRate: 0.5 }))) est.add(r);
    const res = est.result(EST);
    expect(res.auditsDropped).toBeGreaterThan(0);
    const p = res.points.find((x) => x.threshold === 0.6)!;
    const t = truth(pop, 0.6);
    expect(Math.abs(p.disagreement - t.disagreement)).toBeLessThan(4 * p.disagreementSe + 1e-9);
    expect(res.notes.join(' ')).toMatch(/did not run/);
  });

  it('rebuilds the controller counts exactly at sample rate 1: the same certification as on the live histograms', () => {
    const pop = population(20_000, 13);
    const recs = rowsOf(collect(pop, { threshold: 0.8, auditRate: 0.2, sampleRate: 1, seed: 5 }));
    const est = new DecisionEstimator(grid);
    for (const r of recs) est.add(r);
    const res = est.result({ ...EST, min: 0.5, max: 1 });
    // the controller's view of the same traffic: rows below 0.8 escalated, audited rows known
    const auditedKeys = new Set(recs.filter((r) => r.route === 'audit').map((r) => `${r.request}/${r.row}`));
    const audited = Array.from(pop.conf, (_, i) => auditedKeys.has(`req-${Math.floor(i / 4)}/${i % 4}`));
    const agree = Array.from(pop.conf, (_, i) => pop.saverTop1[i] === pop.baseTop1[i]);
    const counts = countsFromRows(pop.conf, agree, { kind: 'live', threshold: 0.8, audited });
    const live = certifyThreshold(counts, { epsilon: EST.epsilon, delta: EST.delta, min: 0.5, max: 1 });
    expect(res.certification.threshold).toBe(live.threshold);
    expect(res.certification.bound).toBeCloseTo(live.bound ?? NaN, 12);
    expect(res.certification.candidates.map((c) => c.bound)).toEqual(live.candidates.map((c) => expect.closeTo(c.bound, 12)));
  });
});

class MemorySink implements DecisionSink {
  readonly describe = 'memory';
  lines: string[] = [];
  block = false;
  private release: Array<() => void> = [];
  write(lines: string[]): Promise<void> {
    if (this.block) return new Promise((r) => this.release.push(() => (this.lines.push(...lines), r())));
    this.lines.push(...lines);
    return Promise.resolve();
  }
  unblock(): void {
    this.block = false;
    for (const r of this.release.splice(0)) r();
  }
  async close(): Promise<void> {}
}

const settingsRec = (i: number): DecisionRecord => ({
  v: 1,
  kind: 'settings',
  time: new Date(i).toISOString(),
  cascade: 'c',
  pod: 'p',
  gen: i,
  threshold: 0.5,
  auditRate: 0,
  sampleRate: 0,
  reason: 'test',
  saver: 's',
  base: 'b',
});

describe('decision log queue and sinks', () => {
  it('drops and counts instead of waiting when the sink stalls; drains when it moves again', async () => {
    const sink = new MemorySink();
    sink.block = true;
    let dropped = 0;
    const log = new DecisionLog({ sink, maxQueue: 100, batch: 10, onDrop: (n) => (dropped += n) });
    for (let i = 0; i < 50; i++) log.push(settingsRec(i));
    await new Promise((r) => setImmediate(r));
    // one batch of 10 is stuck in the sink; 40 wait; 60 more fit, the rest are dropped
    let accepted = 0;
    for (let i = 0; i < 200; i++) if (log.push(settingsRec(i))) accepted++;
    expect(accepted).toBe(60);
    expect(dropped).toBe(140);
    expect(log.stats.dropped).toBe(140);
    sink.unblock();
    await log.flush();
    expect(sink.lines).toHaveLength(110);
    expect(log.stats.written).toBe(110);
    for (const l of sink.lines) expect(parseDecisionLine(l.trimEnd()).ok).toBe(true);
  });

  it('counts a failing sink as drops and reports the error once', async () => {
    const errors: string[] = [];
    const log = new DecisionLog({
      sink: { describe: 'broken', write: () => Promise.reject(new Error('EIO')), close: async () => {} },
      onError: (m) => errors.push(m),
    });
    for (let i = 0; i < 5; i++) log.push(settingsRec(i));
    await log.flush();
    for (let i = 0; i < 5; i++) log.push(settingsRec(i));
    await log.flush();
    expect(log.stats.dropped).toBe(10);
    expect(errors).toEqual(['decision log: writing to broken failed: EIO']);
  });

  it('rotates by size and keeps the total under the cap', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dlog-'));
    const path = join(dir, 'decisions.jsonl');
    const sink = new RotatingFileSink({ path, maxFileBytes: 4096, maxTotalBytes: 3 * 4096 });
    const log = new DecisionLog({ sink, batch: 37 });
    for (let i = 0; i < 2000; i++) log.push(settingsRec(i));
    await log.close();
    const files = readdirSync(dir).sort();
    expect(files).toEqual(['decisions.jsonl', 'decisions.jsonl.1', 'decisions.jsonl.2']);
    let total = 0;
    for (const f of files) {
      const size = statSync(join(dir, f)).size;
      expect(size).toBeLessThanOrEqual(4096);
      total += size;
      for (const l of readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean)) expect(parseDecisionLine(l).ok).toBe(true);
    }
    expect(total).toBeLessThanOrEqual(3 * 4096);
    expect(sink.rotations).toBeGreaterThan(10);
    // the newest records are in the current file, the oldest surviving ones in .2
    const last = JSON.parse(readFileSync(path, 'utf8').trim().split('\n').pop()!);
    expect(last.gen).toBe(1999);
  });
});

describe('reading logs: bad input is counted, never fatal; versions kept apart', () => {
  it('counts garbage, truncated last line and time range; estimates each version alone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dlog-read-'));
    const a = join(dir, 'a.jsonl');
    const b = join(dir, 'b.jsonl');
    const pop = population(4000, 3);
    const lines = (o: Parameters<typeof logTraffic>[1]) =>
      collect(pop, o)
        .map((r) => JSON.stringify(r))
        .join('\n') + '\n';
    writeFileSync(a, lines({ threshold: 0.8, auditRate: 0.2, sampleRate: 1, seed: 1 }));
    appendFileSync(a, 'not json at all\n{"v":1,"kind":"row"}\n\n');
    // pod b: another saver version, then a line cut in the middle
    const other = lines({ threshold: 0.6, auditRate: 0.2, sampleRate: 1, seed: 2, saver: 'sha256:saver-v2', pod: 'pod-b' });
    writeFileSync(b, other + other.split('\n')[5].slice(0, 40));
    const w = await simulateDecisions([a, b], { ...EST, step: 0.05 });
    expect(w.read.bad['not JSON (truncated or garbage line)']).toBe(1);
    expect(w.read.bad['"time" must be an ISO 8601 time']).toBe(1);
    expect(w.read.bad['truncated last line (no newline at the end of the file)']).toBe(1);
    expect(w.versions.map((v) => v.saver).sort()).toEqual(['sha256:saver', 'sha256:saver-v2']);
    for (const v of w.versions) {
      expect(v.report.records).toBe(4000);
      expect(v.report.points.find((p) => p.threshold === 0.85)!.saverShare).toBeCloseTo(truth(pop, 0.85).share, 12);
    }
    // --since/--until cut by record time: the first 1000 requests (1 ms apart) of each version
    const t0 = Date.parse('2026-12-01T00:00:00Z');
    const cut = await simulateDecisions([a, b], { ...EST, step: 0.05, since: t0, until: t0 + 500 });
    expect(cut.versions.map((v) => v.report.records)).toEqual([2000, 2000]);
    expect(cut.read.outsideRange).toBeGreaterThan(0);
  });

  it('summarizes per bucket and finds one request', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dlog-sum-'));
    const a = join(dir, 'a.jsonl');
    const pop = population(2000, 4);
    writeFileSync(
      a,
      collect(pop, { threshold: 0.8, auditRate: 0.5, sampleRate: 1, seed: 1, batch: 5 })
        .map((r) => JSON.stringify(r))
        .join('\n') + '\n',
    );
    const s = new DecisionSummarizer(100, 'req-7');
    await readDecisionLogs([a], (r) => s.add(r));
    const v = s.result();
    expect(v).toHaveLength(1);
    expect(v[0].buckets).toHaveLength(4); // 400 requests, 1 ms apart, 100 ms buckets
    const share = v[0].buckets.reduce((n, b) => n + b.saverShare * b.estimatedRows, 0) / 2000;
    expect(share).toBeCloseTo(truth(pop, 0.8).share, 9);
    expect(s.requestRows.map((r) => r.row).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(s.settings).toHaveLength(1);
  });
});

describe('the commands', () => {
  it('simulate --decisions and decisions print their reports; bad input is reported, exit 0; bad flags exit 2', async () => {
    const { vi } = await import('vitest');
    const sim = await import('../../cli/commands/simulate.js');
    const dec = await import('../../cli/commands/decisions.js');
    const dir = mkdtempSync(join(tmpdir(), 'dlog-cli-'));
    const a = join(dir, 'a.jsonl');
    const pop = population(3000, 8);
    writeFileSync(
      a,
      collect(pop, { threshold: 0.8, auditRate: 0.2, sampleRate: 0.5, seed: 1 })
        .map((r) => JSON.stringify(r))
        .join('\n') + '\n{"v":1,"kind":"row","time":"x"}\ngarbage',
    );
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((s: string) => void out.push(s));
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await sim.run(['--decisions', a, '--cost-ratio', '0.05', '--budget', '0.02'])).toBe(0);
      expect(out.join('\n')).toMatch(/skipped 2 bad line\(s\)/);
      expect(out.join('\n')).toMatch(/certified \(ε = 0\.02/);
      out.length = 0;
      expect(await dec.run([a, '--request', 'req-3'])).toBe(0);
      expect(out.join('\n')).toMatch(/request req-3: \d+ of 4 row\(s\) logged/);
      out.length = 0;
      expect(await dec.run([a, '--bucket', '1s'])).toBe(0);
      expect(out.join('\n')).toMatch(/settings changes \(1\)/);
      expect(await sim.run(['--decisions', a, '--since', 'last tuesday'])).toBe(2);
      expect(await sim.run(['--decisions'])).toBe(2);
      expect(await dec.run([a, '--bucket', 'soon'])).toBe(2);
      expect(await dec.run([join(dir, 'missing.jsonl')])).toBe(2);
    } finally {
      log.mockRestore();
      err.mockRestore();
      write.mockRestore();
    }
  });
});

describe('router start-up of the log and the threshold file', () => {
  it('reads decisionSampleRate from the threshold file and refuses a bad one naming it', async () => {
    const { parseThresholdFile } = await import('../../runtime/router/threshold-file.js');
    expect(parseThresholdFile('{"threshold":0.9,"auditRate":0.02,"decisionSampleRate":0.01}')).toEqual({
      ok: true,
      value: { threshold: 0.9, auditRate: 0.02, decisionSampleRate: 0.01 },
    });
    expect(parseThresholdFile('{"threshold":0.9}')).toEqual({ ok: true, value: { threshold: 0.9 } });
    const bad = parseThresholdFile('{"threshold":0.9,"decisionSampleRate":2}');
    expect(bad.ok ? '' : bad.error).toMatch(/decisionSampleRate/);
  });

  it('opens the file sink at start (a bad path is an error naming it), writes the start record, names models', async () => {
    const { startDecisionLog, modelIdentity, DECISION_LOG_DEFAULTS } = await import('../../runtime/decisions/start.js');
    const dir = mkdtempSync(join(tmpdir(), 'dlog-start-'));
    const o = {
      cascade: 'c',
      saver: 's',
      base: 'b',
      seed: 1,
      threshold: 0.9,
      auditRate: 0.02,
      onDrop: () => undefined,
      log: () => undefined,
    };
    expect(await startDecisionLog({ ...DECISION_LOG_DEFAULTS }, o)).toBeUndefined();
    await expect(startDecisionLog({ ...DECISION_LOG_DEFAULTS, decisionLog: join(dir, 'no/such/dir/x.jsonl') }, o)).rejects.toThrow(
      /--decision-log .*no\/such\/dir.*ENOENT/,
    );
    const path = join(dir, 'x.jsonl');
    const started = await startDecisionLog({ ...DECISION_LOG_DEFAULTS, decisionLog: path, decisionSampleRate: 0.5 }, o);
    await started!.close();
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ kind: 'settings', gen: 0, sampleRate: 0.5, saver: 's', base: 'b' });
    const onnx = join(dir, 'm.onnx');
    writeFileSync(onnx, 'bytes');
    const { createHash } = await import('node:crypto');
    expect(await modelIdentity(undefined, onnx, 'saver', ['1'])).toBe(`sha256:${createHash('sha256').update('bytes').digest('hex')}`);
    expect(await modelIdentity('given', onnx, 'saver', ['1'])).toBe('given');
    expect(await modelIdentity(undefined, undefined, 'base', ['1', '2'])).toBe('base@2');
    expect(await modelIdentity(undefined, undefined, 'base', undefined)).toBe('base@unversioned');
  });
});
