// Imports only point down: cli/ -> operator/ -> runtime/ -> core/ and models/ (DESIGN.md "Shape").
// A file may import from its own layer or a lower one; core/ and models/ are the floor and import
// neither each other nor anything above them. bench/ and test/ sit outside the layers.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const RANK: Record<string, number> = { cli: 3, operator: 2, runtime: 1, core: 0, models: 0 };

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Relative specifiers of static imports, dynamic imports and re-exports (type-only ones included). */
export function relativeImports(src: string): string[] {
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g;
  return [...src.matchAll(re)].map((m) => m[1]);
}

function layerOf(path: string): string | undefined {
  const top = relative(ROOT, path).split('/')[0];
  return top in RANK ? top : undefined;
}

export function violations(): string[] {
  const bad: string[] = [];
  for (const layer of Object.keys(RANK)) {
    for (const file of tsFiles(join(ROOT, layer))) {
      for (const spec of relativeImports(readFileSync(file, 'utf8'))) {
        const target = layerOf(resolve(dirname(file), spec));
        const from = relative(ROOT, file);
        if (!target) {
          bad.push(`${from} imports ${spec}, outside the layered folders`);
        } else if (RANK[target] > RANK[layer] || (RANK[target] === RANK[layer] && target !== layer)) {
          bad.push(`${from} (${layer}) imports ${spec} (${target})`);
        }
      }
    }
  }
  return bad;
}

describe('layers', () => {
  it('finds the imports it checks (static, dynamic, type-only, re-export)', () => {
    const src = [
      "import { a } from '../core/x.js';",
      "import type { B } from '../../operator/y.js';",
      "export { c } from './z.js';",
      "const m = await import('../cli/main.js');",
      "import './side-effect.js';",
      "import { readFileSync } from 'node:fs';",
    ].join('\n');
    expect(relativeImports(src)).toEqual(['../core/x.js', '../../operator/y.js', './z.js', '../cli/main.js', './side-effect.js']);
  });

  it('no import runs from a lower layer to a higher one', () => {
    expect(violations()).toEqual([]);
  });
});
