// `tinysaver serve-model` as a child process: flags, serving, graceful SIGTERM. Runs the compiled
// CLI (bin/tinysaver.js -> dist/), which `npm test` builds first.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, expect, test } from 'vitest';
import { V2Client } from '../../runtime/oip/client.js';
import { images, queuedRows, waitFor, zooPaths } from './server-helpers.js';

const BIN = fileURLToPath(new URL('../../bin/tinysaver.js', import.meta.url));
const DIST = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const children: ChildProcess[] = [];

beforeAll(() => {
  if (!existsSync(DIST)) throw new Error('dist/ is missing: run `npm run build` before this suite');
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

function start(args: string[]): { child: ChildProcess; stderr: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, 'serve-model', '--grpc-port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, stderr: () => err, exit };
}

async function waitForUrl(stderr: () => string, exit: Promise<number | null>): Promise<string> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const m = /at (http:\/\/[^/\s]+)\/v2\/models\//.exec(stderr());
    if (m) return m[1];
    const done = await Promise.race([exit.then(() => true), new Promise((r) => setTimeout(() => r(false), 50))]);
    if (done) throw new Error(`serve-model exited early: ${stderr()}`);
  }
  throw new Error(`serve-model did not report its URL: ${stderr()}`);
}

test('serves the model named after the file, then drains and exits 0 on SIGTERM', async () => {
  const { saver } = zooPaths();
  // --wait-when-idle: the lone request waits out the window, so it is still queued at SIGTERM
  const p = start(['--model', saver, '--port', '0', '--max-queue-delay-ms', '1000', '--wait-when-idle']);
  const url = await waitForUrl(p.stderr, p.exit);
  const name = saver
    .split('/')
    .pop()!
    .replace(/\.onnx$/, '');
  const client = new V2Client(url);
  try {
    expect(await client.ready(name)).toBe(true);
    const pending = client.infer(name, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 1, 28, 28], data: images(1, 1) }] });
    await waitFor(async () => (await queuedRows(url)) === 1, 'the request to be queued');
    p.child.kill('SIGTERM');
    const res = await pending; // answered despite the SIGTERM
    expect(res.outputs[0].shape).toEqual([1, 10]);
    expect(await p.exit).toBe(0);
    expect(p.stderr()).toMatch(/SIGTERM, draining/);
  } finally {
    client.close();
  }
});

test('--host 0.0.0.0: the startup line names the wildcard address it is bound to, not 127.0.0.1 (issue 10)', async () => {
  const { saver } = zooPaths();
  const p = start(['--model', saver, '--port', '0', '--host', '0.0.0.0']);
  const url = await waitForUrl(p.stderr, p.exit);
  expect(url).toMatch(/^http:\/\/0\.0\.0\.0:\d+$/);
  const client = new V2Client(url.replace('0.0.0.0', '127.0.0.1'));
  try {
    expect(await client.ready()).toBe(true);
  } finally {
    client.close();
  }
  p.child.kill('SIGTERM');
  expect(await p.exit).toBe(0);
});

test.each(['worker', 'main'])(
  '--inference-thread %s: serves, and SIGTERM ends the process (the worker thread is terminated)',
  async (thread) => {
    const { saver } = zooPaths();
    const p = start(['--model', saver, '--port', '0', '--inference-thread', thread]);
    const url = await waitForUrl(p.stderr, p.exit);
    expect(p.stderr()).toContain(`inference on the ${thread} thread`);
    const name = saver
      .split('/')
      .pop()!
      .replace(/\.onnx$/, '');
    const client = new V2Client(url);
    try {
      const res = await client.infer(name, { inputs: [{ name: 'input', datatype: 'FP32', shape: [3, 1, 28, 28], data: images(3, 7) }] });
      expect(res.outputs[0].shape).toEqual([3, 10]);
    } finally {
      client.close();
    }
    p.child.kill('SIGTERM');
    // a worker thread left running would keep the process alive: this would time out
    expect(await p.exit).toBe(0);
  },
);

test('bad flags exit 2 naming the flag; --provider cuda exits 1 with a clear message', async () => {
  const { saver } = zooPaths();
  const noModel = start([]);
  expect(await noModel.exit).toBe(2);
  expect(noModel.stderr()).toMatch(/--model PATH is required/);
  const badBatch = start(['--model', saver, '--max-batch-size', '0']);
  expect(await badBatch.exit).toBe(2);
  expect(badBatch.stderr()).toMatch(/--max-batch-size: 0 is below the minimum 1/);
  const badThread = start(['--model', saver, '--inference-thread', 'gpu']);
  expect(await badThread.exit).toBe(2);
  expect(badThread.stderr()).toMatch(/--inference-thread: "gpu" is not one of auto, worker, main/);
  const badProvider = start(['--model', saver, '--provider', 'tpu']);
  expect(await badProvider.exit).toBe(2);
  expect(badProvider.stderr()).toMatch(/--provider: "tpu" is not one of cpu, cuda/);
  const cuda = start(['--model', saver, '--provider', 'cuda', '--port', '0']);
  expect(await cuda.exit).toBe(1);
  expect(cuda.stderr()).toMatch(/CUDA execution provider .*Use --provider cpu/);
  const missing = start(['--model', '/nonexistent/model.onnx', '--port', '0']);
  expect(await missing.exit).toBe(1);
  expect(missing.stderr()).toMatch(/model file not found: \/nonexistent\/model.onnx/);
});

test('--help lists every flag with its default', async () => {
  const p = start(['--help']);
  p.child.stdout!.setEncoding('utf8');
  let out = '';
  p.child.stdout!.on('data', (c: string) => (out += c));
  expect(await p.exit).toBe(0);
  for (const flag of [
    '--model',
    '--name',
    '--host',
    '--port',
    '--max-batch-size',
    '--max-queue-delay-ms',
    '--max-queue-rows',
    '--max-body-bytes',
    '--provider',
    '--intra-op-threads',
    '--inference-thread',
  ]) {
    expect(out).toContain(flag);
  }
  expect(out).toContain('(default: 8080)');
});
