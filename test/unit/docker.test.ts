// The Dockerfiles cannot be built here (no container engine), so this checks what can be checked
// without one: pinned multi-stage builds, a numeric non-root USER, the `tinysaver` entrypoint and the
// commands the chart/operator run exist in the package, EXPOSEd ports match the defaults the chart and
// the operator use, every COPY source exists and passes .dockerignore, and the operator image (which
// drops onnxruntime-node) never imports it.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtinModules } from 'node:module';
import { describe, expect, it } from 'vitest';
import yaml from 'js-yaml';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');

interface Instruction {
  op: string;
  args: string;
}
interface Dockerfile {
  args: Record<string, string>;
  stages: Instruction[][];
}

/** Minimal Dockerfile reader: joins `\` continuations, drops comments, splits stages at FROM. */
function parseDockerfile(text: string): Dockerfile {
  const logical: string[] = [];
  let cur = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw) && cur === '') continue;
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) cur += line.slice(0, -1) + ' ';
    else {
      cur += line;
      if (cur.trim()) logical.push(cur.trim());
      cur = '';
    }
  }
  const df: Dockerfile = { args: {}, stages: [] };
  for (const l of logical) {
    const m = /^(\w+)\s+(.*)$/s.exec(l);
    if (!m) continue;
    const ins = { op: m[1].toUpperCase(), args: m[2] };
    if (ins.op === 'ARG' && df.stages.length === 0) {
      const [k, v] = ins.args.split('=');
      df.args[k] = v ?? '';
      continue;
    }
    if (ins.op === 'FROM') df.stages.push([]);
    df.stages[df.stages.length - 1]?.push(ins);
  }
  return df;
}

const FILES = {
  runtime: 'docker/Dockerfile.runtime',
  'runtime-gpu': 'docker/Dockerfile.runtime-gpu',
  operator: 'docker/Dockerfile.operator',
} as const;
const parsed = Object.fromEntries(Object.entries(FILES).map(([k, f]) => [k, parseDockerfile(read(f))])) as Record<
  keyof typeof FILES,
  Dockerfile
>;

const finalStage = (df: Dockerfile) => df.stages[df.stages.length - 1];
const ops = (stage: Instruction[], op: string) => stage.filter((i) => i.op === op);
const exposed = (df: Dockerfile) =>
  ops(finalStage(df), 'EXPOSE')
    .flatMap((i) => i.args.split(/\s+/).map(Number))
    .sort((a, b) => a - b);
const execForm = (i: Instruction | undefined) => (i ? (JSON.parse(i.args) as string[]) : undefined);

/** .dockerignore semantics for the patterns used here: later lines win; `!x` re-includes x and below. */
function dockerIgnored(path: string): boolean {
  const lines = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  let ignored = false;
  for (const l of lines) {
    const neg = l.startsWith('!');
    const pat = (neg ? l.slice(1) : l).replace(/\/$/, '');
    const rx = new RegExp(
      '^' +
        pat
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*\*\//g, '(.*/)?')
          .replace(/\*/g, '[^/]*') +
        '(/.*)?$',
    );
    if (rx.test(path.replace(/\/$/, ''))) ignored = !neg;
  }
  return ignored;
}

