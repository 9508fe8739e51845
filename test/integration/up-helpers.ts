// `tinysaver up` / `replay` as child processes for the control and live-view suites (the compiled CLI,
// which `npm test` builds first).

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/tinysaver.js', import.meta.url));
const DIST = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export function requireDist(): void {
  if (!existsSync(DIST)) throw new Error('dist/ is missing: run `npm run build` before this suite');
}

export interface Child {
  proc: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
  /** SIGINT, then wait for the exit code */
  stop(): Promise<number | null>;
}

export function spawnCli(args: string[]): Child {
  const proc = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exit = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return {
    proc,
    out: () => out,
    err: () => err,
    exit,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGINT');
      return exit;
    },
  };
}

export interface RunningUp extends Child {
  router: string;
  base: string;
  view?: string;
  thresholdFile: string;
}

/** Starts `up` on free ports with the given extra flags and waits for its start banner. */
export async function startUp(extra: string[]): Promise<RunningUp> {
  const c = spawnCli(['up', '--port', '0', '--saver-port', '0', '--base-port', '0', '--view-port', '0', ...extra]);
  const deadline = Date.now() + 60_000;
  while (!/Threshold decisions/.test(c.out())) {
    if (Date.now() > deadline || c.proc.exitCode !== null) {
      c.proc.kill('SIGKILL');
      throw new Error(`up did not come up:\n${c.out()}\n${c.err()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const out = c.out();
  return {
    ...c,
    router: /cascade\s+(http:\/\/127\.0\.0\.1:\d+)\/v2\/models\/cascade/.exec(out)![1],
    base: /base\s+(http:\/\/127\.0\.0\.1:\d+)\/v2\/models\//.exec(out)![1],
    view: /view\s+(http:\/\/127\.0\.0\.1:\d+)\//.exec(out)?.[1],
    thresholdFile: /threshold file ([^;)]+)/.exec(out)?.[1] ?? '',
  };
}

export async function getJson<T = unknown>(url: string): Promise<{ status: number; body: T; type: string | null }> {
  // Node's fetch honours the cache mode (no-store sends Pragma and Cache-Control: no-cache) although
  // @types/node's RequestInit does not declare it.
  const init: RequestInit & { cache?: 'no-store' } = { cache: 'no-store' };
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as T, type: res.headers.get('content-type') };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
