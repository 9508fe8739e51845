// `tinysaver profile --measure` and `tinysaver roi` end to end through the CLI (bin/tinysaver.js -> dist/,
// which `npm test` builds first) on the bundled models: real onnxruntime sessions measure capacity, real
// `simulate --json` output is the operating point. No wall-clock assertions: capacities must be positive
// and finite, and roi's replicas must follow from them.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replicasFor } from '../../runtime/roi/roi.js';

const run = (args: string[]) => promisify(execFile)(process.execPath, ['bin/tinysaver.js', ...args], { maxBuffer: 32 * 1024 * 1024 });
const fail = (args: string[]) =>
  run(args).then(
    () => {
      throw new Error(`expected tinysaver ${args.join(' ')} to fail`);
    },
    (e: { code: number; stderr: string }) => e,
  );

let dir: string;
let capacities: any[];
let sim: any;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tinysaver-roi-'));
  await run([
    'profile',
    'saver-tinycnn',
    'base-cnn',
    '--measure',
    '--seconds',
    '0.2',
    '--batch-sizes',
    '1,16',
    '--out',
    join(dir, 'cap.json'),
  ]);
  capacities = JSON.parse(readFileSync(join(dir, 'cap.json'), 'utf8'));
  const { stdout } = await run(['simulate', '--limit', '1000', '--json']);
  writeFileSync(join(dir, 'sim.json'), stdout);
  sim = JSON.parse(stdout);
  writeFileSync(join(dir, 'prices.yaml'), 'currency: EUR\ncpuCoreHour: 0.05\ngpuHour: 2\n');
}, 240_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tinysaver profile --measure on the bundled models', () => {
  it('reports positive, finite capacities per replica and per core, p50 <= p99, for every batch size', () => {
    expect(capacities).toHaveLength(2);
    for (const c of capacities) {
      expect(c.kind).toBe('tinysaver.capacity/v1');
      expect(c.provider).toBe('cpu');
      expect(c.cores).toBe(1);
      expect(c.batches.map((b: any) => b.batch)).toEqual([1, 16]);
      for (const b of c.batches) {
        expect(b.runs).toBeGreaterThanOrEqual(20);
        expect(Number.isFinite(b.rowsPerSecond) && b.rowsPerSecond > 0).toBe(true);
        expect(b.rowsPerSecondPerCore).toBeCloseTo(b.rowsPerSecond, 9); // one core
        expect(b.p50Ms).toBeGreaterThan(0);
        expect(b.p99Ms).toBeGreaterThanOrEqual(b.p50Ms);
      }
      expect(c.capacity.rowsPerSecond).toBe(Math.max(...c.batches.map((b: any) => b.rowsPerSecond)));
      expect(c.machine.logicalCpus).toBeGreaterThan(0);
    }
  });

  it('--provider cuda without a CUDA build fails with a clear error, and bad flags name themselves', async () => {
    const e = await fail(['profile', 'base-cnn', '--measure', '--provider', 'cuda', '--seconds', '0.1']);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(/CUDA execution provider not available.*Use --provider cpu/);
    expect((await fail(['profile', 'base-cnn', '--measure', '--batch-sizes', '1,0'])).stderr).toMatch(
      /--batch-sizes: "0" is not an integer >= 1/,
    );
    expect((await fail(['profile', 'base-cnn', '--threads', '2'])).stderr).toMatch(/--threads needs --measure/);
  });
});

