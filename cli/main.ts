// tinysaver CLI entry point. Each command lives in cli/commands/<name>.ts (or elsewhere) and
// exports `run(argv): Promise<number>`; it is imported lazily so `tinysaver --help` stays fast and a
// command's heavy dependencies (onnxruntime, kubernetes client) load only when used.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface CommandSpec {
  summary: string;
  load: () => Promise<{ run: (argv: string[]) => Promise<number> }>;
}

export const COMMANDS: Record<string, CommandSpec> = {
  // Each issue's work adds its commands here.
  operator: {
    summary: 'run the ModelCascade operator against a cluster (kubeconfig or in-cluster)',
    load: () => import('./commands/operator.js'),
  },
  'fetch-model': {
    summary: 'download a model file (init container helper): size limit, optional sha256',
    load: () => import('./commands/fetch-model.js'),
  },
  profile: {
    summary: 'parameters, MACs and FLOPs of an ONNX model from its graph; --measure: rows/s per replica on this machine',
    load: () => import('./commands/profile.js'),
  },
  roi: {
    summary: 'will the cascade pay off: replicas and monthly cost base-only vs cascade from measured capacity and your prices',
    load: () => import('./commands/roi.js'),
  },
  simulate: {
    summary: 'offline cascade simulation: threshold sweep, paper and certified-budget operating points, plot, ModelCascade snippet',
    load: () => import('./commands/simulate.js'),
  },
  decisions: {
    summary:
      'router decision logs: saver share, thresholds, audit disagreement and saver classes over time; settings generations; one request by id',
    load: () => import('./commands/decisions.js'),
  },
  select: {
    summary: 'rank saver candidates for a base model by ΔC = s - r at the certified operating point',
    load: () => import('./commands/select.js'),
  },
  'serve-model': {
    summary: 'serve one ONNX model over the Open Inference Protocol v2 (dynamic batching)',
    load: () => import('./commands/serve-model.js'),
  },
  route: { summary: 'cascade router sidecar: saver first, base for rows below the threshold', load: () => import('./commands/route.js') },
  up: {
    summary:
      'run a local cascade on the bundled models: saver, base and router on 127.0.0.1; --control adaptive runs the threshold controller, live view on :8003',
    load: () => import('./commands/up.js'),
  },
  replay: {
    summary: 'stream the Fashion-MNIST test set through a v2 endpoint: saver share, accuracy, compute, latency; --drift, --loop, --rate',
    load: () => import('./commands/replay.js'),
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length), 8);
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    'Usage: tinysaver <command> [flags]',
    '',
    'Commands:',
    ...lines,
    '',
    'Run `tinysaver <command> --help` for the flags of one command; `tinysaver --version` prints the version.',
  ].join('\n');
}

/** The package version (package.json beside dist/ and the sources alike: two levels up from cli/). */
export function version(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['..', '../..']) {
    const path = join(here, up, 'package.json');
    if (existsSync(path)) return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
  }
  return 'unknown';
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === '--version' || cmd === '-v' || cmd === 'version') {
    console.log(`tinysaver ${version()}`);
    return 0;
  }
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(usage());
    return cmd ? 0 : 2;
  }
  const spec = COMMANDS[cmd];
  if (!spec) {
    console.error(`tinysaver: unknown command "${cmd}"\n\n${usage()}`);
    return 2;
  }
  const mod = await spec.load();
  return mod.run(rest);
}
