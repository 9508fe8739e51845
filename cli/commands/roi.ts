// `tinysaver roi`: will a cascade pay off on our traffic and hardware? Replicas and money, base only vs
// cascade, from an operating point (simulate/select output or flags), traffic, measured capacities and
// the user's price file. The arithmetic lives in runtime/roi; this file reads files and prints.

import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type FlagDef, parseFlags } from '../flags.js';
import {
  type Capacity,
  type OperatingPointInfo,
  parseCapacityFile,
  parseCapacityNumber,
  parseOperatingPoint,
  parseTrafficProfile,
} from '../../runtime/roi/inputs.js';
import { type ReplicaShape, parsePriceFile, replicaPricePerHour } from '../../runtime/roi/prices.js';
import { type RoiContext, formatRoi, roiMarkdown, roiPlotSvg } from '../../runtime/roi/report.js';
import { HOURS_PER_MONTH, computeRoi, profileStats } from '../../runtime/roi/roi.js';
import { reportJson } from './simulate.js';
import { SPEC_DEFAULTS } from '../../operator/api/model-cascade.js';

/** spec.router.auditRate's default (withDefaults): the floor a cascade audits at in production. */
const ROUTER_AUDIT_RATE_DEFAULT = SPEC_DEFAULTS.router.auditRate;

export const ROI_FLAGS: Record<string, FlagDef> = {
  from: {
    kind: 'string',
    meta: 'FILE.json',
    help: 'operating point from `tinysaver simulate --json` (with the sweep: the plot; also `simulate --decisions LOG --json`) or `select --json` output',
  },
  point: { kind: 'string', choices: ['budget', 'paper'], default: 'budget', help: 'which operating point of simulate output' },
  'saver-name': {
    kind: 'string',
    meta: 'NAME',
    help: 'with select output: the saver to cost (default: rank 1); with decision-log output: the cascade or saver version (default: most records)',
  },
  'saver-share': { kind: 'fraction', meta: 'R', help: 'saver share r, instead of --from' },
  threshold: { kind: 'fraction', meta: 'T', help: 'threshold of the --saver-share point (a label)' },
  'loss-bound': { kind: 'fraction', meta: 'B', help: 'certified bound on the accuracy loss at the --saver-share point' },
  'audit-rate': {
    kind: 'fraction',
    meta: 'A',
    help: `audit rate a (default: the --from file's when > 0, else ${ROUTER_AUDIT_RATE_DEFAULT}, the ModelCascade default spec.router.auditRate)`,
  },
  'mean-rps': { kind: 'number', meta: 'N', help: 'mean traffic, rows per second' },
  'peak-rps': { kind: 'number', meta: 'N', help: 'peak traffic, rows per second' },
  'traffic-profile': {
    kind: 'string',
    meta: 'FILE',
    help: 'daily profile instead of --mean-rps/--peak-rps: rows/s per equal slot of the day (e.g. 24 hourly values)',
  },
  'rows-per-request': { kind: 'number', meta: 'N', default: 1, help: 'rows per request (cost per million requests)' },
  'saver-capacity': {
    kind: 'string',
    meta: 'FILE|N',
    help: 'saver rows/s per replica: a `profile --measure --out` file (FILE#MODEL for one of several) or a number',
  },
  'base-capacity': { kind: 'string', meta: 'FILE|N', help: 'base rows/s per replica, same forms (e.g. measured on the GPU you will use)' },
  prices: {
    kind: 'string',
    meta: 'FILE',
    help: 'price file (YAML/JSON: currency, cpuCoreHour, gpuHour, nodeHour; README "Will it pay off?"). Required: no prices are built in',
  },
  'saver-cores': { kind: 'number', meta: 'N', help: "cores one saver replica takes (default: the capacity file's threads)" },
  'saver-gpus': { kind: 'number', meta: 'N', help: 'GPUs one saver replica takes (default 0)' },
  'saver-node': { kind: 'string', meta: 'TYPE', help: 'one saver replica takes a whole node of TYPE (priced by nodeHour.TYPE)' },
  'base-cores': {
    kind: 'number',
    meta: 'N',
    help: "cores one base replica takes (default: the capacity file's threads on CPU, 0 on CUDA)",
  },
  'base-gpus': { kind: 'number', meta: 'N', help: 'GPUs one base replica takes (default: 1 for a CUDA capacity file, else 0)' },
  'base-node': { kind: 'string', meta: 'TYPE', help: 'one base replica takes a whole node of TYPE' },
  headroom: { kind: 'number', min: 1, default: 1.25, help: 'provision load x headroom (1.25 = replicas at 80% of measured capacity)' },
  'min-replicas': { kind: 'int', min: 0, default: 1, help: 'fewest replicas per Deployment' },
  'hours-per-month': { kind: 'number', default: HOURS_PER_MONTH, help: 'hours in a month' },
  'training-cost': { kind: 'number', meta: 'X', help: 'one-time cost of training the saver (same currency): payback time' },
  json: { kind: 'boolean', default: false, help: 'print the result as JSON' },
  report: {
    kind: 'string',
    meta: 'FILE.md',
    help: 'write a one-page Markdown report (and FILE.svg next to it when the input has a sweep)',
  },
  plot: { kind: 'string', meta: 'FILE.svg', help: 'write the monthly cost vs threshold plot (needs simulate output)' },
  title: { kind: 'string', default: 'Will the cascade pay off?', help: 'title of the report and plot' },
};