/** Top-level source folders docker/tsconfig.image.json compiles. */
function imageTsconfigDirs(): string[] {
  const cfg = JSON.parse(read('docker/tsconfig.image.json')) as { extends: string; include: string[] };
  expect(cfg.extends).toBe('../tsconfig.json');
  return cfg.include.map((inc) => inc.replace(/^\.\.\//, '').split('/')[0]);
}

describe.each(Object.keys(FILES) as Array<keyof typeof FILES>)('%s image', (name) => {
  const df = parsed[name];

  it('is a multi-stage build on pinned base images', () => {
    expect(df.stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of df.stages) {
      const from = stage[0].args.split(/\s+/)[0];
      const image = from.replace(/^\$\{(\w+)\}$/, (_m, k: string) => df.args[k] ?? `<unset ARG ${k}>`);
      expect(image, `FROM ${from}`).toMatch(/^[\w./-]+:\d+\.\d+(\.\d+)?[\w.-]*$/);
      expect(image).not.toMatch(/:latest$/);
    }
    expect(df.args.NODE_IMAGE).toMatch(/^node:20\.\d+\.\d+-bookworm-slim$/);
  });

  it('runs as a numeric non-root user', () => {
    const users = ops(finalStage(df), 'USER');
    expect(users.length).toBe(1);
    const m = /^(\d+)(?::(\d+))?$/.exec(users[0].args);
    expect(m, `USER ${users[0].args} must be numeric uid[:gid]`).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0);
    if (m![2] !== undefined) expect(Number(m![2])).toBeGreaterThan(0);
    // Same uid the operator gives the pods it creates and the chart gives the operator pod.
    const chartValues = yaml.load(read('charts/tinysaver-operator/values.yaml')) as { podSecurityContext: { runAsUser: number } };
    expect(Number(m![1])).toBe(chartValues.podSecurityContext.runAsUser);
  });

  it('enters through the package bin `tinysaver` (bin/tinysaver.js on Node 20)', () => {
    expect(execForm(ops(finalStage(df), 'ENTRYPOINT')[0])).toEqual(['tinysaver']);
    const pkg = JSON.parse(read('package.json'));
    expect(pkg.bin.tinysaver).toBe('bin/tinysaver.js');
    expect(existsSync(join(ROOT, pkg.bin.tinysaver))).toBe(true);
    const runs = ops(finalStage(df), 'RUN').map((i) => i.args);
    expect(runs.some((r) => r.startsWith('ln -s /app/bin/tinysaver.js /usr/local/bin/tinysaver'))).toBe(true);
    const copies = ops(finalStage(df), 'COPY').map((i) => i.args);
    expect(copies).toContain('--from=build /src/bin/ ./bin/');
    expect(copies).toContain('--from=build /src/dist/ ./dist/');
    // bin/tinysaver.js loads ../dist/cli/main.js, which tsc builds from cli/main.ts.
    expect(read('bin/tinysaver.js')).toContain("'../dist/cli/main.js'");
    expect(existsSync(join(ROOT, 'cli/main.ts'))).toBe(true);
  });

  it('copies only files that exist and that .dockerignore lets through', () => {
    for (const stage of df.stages) {
      for (const c of ops(stage, 'COPY')) {
        if (c.args.startsWith('--from=')) continue;
        const parts = c.args.split(/\s+/);
        for (const src of parts.slice(0, -1)) {
          expect(existsSync(join(ROOT, src)), `COPY ${src}: missing in the repo`).toBe(true);
          expect(dockerIgnored(src), `COPY ${src}: excluded by .dockerignore`).toBe(false);
        }
      }
    }
    // The build stage compiles docker/tsconfig.image.json; each tree it includes must be copied in.
    const copied = ops(df.stages[0], 'COPY').flatMap((c) => c.args.split(/\s+/).slice(0, -1));
    for (const dir of imageTsconfigDirs()) expect(copied, `tsconfig.image include ${dir}`).toContain(`${dir}/`);
    expect(ops(df.stages[0], 'RUN').some((r) => r.args.startsWith('npx tsc -p docker/tsconfig.image.json'))).toBe(true);
  });

  it('keeps HOME on /tmp (the emptyDir under a read-only root filesystem)', () => {
    expect(
      ops(finalStage(df), 'ENV')
        .map((i) => i.args)
        .join(' '),
    ).toMatch(/\bHOME=\/tmp\b/);
  });

  it('installs production dependencies only', () => {
    const runs = ops(df.stages[0], 'RUN').map((i) => i.args);
    expect(runs.some((r) => r.startsWith('npm ci --ignore-scripts'))).toBe(true);
    expect(runs.some((r) => r.includes('npm prune --omit=dev'))).toBe(true);
    expect(ops(finalStage(df), 'RUN').some((r) => /npm (ci|install)/.test(r.args))).toBe(false);
  });
});

describe('models baked into the runtime images', () => {
  it('every image-path model URI in examples/ names a bundled model file', () => {
    const dir = join(ROOT, 'examples');
    const uris = readdirSync(dir)
      .filter((f) => f.endsWith('.yaml'))
      .flatMap(
        (f) =>
          yaml.loadAll(readFileSync(join(dir, f), 'utf8')) as Array<{ spec?: { saver?: { model?: string }; base?: { model?: string } } }>,
      )
      .flatMap((d) => [d?.spec?.saver?.model, d?.spec?.base?.model])
      .filter((u): u is string => typeof u === 'string' && (u.startsWith('file://') || u.startsWith('/')));
    expect(uris.length).toBeGreaterThan(0);
    for (const name of ['runtime', 'runtime-gpu'] as const) {
      const copy = ops(finalStage(parsed[name]), 'COPY').find((c) => c.args.startsWith('--from=build /src/models/zoo/ '));
      expect(copy, `${name}: COPY of models/zoo`).toBeDefined();
      const dest = copy!.args.split(/\s+/).pop()!;
      for (const uri of uris) {
        const path = uri.replace(/^file:\/\//, '');
        expect(path.startsWith(dest), `${uri} is not under ${dest}`).toBe(true);
        expect(existsSync(join(ROOT, 'models/zoo', path.slice(dest.length))), `${uri}: models/zoo/${path.slice(dest.length)} missing`).toBe(
          true,
        );
      }
    }
  });
});

describe('ports match the chart, the operator builders and DESIGN defaults', () => {
  it('runtime: router 8000, saver 8001, base model server 8080', async () => {
    const { ROUTER_DEFAULTS } = await import('../../runtime/router/options.js');
    const { ROUTER_PORT, SAVER_PORT, BASE_PORT } = await import('../../operator/reconcile/builders/workloads.js');
    const { MODEL_SERVER_DEFAULTS } = await import('../../runtime/server/model-server.js');
    expect(ROUTER_DEFAULTS.port).toBe(ROUTER_PORT);
    expect(MODEL_SERVER_DEFAULTS.port).toBe(BASE_PORT);
    expect(exposed(parsed.runtime)).toEqual([ROUTER_PORT, SAVER_PORT, BASE_PORT].sort((a, b) => a - b));
    expect(exposed(parsed['runtime-gpu'])).toEqual([BASE_PORT]);
  });

  it('operator: the metrics/health port the chart configures, which is also the CLI default', () => {
    const values = yaml.load(read('charts/tinysaver-operator/values.yaml')) as { operator: { metricsPort: number } };
    expect(exposed(parsed.operator)).toEqual([values.operator.metricsPort]);
    expect(read('cli/commands/operator.ts')).toMatch(new RegExp(`--metrics-port PORT .*\\(default: ${values.operator.metricsPort}\\)`));
  });
});

describe('commands the images run exist in the CLI', () => {
  it('chart runs `operator`; the operator runs `serve-model` and `route` in the runtime image', async () => {
    const { COMMANDS } = await import('../../cli/main.js');
    const deployment = read('charts/tinysaver-operator/templates/deployment.yaml');
    expect(deployment).toMatch(/args:\n\s+- operator\n/);
    expect(Object.keys(COMMANDS)).toEqual(expect.arrayContaining(['operator', 'serve-model', 'route']));
    expect(execForm(ops(finalStage(parsed.operator), 'CMD')[0])).toEqual(['operator']);
    expect(execForm(ops(finalStage(parsed['runtime-gpu']), 'CMD')[0])?.[0]).toBe('serve-model');
  });

  it('the operator builders run the runtime image default that docker/Dockerfile.runtime is tagged as', async () => {
    const { DEFAULT_IMAGE } = await import('../../operator/api/model-cascade.js');
    expect(read(FILES.runtime)).toContain(`-t ${DEFAULT_IMAGE} `);
    const chart = yaml.load(read('charts/tinysaver-operator/Chart.yaml')) as { appVersion: string };
    const values = yaml.load(read('charts/tinysaver-operator/values.yaml')) as { image: { repository: string } };
    expect(read(FILES.operator)).toContain(`-t ${values.image.repository}:${chart.appVersion} `);
    expect(DEFAULT_IMAGE.endsWith(`:${chart.appVersion}`)).toBe(true);
  });

  it('GPU image fetches the CUDA 12 execution provider of onnxruntime-node', () => {
    const runs = ops(parsed['runtime-gpu'].stages[0], 'RUN').map((i) => i.args);
    expect(runs.some((r) => r.includes('ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js'))).toBe(true);
    expect(parsed['runtime-gpu'].args.CUDA_IMAGE).toMatch(/^nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime-/);
  });
});

describe('operator image without onnxruntime-node', () => {
  /** Bare package names reachable from a module through static imports and literal dynamic imports. */
  function importedPackages(entries: string[]): { packages: Set<string>; files: Set<string> } {
    const files = new Set<string>();
    const packages = new Set<string>();
    const queue = entries.map((e) => join(ROOT, e));
    while (queue.length) {
      const file = queue.pop()!;
      if (files.has(file)) continue;
      files.add(file);
      const src = readFileSync(file, 'utf8');
      const specs = [
        ...src.matchAll(/^\s*(?:import|export)\s+(?!type\b)[^'"]*?from\s+['"]([^'"]+)['"]/gm),
        ...src.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm),
        ...src.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
      ].map((m) => m[1]);
      for (const spec of specs) {
        if (spec.startsWith('.')) {
          const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
          if (existsSync(target)) queue.push(target);
          else if (existsSync(target.replace(/\.ts$/, '.js'))) queue.push(target.replace(/\.ts$/, '.js'));
          else throw new Error(`${file}: import ${spec} not found`);
        } else {
          const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
          packages.add(name);
        }
      }
    }
    return { packages, files };
  }

  it('everything the CLI can load (every command) lies in the trees the image compiles', () => {
    const { files } = importedPackages(['cli/main.ts']);
    const dirs = imageTsconfigDirs();
    const outside = [...files].map((f) => f.slice(ROOT.length)).filter((f) => !dirs.includes(f.split('/')[0]));
    expect(files.size).toBeGreaterThan(10);
    expect(outside).toEqual([]);
  });

  it('`tinysaver operator` reaches no onnxruntime package, only declared dependencies', () => {
    const opCmd = 'cli/commands/operator.ts';
    expect(existsSync(join(ROOT, opCmd)), `${opCmd} missing`).toBe(true);
    // main.ts lazily imports every command; only its own static imports load for `operator`.
    const mainSrc = read('cli/main.ts').replace(/import\(\s*['"][^'"]+['"]\s*\)/g, '');
    const mainStatic = [...mainSrc.matchAll(/^\s*import\s+(?!type\b)[^'"]*?from\s+['"](\.[^'"]+)['"]/gm)].map((m) =>
      join('cli', m[1]).replace(/\.js$/, '.ts'),
    );
    const { packages, files } = importedPackages([opCmd, ...mainStatic]);
    expect(files.size).toBeGreaterThan(1);
    const deps = Object.keys(JSON.parse(read('package.json')).dependencies ?? {});
    const builtins = new Set(builtinModules.flatMap((b) => [b, `node:${b}`]));
    const undeclared = [...packages].filter((p) => !builtins.has(p) && !p.startsWith('node:') && !deps.includes(p));
    expect(undeclared).toEqual([]);
    expect([...packages].filter((p) => p.startsWith('onnxruntime'))).toEqual([]);
    expect(read(FILES.operator)).toContain('rm -rf node_modules/onnxruntime-node node_modules/onnxruntime-common');
  });
});
