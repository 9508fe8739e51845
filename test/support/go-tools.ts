// Go command-line tools for tests (grpcurl: a gRPC client this project did not write), built once from
// their pinned Go modules by scripts/build-go-tools.sh into ~/.cache/tinysaver/tools/go.
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'build-go-tools.sh');

/** Absolute path of the tool, building it first when the cache lacks it (minutes, once). */
export async function goTool(name: 'grpcurl' | 'ghz'): Promise<string> {
  const { stdout } = await run('bash', [SCRIPT, name], { maxBuffer: 16 << 20, timeout: 1_500_000 });
  return stdout.trim().split('\n').pop()!;
}
