// `tinysaver up` and `tinysaver replay` as child processes (the compiled CLI, which `npm test` builds
// first): the local cascade comes up, its printed example request works, replay reports the summary,
// and Ctrl-C (SIGINT) shuts all three servers down with exit code 0.

import { parseRoutes } from '../../runtime/router/row-params.js';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { rawRequest } from './router-helpers.js';

const BIN = fileURLToPath(new URL('../../bin/tinysaver.js', import.meta.url));
const DIST = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const run = promisify(execFile);
let up: ChildProcess | undefined;

beforeAll(() => {
  if (!existsSync(DIST)) throw new Error('dist/ is missing: run `npm run build` before this suite');
});
afterAll(() => {
  if (up && up.exitCode === null) up.kill('SIGKILL');
});

test('up serves the cascade, replay summarises it, SIGINT stops everything', async () => {
  up = spawn(
    process.execPath,
    [BIN, 'up', '--port', '0', '--saver-port', '0', '--base-port', '0', '--view-port', '0', '--saver', 'saver-linear'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  up.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  up.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exit = new Promise<number | null>((r) => up!.once('exit', (code) => r(code)));
  const deadline = Date.now() + 30_000;
  while (!/Replay the Fashion-MNIST/.test(out)) {
    if (Date.now() > deadline || up.exitCode !== null) throw new Error(`up did not come up:\n${out}\n${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = /cascade\s+(http:\/\/127\.0\.0\.1:\d+)\/v2\/models\/cascade/.exec(out)![1];
  const baseUrl = /base\s+(http:\/\/127\.0\.0\.1:\d+)\/v2\/models\/base-cnn/.exec(out)![1];
  const saverUrl = /saver\s+(http:\/\/127\.0\.0\.1:\d+)\/v2\/models\/saver-linear/.exec(out)![1];

  // The printed example request, run as printed (bash + curl), answers with the cascade's parameters.
  const curl = out
    .split('\n')
    .filter((l) => /^\s+(curl|-d)/.test(l))
    .map((l) => l.trim())
    .join('\n');
  const { stdout: curlOut } = await run('bash', ['-c', curl]);
  const answer = JSON.parse(curlOut);
  expect(answer.model_name).toBe('cascade');
  expect(answer.outputs[0].shape).toEqual([1, 10]);
  expect(parseRoutes(answer.parameters)).toHaveLength(1);

  const { stdout, stderr } = await run(process.execPath, [
    BIN,
    'replay',
    '--url',
    url,
    '--limit',
    '300',
    '--batch-size',
    '10',
    '--base-url',
    baseUrl,
  ]);
  expect(stderr).toMatch(/replay cascade: 300\/300 \(100%\)/); // plain progress lines when not a TTY
  const share = Number(/saver share\s+([\d.]+) %/.exec(stdout)?.[1]);
  expect(share).toBeGreaterThan(0);
  expect(share).toBeLessThan(100);
  expect(stdout).toMatch(/accuracy\s+[\d.]+ %/);
  expect(stdout).toMatch(/base accuracy\s+[\d.]+ %\s+\(measured, base only\)/);
  const rc = Number(/relative compute\s+([\d.]+) x base/.exec(stdout)?.[1]);
  // (macs_saver + escalated * macs_base) / macs_base lies between the saver's MACs share and 1 + it
  expect(rc).toBeGreaterThan(0);
  expect(rc).toBeLessThan(1);
  expect(stdout).toMatch(/latency p50 \/ p99\s+[\d.]+ ms \/ [\d.]+ ms/);

  up.kill('SIGINT');
  expect(await exit).toBe(0);
  for (const u of [url, saverUrl, baseUrl]) await expect(rawRequest(u, 'GET', '/v2/health/live')).rejects.toThrow(/ECONNREFUSED/);
});

test('replay names a bad flag and exits 2', async () => {
  const r = (await run(process.execPath, [BIN, 'replay', '--batch-size', 'zero']).catch((e) => e)) as { code?: number; stderr: string };
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/--batch-size: "zero" is not a number/);
});

test('up names an unknown model flag and exits 2', async () => {
  const r = (await run(process.execPath, [BIN, 'up', '--saver', 'saver-huge']).catch((e) => e)) as { code?: number; stderr: string };
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/--saver: "saver-huge" is not a bundled model \(known: .*saver-mlp/);
});

// A taken port is a usage error: up says which address, exits 2, and leaves nothing running (the
// model server it had already loaded, and its inference worker, must not keep the process alive).
test.each([
  ['the saver port, saver served over HTTP', ['--saver-via-http'], 'saver-port'],
  ['the saver port, saver in the router', [], 'saver-port'],
  ['the router port', [], 'port'],
])('up exits 2 naming the address when %s is taken', async (_what, extra, taken) => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const busy = (blocker.address() as AddressInfo).port;
  const ports: Record<string, string> = { port: '0', 'saver-port': '0', 'base-port': '0', [taken]: String(busy) };
  const args = [BIN, 'up', '--saver', 'saver-linear', ...Object.entries(ports).flatMap(([k, v]) => [`--${k}`, v]), ...extra];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const code = await new Promise<number | null>((resolve) => {
    const guard = setTimeout(() => (child.kill('SIGKILL'), resolve(null)), 45_000);
    child.once('exit', (c) => (clearTimeout(guard), resolve(c)));
  });
  blocker.close();
  expect(code, `up did not exit by itself; stderr:\n${err}`).toBe(2);
  expect(err).toContain(`127.0.0.1:${busy} is already in use`);
});
