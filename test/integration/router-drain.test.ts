// `tinysaver route` on SIGTERM while its base is a blackhole (issue 10): a real base model server behind a
// TCP proxy that, once switched, accepts connections and never answers. Requests in flight at SIGTERM, one
// whose body is still arriving, and one sent on an idle kept-alive connection after the signal are all
// answered (route fallback, not a reset, not a 503), and the process exits 0 by itself after the drain. Runs
// the compiled CLI (dist/).

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { zooModelPath } from '../../models/zoo.js';
import { startModelServer, type RunningModelServer } from '../../runtime/server/model-server.js';

const BIN = fileURLToPath(new URL('../../bin/tinysaver.js', import.meta.url));
const DIST = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

let base: RunningModelServer;
let child: ChildProcess | undefined;
const held: net.Socket[] = [];
let proxy: net.Server;
/** false: the proxy forwards to the base; true: it accepts and never answers (a blackhole) */
let dark = false;

beforeAll(async () => {
  if (!existsSync(DIST)) throw new Error('dist/ is missing: run `npm run build` before this suite');
  base = await startModelServer({ modelPath: zooModelPath('base-cnn'), name: 'base', port: 0, maxQueueDelayMs: 0 });
  proxy = net.createServer((s) => {
    held.push(s);
    s.on('error', () => undefined);
    if (dark) return;
    const up = net.connect(base.port, '127.0.0.1');
    held.push(up);
    up.on('error', () => s.destroy());
    s.pipe(up).pipe(s);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
});

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  for (const s of held) s.destroy();
  await new Promise((r) => proxy.close(r));
  await base.close();
});

const BODY = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 1, 28, 28], data: new Array(2 * 784).fill(0.5) }] });

interface Reply {
  status?: number;
  routes?: string;
  error?: string;
}

/**
 * One infer request, on its own connection or on `agent`'s kept-alive one; `hold` sends half the body and waits
 * for the returned release.
 */
function infer(url: string, hold = false, agent: http.Agent | false = false): { reply: Promise<Reply>; release: () => void } {
  const u = new URL(url);
  const body = Buffer.from(BODY);
  const req = http.request({
    hostname: u.hostname,
    port: u.port,
    method: 'POST',
    path: '/v2/models/cascade/infer',
    agent,
    headers: { 'content-type': 'application/json', 'content-length': body.length },
  });
  const reply = new Promise<Reply>((resolve) => {
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        let routes: string | undefined;
        try {
          routes = JSON.parse(text).parameters?.tinysaver_routes;
        } catch {
          routes = undefined;
        }
        resolve({ status: res.statusCode, routes: routes ?? text.slice(0, 200) });
      });
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
  });
  if (hold) {
    req.write(body.subarray(0, body.length >> 1));
    return { reply, release: () => req.end(body.subarray(body.length >> 1)) };
  }
  req.end(body);
  return { reply, release: () => undefined };
}

function fetchStatus(url: string, path: string, agent: http.Agent): Promise<number | undefined> {
  const u = new URL(url);
  return new Promise((resolve) => {
    http
      .get({ hostname: u.hostname, port: u.port, path, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      })
      .on('error', () => resolve(undefined));
  });
}

test('SIGTERM with a blackholed base: in-flight and read-during-drain requests answered by fallback, then exit 0', async () => {
  child = spawn(
    process.execPath,
    [
      BIN,
      'route',
      '--saver-onnx',
      zooModelPath('saver-tinycnn'),
      '--base-url',
      `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`,
      '--port',
      '0',
      '--grpc-port',
      '0',
      '--threshold',
      '1', // every row needs the base
      '--base-timeout-ms',
      '1000',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
  let url: string | undefined;
  while (!url) {
    url = /serving model "cascade" at (http:\/\/[^\s]+) /.exec(stderr)?.[1];
    if (!url && child.exitCode !== null) throw new Error(`router exited early: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  url = url.replace('0.0.0.0', '127.0.0.1');
  // a client with a kept-alive connection (a load balancer, kube-proxy'd client): idle when the drain starts
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
  expect(await infer(url, false, keepAlive).reply).toMatchObject({ status: 200, routes: 'base,base' });

  dark = true; // the base stops answering: connections are accepted and held
  for (const s of held.splice(0)) s.destroy();
  const inFlight = [infer(url), infer(url)];
  const duringDrain = infer(url, true); // half its body is sent now, the rest after SIGTERM
  await new Promise((r) => setTimeout(r, 200));
  // use the kept-alive connection just before the signal: the drain closes it only after 1 s idle
  const live = await fetchStatus(url, '/v2/health/live', keepAlive);
  expect(live).toBe(200);
  child.kill('SIGTERM');
  while (!/router: SIGTERM, /.test(stderr)) await new Promise((r) => setTimeout(r, 10));
  duringDrain.release();
  // sent on the idle kept-alive connection after the drain started: read, so answered (it was a 503 before)
  const onKeptAlive = infer(url, false, keepAlive);

  for (const r of [...inFlight, duringDrain, onKeptAlive]) expect(await r.reply).toEqual({ status: 200, routes: 'fallback,fallback' });
  keepAlive.destroy();
  expect(await exited).toBe(0);
  const drained = /drained in (\d+) ms, exiting/.exec(stderr);
  expect(drained, stderr).not.toBeNull();
  console.log(`router-drain: SIGTERM -> drained in ${drained![1]} ms with a blackholed base (--base-timeout-ms 1000)`);
}, 60_000);
