// The price file `tinysaver roi --prices FILE` reads (YAML or JSON). Prices are the user's: the project
// ships none, and nothing missing is ever filled in with a made-up number. Format (every key optional,
// no other key allowed; amounts per hour, >= 0, in one currency):
//
//   currency: USD          # label printed next to every amount (default: no label)
//   cpuCoreHour: 0.04      # one CPU core for one hour
//   gpuHour: 2.5           # one GPU for one hour
//   nodeHour:              # whole nodes by type, for replicas that take a node each
//     gpu-a: 3.2
//
// What one replica takes (cores, GPUs, or a node type) comes from the capacity files and the CLI
// flags (ReplicaShape); replicaPricePerHour() prices it and names the missing price when it cannot.

import yaml from 'js-yaml';

export interface PriceFile {
  currency?: string;
  cpuCoreHour?: number;
  gpuHour?: number;
  nodeHour?: Record<string, number>;
}

/** What one replica of a Deployment takes: either cores and GPUs, or one node of a type. */
export type ReplicaShape = { cores: number; gpus: number } | { node: string };

const KEYS = ['currency', 'cpuCoreHour', 'gpuHour', 'nodeHour'] as const;

function price(where: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new Error(`${where}: must be a number (price per hour), got ${JSON.stringify(v)}`);
  if (v < 0) throw new Error(`${where}: must be >= 0, got ${v}`);
  return v;
}

/** Parse and check a price file's text; `name` is used in error messages. */
export function parsePriceFile(text: string, name = 'price file'): PriceFile {
  let doc: unknown;
  try {
    doc = yaml.load(text);
  } catch (e) {
    throw new Error(`${name}: not YAML/JSON: ${(e as Error).message.split('\n')[0]}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    throw new Error(`${name}: expected a mapping with keys ${KEYS.join(', ')}`);
  const o = doc as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!(KEYS as readonly string[]).includes(k)) throw new Error(`${name}: unknown key "${k}" (allowed: ${KEYS.join(', ')})`);
  }
  const out: PriceFile = {};
  if (o.currency !== undefined) {
    if (typeof o.currency !== 'string' || o.currency.length === 0 || o.currency.length > 16)
      throw new Error(`${name}: currency: must be a short label such as USD, got ${JSON.stringify(o.currency)}`);
    out.currency = o.currency;
  }
  if (o.cpuCoreHour !== undefined) out.cpuCoreHour = price(`${name}: cpuCoreHour`, o.cpuCoreHour);
  if (o.gpuHour !== undefined) out.gpuHour = price(`${name}: gpuHour`, o.gpuHour);
  if (o.nodeHour !== undefined) {
    if (o.nodeHour === null || typeof o.nodeHour !== 'object' || Array.isArray(o.nodeHour))
      throw new Error(`${name}: nodeHour: must be a mapping of node type to price per hour`);
    out.nodeHour = {};
    for (const [type, v] of Object.entries(o.nodeHour as Record<string, unknown>))
      out.nodeHour[type] = price(`${name}: nodeHour.${type}`, v);
  }
  if (
    out.cpuCoreHour === undefined &&
    out.gpuHour === undefined &&
    (out.nodeHour === undefined || Object.keys(out.nodeHour).length === 0)
  ) {
    throw new Error(`${name}: no prices: set cpuCoreHour, gpuHour or nodeHour (nothing is defaulted)`);
  }
  return out;
}

/** Price per hour of one replica of the given shape; `who` names the Deployment in errors. */
export function replicaPricePerHour(p: PriceFile, shape: ReplicaShape, who: string): number {
  if ('node' in shape) {
    const v = p.nodeHour?.[shape.node];
    if (v === undefined) {
      const known = Object.keys(p.nodeHour ?? {});
      throw new Error(
        `price file: nodeHour.${shape.node} is missing (a ${who} replica takes one ${shape.node} node; the file prices ${known.length ? known.join(', ') : 'no node types'})`,
      );
    }
    return v;
  }
  if (!(shape.cores >= 0) || !(shape.gpus >= 0))
    throw new Error(`${who} replica: cores and GPUs must be >= 0, got ${shape.cores} cores, ${shape.gpus} GPUs`);
  if (shape.cores === 0 && shape.gpus === 0)
    throw new Error(`${who} replica takes no cores and no GPUs: say what it takes (cores, GPUs or a node type)`);
  let sum = 0;
  if (shape.cores > 0) {
    if (p.cpuCoreHour === undefined)
      throw new Error(`price file: cpuCoreHour is missing (a ${who} replica takes ${shape.cores} core(s); nothing is defaulted)`);
    sum += shape.cores * p.cpuCoreHour;
  }
  if (shape.gpus > 0) {
    if (p.gpuHour === undefined)
      throw new Error(`price file: gpuHour is missing (a ${who} replica takes ${shape.gpus} GPU(s); nothing is defaulted)`);
    sum += shape.gpus * p.gpuHour;
  }
  return sum;
}

export function describeShape(s: ReplicaShape): string {
  if ('node' in s) return `1 ${s.node} node`;
  return [s.cores > 0 ? `${s.cores} core${s.cores === 1 ? '' : 's'}` : '', s.gpus > 0 ? `${s.gpus} GPU${s.gpus === 1 ? '' : 's'}` : '']
    .filter(Boolean)
    .join(' + ');
}