describe('tinysaver roi from simulate --json and measured capacities', () => {
  const common = () => [
    'roi',
    '--from',
    join(dir, 'sim.json'),
    '--mean-rps',
    '2000',
    '--peak-rps',
    '5000',
    '--prices',
    join(dir, 'prices.yaml'),
  ];

  it('sizes replicas from the measured capacities and costs them from the price file', async () => {
    const report = join(dir, 'report.md');
    const { stdout } = await run([
      ...common(),
      '--saver-capacity',
      `${join(dir, 'cap.json')}#saver-tinycnn`,
      '--base-capacity',
      `${join(dir, 'cap.json')}#base-cnn`,
      '--json',
      '--report',
      report,
      '--training-cost',
      '100',
    ]);
    const r = JSON.parse(stdout);
    const saverCap = capacities.find((c) => c.model.endsWith('saver-tinycnn.onnx')).capacity.rowsPerSecond;
    const baseCap = capacities.find((c) => c.model.endsWith('base-cnn.onnx')).capacity.rowsPerSecond;
    const share = sim.budget.evaluation.saverShare;
    expect(r.input.saverShare).toBe(share);
    expect(r.input.auditRate).toBe(0.02); // simulate ran with audit rate 0: the ModelCascade default applies
    expect(r.baseOnly.replicas.base).toBe(replicasFor(5000, baseCap, 1.25));
    expect(r.cascade.replicas.saver).toBe(replicasFor(5000, saverCap, 1.25));
    expect(r.cascade.replicas.base).toBe(replicasFor(5000 * (1 - share + 0.02 * share), baseCap, 1.25));
    // both replicas are 1 CPU core at 0.05 EUR/h
    expect(r.baseOnly.perMonth).toBeCloseTo(r.baseOnly.replicas.base * 0.05 * 730, 6);
    expect(r.operatingPoint.lossBound).toBe(sim.budget.certification.bound);
    expect(r.currency).toBe('EUR');
    const md = readFileSync(report, 'utf8');
    expect(md).toMatch(/Accuracy cost:\*\* at most [0-9.]+% of rows/);
    expect(md).toContain('![monthly cost vs threshold](report.svg)');
    const svg = readFileSync(join(dir, 'report.svg'), 'utf8');
    expect(svg).toMatch(/^<svg/);
    expect(svg).toContain('chosen');
  });

  it('a GPU base passed by flag, with the table output', async () => {
    const { stdout } = await run([
      ...common(),
      '--saver-capacity',
      `${join(dir, 'cap.json')}#saver-tinycnn`,
      '--base-capacity',
      '3000',
      '--base-gpus',
      '1',
    ]);
    expect(stdout).toMatch(/base replica: {2}1 GPU, 2\.00 EUR\/h, 3,000 rows\/s/);
    expect(stdout).toMatch(/^base only\s+0\s+3\s/m); // ceil(6250 / 3000)
  });

  it('bad input: missing prices, unknown price keys, negative prices, zero capacity — errors name the field', async () => {
    const cap = ['--saver-capacity', '5000', '--saver-cores', '1', '--base-capacity', '3000', '--base-gpus', '1'];
    const base = ['roi', '--from', join(dir, 'sim.json'), '--mean-rps', '100', '--peak-rps', '200'];
    expect((await fail([...base, ...cap])).stderr).toMatch(/--prices FILE is required: no prices are built in/);
    writeFileSync(join(dir, 'typo.yaml'), 'gpuHour: 2\ncpuCorHour: 0.05\n');
    expect((await fail([...base, ...cap, '--prices', join(dir, 'typo.yaml')])).stderr).toMatch(/unknown key "cpuCorHour"/);
    writeFileSync(join(dir, 'neg.yaml'), 'gpuHour: -2\ncpuCoreHour: 0.05\n');
    expect((await fail([...base, ...cap, '--prices', join(dir, 'neg.yaml')])).stderr).toMatch(/gpuHour: must be >= 0, got -2/);
    writeFileSync(join(dir, 'gpu-only.yaml'), 'gpuHour: 2\n');
    expect((await fail([...base, ...cap, '--prices', join(dir, 'gpu-only.yaml')])).stderr).toMatch(
      /cpuCoreHour is missing \(a saver replica takes 1 core/,
    );
    const zero = await fail([
      ...base,
      '--saver-capacity',
      '0',
      '--base-capacity',
      '3000',
      '--base-gpus',
      '1',
      '--prices',
      join(dir, 'prices.yaml'),
    ]);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toMatch(/--saver-capacity: capacity must be a number of rows\/s per replica > 0, got 0/);
    expect(
      (
        await fail([
          ...base,
          '--saver-capacity',
          '5000',
          '--base-capacity',
          '3000',
          '--base-gpus',
          '1',
          '--prices',
          join(dir, 'prices.yaml'),
        ])
      ).stderr,
    ).toMatch(/--saver-capacity is a number: say what one saver replica takes/);
  });
});
