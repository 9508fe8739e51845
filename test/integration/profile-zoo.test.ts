// The profiler against the bundled models: MACs must equal the training script's own analytic count
// (models/train/train_fashion_mnist.py count_macs, written to models/zoo/manifest.json).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadZooManifest, zooModelPath } from '../../models/zoo.js';
import { profileOnnxBytes } from '../../runtime/profile/profile.js';

// Parameters differ from PyTorch's count in two known ways, from the architectures in the training script:
// - Normalize's mean and std buffers become two scalar float constants in the graph (+2);
// - export folds each Conv(bias=False) + BatchNorm2d pair into one Conv with a bias: PyTorch counts the
//   BatchNorm's gamma and beta (2 per channel), the graph keeps one bias per channel (-1 per channel).
// BatchNorm1d after a Linear is not folded and keeps gamma/beta as parameters (mean/var are buffers).
const FOLDED_BN_CHANNELS: Record<string, number> = {
  'saver-linear': 0,
  'saver-mlp': 0,
  'saver-tinycnn': 8 + 16,
  'base-cnn': 32 + 64 + 128,
};

describe('tinysaver profile on the bundled zoo', () => {
  const manifest = loadZooManifest();

  it.each(manifest.models.map((m) => [m.name]))('%s: MACs equal the analytic count; params reconcile', (name) => {
    const m = manifest.models.find((x) => x.name === name)!;
    const p = profileOnnxBytes(readFileSync(zooModelPath(name)));
    expect(p.complete).toBe(true);
    expect(p.macs).toBe(m.macs);
    expect(p.flops).toBe(2 * m.macs);
    expect(name in FOLDED_BN_CHANNELS).toBe(true);
    expect(p.params).toBe(m.params + 2 - FOLDED_BN_CHANNELS[name]);
    expect(p.inputs[0].shape).toEqual([1, 1, 28, 28]);
    expect(p.outputs[0].shape).toEqual([1, 10]);
  });

  it('the CLI prints the table and JSON', async () => {
    const run = promisify(execFile);
    const file = zooModelPath('saver-tinycnn');
    const { stdout } = await run(process.execPath, ['bin/tinysaver.js', 'profile', '--json', file]);
    const j = JSON.parse(stdout);
    expect(j.macs).toBe(manifest.models.find((x) => x.name === 'saver-tinycnn')!.macs);
    const text = (await run(process.execPath, ['bin/tinysaver.js', 'profile', file])).stdout;
    expect(text).toMatch(/MACs:\s+307,648/);
    const bad = await run(process.execPath, ['bin/tinysaver.js', 'profile', '/nonexistent.onnx']).catch((e) => e);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/cannot read \/nonexistent.onnx/);
  });
});
