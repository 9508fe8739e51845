// Flag parsing for the benchmark scripts: the CLI's declarative table, so every bench has --help and
// a bad flag is a one-line error (exit 2) instead of a stack trace.
import { type FlagDef, type FlagValues, parseFlags } from '../cli/flags.js';

export function benchFlags(usage: string, summary: string, defs: Record<string, FlagDef>): FlagValues {
  const parsed = parseFlags(process.argv.slice(2), usage, summary, defs);
  if (parsed.kind === 'help') {
    console.log(parsed.text);
    process.exit(0);
  }
  if (parsed.kind === 'error') {
    console.error(`${usage.split(' ')[1] ?? 'bench'}: ${parsed.message}`);
    process.exit(2);
  }
  return parsed.values;
}
