// tinysaver fetch-model (the init-container download helper) against a real HTTP server on 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { run } from '../../cli/commands/fetch-model.js';

const body = Buffer.alloc(100_000, 7);
const sha = createHash('sha256').update(body).digest('hex');
let server: http.Server;
let base: string;
let dir: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/model.onnx') return res.end(body);
    if (req.url === '/chunked.onnx') {
      res.writeHead(200); // no content-length: the limit must hold while streaming
      res.write(body.subarray(0, 50_000));
      return res.end(body.subarray(50_000));
    }
    res.writeHead(404).end('nope');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = await mkdtemp(join(tmpdir(), 'fetch-model-'));
});

afterAll(async () => {
  server.close();
  await rm(dir, { recursive: true, force: true });
});

function quiet() {
  const err = vi.spyOn(console, 'error').mockImplementation(() => {});
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  return { err, restore: () => (err.mockRestore(), log.mockRestore()) };
}

describe('fetch-model', () => {
  it('downloads, verifies the sha256 and writes the file atomically', async () => {
    const q = quiet();
    const dest = join(dir, 'a', 'model.onnx');
    expect(await run([`${base}/model.onnx`, dest, '--sha256', sha])).toBe(0);
    q.restore();
    expect((await readFile(dest)).equals(body)).toBe(true);
    expect(await readdir(join(dir, 'a'))).toEqual(['model.onnx']);
  });

  it('fails on a checksum mismatch and leaves nothing behind', async () => {
    const q = quiet();
    const dest = join(dir, 'b', 'model.onnx');
    expect(await run([`${base}/model.onnx`, dest, '--sha256', 'f'.repeat(64)])).toBe(1);
    expect(q.err.mock.calls.flat().join(' ')).toContain('sha256 mismatch');
    q.restore();
    expect(await readdir(join(dir, 'b'))).toEqual([]);
  });

  it('enforces --max-bytes from content-length and while streaming', async () => {
    const q = quiet();
    expect(await run([`${base}/model.onnx`, join(dir, 'c1.onnx'), '--max-bytes', '1000'])).toBe(1);
    expect(await run([`${base}/chunked.onnx`, join(dir, 'c2.onnx'), '--max-bytes', '60000'])).toBe(1);
    expect(q.err.mock.calls.flat().join(' ')).toMatch(/max-bytes/);
    q.restore();
    expect((await readdir(dir)).filter((f) => f.startsWith('c'))).toEqual([]);
  });

  it('reports HTTP errors and rejects bad arguments naming them', async () => {
    const q = quiet();
    expect(await run([`${base}/missing.onnx`, join(dir, 'd.onnx')])).toBe(1);
    expect(q.err.mock.calls.flat().join(' ')).toContain('HTTP 404');
    expect(await run(['ftp://x/y', join(dir, 'e.onnx')])).toBe(2);
    expect(await run([`${base}/model.onnx`, join(dir, 'e.onnx'), '--sha256', 'xyz'])).toBe(2);
    expect(await run([`${base}/model.onnx`])).toBe(2);
    const msgs = q.err.mock.calls.flat().join('\n');
    q.restore();
    expect(msgs).toContain('only http and https');
    expect(msgs).toContain('--sha256');
    expect(msgs).toContain('URL DEST');
  });

  it('names the URL and the network reason when the server cannot be reached (not just "fetch failed")', async () => {
    // a port nothing listens on: take one from the OS, then close it
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const q = quiet();
    expect(await run([`http://127.0.0.1:${port}/saver.onnx`, join(dir, 'f.onnx')])).toBe(1);
    const msg = q.err.mock.calls.flat().join(' ');
    q.restore();
    expect(msg).toContain(`http://127.0.0.1:${port}/saver.onnx`);
    expect(msg).toMatch(/ECONNREFUSED/);
  });
});