const USAGE =
  'tinysaver roi (--from FILE.json | --saver-share R) (--mean-rps N --peak-rps N | --traffic-profile FILE) --saver-capacity FILE|N --base-capacity FILE|N --prices FILE [flags]';
const SUMMARY =
  'Replicas and money for a cascade vs the base alone: replicas per Deployment at peak with headroom, cost per month and per million requests, savings, break-even saver share, accuracy cost (certified bound), payback. Prices come only from your price file.';

async function readText(flag: string, file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new Error(`${flag}: cannot read ${file}: ${(e as Error).message}`);
  }
}

async function capacity(flag: string, raw: string | undefined): Promise<Capacity> {
  if (raw === undefined)
    throw new Error(`${flag} is required (rows/s per replica: \`tinysaver profile MODEL --measure --out FILE\`, or a number)`);
  const n = parseCapacityNumber(flag, raw);
  if (n) return n;
  const hash = raw.lastIndexOf('#');
  const [file, model] = hash > 0 ? [raw.slice(0, hash), raw.slice(hash + 1)] : [raw, undefined];
  return parseCapacityFile(flag, file, await readText(flag, file), model);
}

function shapeOf(who: 'saver' | 'base', f: Record<string, unknown>, cap: Capacity): ReplicaShape {
  const node = f[`${who}-node`] as string | undefined;
  const cores = f[`${who}-cores`] as number | undefined;
  const gpus = f[`${who}-gpus`] as number | undefined;
  if (node !== undefined) {
    if (cores !== undefined || gpus !== undefined)
      throw new Error(`--${who}-node: give either a node type or --${who}-cores/--${who}-gpus, not both`);
    return { node };
  }
  for (const [flag, v] of [
    [`--${who}-cores`, cores],
    [`--${who}-gpus`, gpus],
  ] as const) {
    if (v !== undefined && !(v >= 0)) throw new Error(`${flag}: must be >= 0, got ${v}`);
  }
  if (cores === undefined && gpus === undefined && !cap.shape) {
    throw new Error(
      `--${who}-capacity is a number: say what one ${who} replica takes with --${who}-cores N, --${who}-gpus N or --${who}-node TYPE`,
    );
  }
  const base = cap.shape && !('node' in cap.shape) ? cap.shape : { cores: 0, gpus: 0 };
  return { cores: cores ?? base.cores, gpus: gpus ?? base.gpus };
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, USAGE, SUMMARY, ROI_FLAGS);
  if (parsed.kind === 'help') {
    console.log(parsed.text);
    return 0;
  }
  if (parsed.kind === 'error') {
    console.error(`tinysaver roi: ${parsed.message}`);
    return 2;
  }
  const f = parsed.values;
  let out: { text: string; json: string; md?: string; svg?: string | null };
  try {
    // operating point
    let point: OperatingPointInfo;
    if (f.from !== undefined) {
      if (f['saver-share'] !== undefined) throw new Error('give either --from or --saver-share, not both');
      point = parseOperatingPoint(await readText('--from', f.from as string), f.from as string, {
        point: f.point as 'budget' | 'paper',
        saver: f['saver-name'] as string | undefined,
      });
    } else if (f['saver-share'] !== undefined) {
      point = {
        source: 'flags',
        threshold: (f.threshold as number | undefined) ?? null,
        saverShare: f['saver-share'] as number,
        auditRate: null,
        lossBound: (f['loss-bound'] as number | undefined) ?? null,
        epsilon: null,
        confidence: null,
        accuracyLoss: null,
        disagreement: null,
        sweep: [],
      };
    } else
      throw new Error(
        'an operating point is required: --from FILE.json (tinysaver simulate --json / select --json output) or --saver-share R',
      );
    let auditRate: number;
    let auditRateSource: string;
    if (f['audit-rate'] !== undefined) [auditRate, auditRateSource] = [f['audit-rate'] as number, '--audit-rate'];
    else if (point.auditRate !== null && point.auditRate > 0) [auditRate, auditRateSource] = [point.auditRate, 'from the input file'];
    else [auditRate, auditRateSource] = [ROUTER_AUDIT_RATE_DEFAULT, 'ModelCascade default spec.router.auditRate; --audit-rate to change'];

    // traffic
    let traffic: { meanRowsPerSecond: number; peakRowsPerSecond: number; slots?: number[] };
    if (f['traffic-profile'] !== undefined) {
      if (f['mean-rps'] !== undefined || f['peak-rps'] !== undefined)
        throw new Error('give either --traffic-profile or --mean-rps/--peak-rps, not both');
      const slots = parseTrafficProfile(
        await readText('--traffic-profile', f['traffic-profile'] as string),
        f['traffic-profile'] as string,
      );
      const s = profileStats(slots);
      traffic = { meanRowsPerSecond: s.mean, peakRowsPerSecond: s.peak, slots };
    } else {
      if (f['mean-rps'] === undefined || f['peak-rps'] === undefined)
        throw new Error('traffic is required: --mean-rps N and --peak-rps N (rows/s), or --traffic-profile FILE');
      traffic = { meanRowsPerSecond: f['mean-rps'] as number, peakRowsPerSecond: f['peak-rps'] as number };
    }

    // capacities, replica shapes, prices
    const saverCap = await capacity('--saver-capacity', f['saver-capacity'] as string | undefined);
    const baseCap = await capacity('--base-capacity', f['base-capacity'] as string | undefined);
    if (f.prices === undefined) throw new Error('--prices FILE is required: no prices are built in (format: README "Will it pay off?")');
    const prices = parsePriceFile(await readText('--prices', f.prices as string), f.prices as string);
    const shapes = { saver: shapeOf('saver', f, saverCap), base: shapeOf('base', f, baseCap) };

    const result = computeRoi({
      saverShare: point.saverShare,
      auditRate,
      traffic,
      saver: { rowsPerSecond: saverCap.rowsPerSecond, pricePerHour: replicaPricePerHour(prices, shapes.saver, 'saver') },
      base: { rowsPerSecond: baseCap.rowsPerSecond, pricePerHour: replicaPricePerHour(prices, shapes.base, 'base') },
      headroom: f.headroom as number,
      minReplicas: f['min-replicas'] as number,
      rowsPerRequest: f['rows-per-request'] as number,
      hoursPerMonth: f['hours-per-month'] as number,
      trainingCost: f['training-cost'] as number | undefined,
    });
    const plotPath =
      (f.plot as string | undefined) ??
      (f.report ? join(dirname(f.report as string), `${basename(f.report as string).replace(/\.md$/i, '')}.svg`) : undefined);
    if (f.plot && point.sweep.length === 0)
      throw new Error('--plot needs the threshold sweep of `tinysaver simulate --json` output in --from');
    const ctx: RoiContext = {
      point,
      auditRateSource,
      currency: prices.currency,
      shapes,
      capacitySources: { saver: saverCap.source, base: baseCap.source },
      command: `tinysaver roi ${argv.join(' ')}`,
    };
    const svg = plotPath ? roiPlotSvg(result, ctx, f.title as string) : null;
    if (svg && plotPath)
      ctx.plotFile = f.report ? (dirname(plotPath) === dirname(f.report as string) ? basename(plotPath) : plotPath) : plotPath;
    out = {
      text: formatRoi(result, ctx),
      json: reportJson({
        ...result,
        operatingPoint: { ...point, sweep: undefined },
        auditRateSource,
        currency: prices.currency ?? null,
        replicaShapes: shapes,
        capacitySources: ctx.capacitySources,
      }),
      md: f.report ? roiMarkdown(result, ctx, f.title as string) : undefined,
      svg,
    };
    if (svg && plotPath) await writeFile(plotPath, svg);
    if (out.md) await writeFile(f.report as string, out.md);
  } catch (e) {
    console.error(`tinysaver roi: ${(e as Error).message}`);
    return 2;
  }
  console.log(f.json ? out.json : out.text);
  return 0;
}
