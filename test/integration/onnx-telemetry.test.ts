// onnxruntime-node's own telemetry stays off in every process that runs a model through runtime/onnx
// (issue 10: its upload threads held a router's exit for seconds where DNS did not answer). A child process
// with a fresh HOME loads and runs a model; the library's telemetry store must not appear there.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const SESSION = fileURLToPath(new URL('../../dist/runtime/onnx/session.js', import.meta.url));
const MODEL = fileURLToPath(new URL('../../models/zoo/saver-tinycnn.onnx', import.meta.url));

it('loading a model through runtime/onnx writes no onnxruntime telemetry store', () => {
  expect(existsSync(SESSION), 'dist/ is missing: run `npm run build`').toBe(true);
  const home = mkdtempSync(path.join(os.tmpdir(), 'tinysaver-ort-home-'));
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_CACHE_HOME: path.join(home, '.cache') };
    delete env.ORT_DISABLE_TELEMETRY;
    const script = `const { loadOnnxModel } = await import(${JSON.stringify(SESSION)}); const m = await loadOnnxModel(${JSON.stringify(MODEL)}); await m.release?.();`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(path.join(home, '.cache', 'Microsoft'))).toBe(false);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
