// `tinysaver profile MODEL.onnx`: parameters, MACs and FLOPs from the ONNX graph (batch = 1).

import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { formatProfile, profileOnnxBytes } from '../../runtime/profile/profile.js';

const HELP = `Usage: tinysaver profile MODEL.onnx [MODEL2.onnx ...] [--json]

Parameters and multiply-accumulates (MACs; FLOPs = 2 x MACs) per operator and in total, from the
ONNX graph with shape inference, for one sample (symbolic batch dimensions are taken as 1).
MACs count Conv, ConvTranspose, Gemm and MatMul; other ops cost 0 MACs. Ops the profiler does not
know are listed, and the total is then marked as a lower bound.

Flags:
  --json   print machine-readable JSON (one object, or an array for several models) (default: false)
  --help   show this help`;

const MAX_MODEL_BYTES = 2 * 1024 ** 3;

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { json: { type: 'boolean' }, help: { type: 'boolean' } }, allowPositionals: true, strict: true });
  } catch (e) {
    console.error(`tinysaver profile: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(HELP);
    return 0;
  }
  const files = parsed.positionals;
  if (files.length === 0) {
    console.error(`tinysaver profile: MODEL.onnx is required\n\n${HELP}`);
    return 2;
  }
  const results = [];
  for (const file of files) {
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (e) {
      console.error(`tinysaver profile: cannot read ${file}: ${(e as Error).message}`);
      return 2;
    }
    if (bytes.length > MAX_MODEL_BYTES) {
      console.error(`tinysaver profile: ${file} is larger than 2 GiB`);
      return 2;
    }
    try {
      results.push({ file, ...profileOnnxBytes(bytes) });
    } catch (e) {
      console.error(`tinysaver profile: ${file} is not a readable ONNX model: ${(e as Error).message}`);
      return 2;
    }
  }
  if (parsed.values.json) {
    console.log(JSON.stringify(results.length === 1 ? results[0] : results, null, 2));
  } else {
    console.log(results.map((r) => formatProfile(r, r.file)).join('\n\n'));
  }
  return 0;
}
