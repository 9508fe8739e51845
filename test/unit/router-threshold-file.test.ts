import { mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseThresholdFile, ThresholdFileWatcher, type ThresholdSettings } from '../../runtime/router/threshold-file.js';

describe('parseThresholdFile', () => {
  it('accepts a bare number or a JSON object', () => {
    expect(parseThresholdFile(' 0.87\n')).toEqual({ ok: true, value: { threshold: 0.87 } });
    expect(parseThresholdFile('1')).toEqual({ ok: true, value: { threshold: 1 } });
    expect(parseThresholdFile('{"threshold": 0.9, "auditRate": 0.05}')).toEqual({ ok: true, value: { threshold: 0.9, auditRate: 0.05 } });
    expect(parseThresholdFile('{"threshold": 0.9}')).toEqual({ ok: true, value: { threshold: 0.9 } });
  });
  it.each([
    ['', /empty/],
    ['abc', /neither a number nor JSON/],
    ['1.5', /within \[0, 1\]/],
    ['-0.1', /within \[0, 1\]/],
    ['[0.9]', /must be an object/],
    ['{"auditRate": 0.1}', /no "threshold"/],
    ['{"threshold": "0.9"}', /finite number/],
    ['{"threshold": 0.9, "auditRate": 2}', /auditRate must be within/],
    ['{"threshold": 0.9', /neither a number nor JSON/],
  ])('rejects %j', (text, err) => {
    const r = parseThresholdFile(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(err);
  });
});

describe('ThresholdFileWatcher', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tinysaver-threshold-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('follows a ConfigMap-style symlink swap and reports bad content once', async () => {
    // Layout of a mounted ConfigMap: file -> ..data/file, ..data -> ..v1 (swapped atomically).
    mkdirSync(join(dir, '..v1'));
    mkdirSync(join(dir, '..v2'));
    mkdirSync(join(dir, '..v3'));
    writeFileSync(join(dir, '..v1', 'threshold.json'), '{"threshold": 0.8}');
    writeFileSync(join(dir, '..v2', 'threshold.json'), '{"threshold": 0.95, "auditRate": 0.1}');
    writeFileSync(join(dir, '..v3', 'threshold.json'), 'garbage');
    symlinkSync('..v1', join(dir, '..data'));
    symlinkSync(join('..data', 'threshold.json'), join(dir, 'threshold.json'));
    const changes: ThresholdSettings[] = [];
    const errors: string[] = [];
    const w = new ThresholdFileWatcher({
      path: join(dir, 'threshold.json'),
      intervalMs: 1000,
      onChange: (v) => changes.push(v),
      onInvalid: (e) => errors.push(e),
    });
    await w.poll();
    await w.poll(); // unchanged: no second event
    expect(changes).toEqual([{ threshold: 0.8 }]);
    const swap = (target: string) => {
      symlinkSync(target, join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    };
    swap('..v2');
    await w.poll();
    expect(changes.at(-1)).toEqual({ threshold: 0.95, auditRate: 0.1 });
    swap('..v3');
    await w.poll();
    await w.poll();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/neither a number nor JSON/);
    expect(changes).toHaveLength(2);
    rmSync(join(dir, '..data'));
    await w.poll();
    expect(errors.at(-1)).toMatch(/cannot read .*ENOENT/);
    swap('..v1');
    await w.poll();
    expect(changes.at(-1)).toEqual({ threshold: 0.8 });
  });
});
