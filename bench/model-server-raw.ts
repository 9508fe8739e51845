// Child process of bench/model-server.ts: raw in-process session.run throughput, so that the raw
// side can be pinned to the same CPUs as the server (taskset) while the parent, the load generator,
// stays idle. Prints one JSON line: {"rowsPerSecond": N}.
//
//   node dist/bench/model-server-raw.js --model PATH --batch B --seconds S [--intra-op-threads T]

import { loadOnnxModel } from '../runtime/onnx/session.js';
import { benchFlags } from './flags.js';
import { images } from './model-server-load.js';

async function main(): Promise<void> {
  const v = benchFlags('node dist/bench/model-server-raw.js [flags]', 'Raw session.run rows/s (child of bench/model-server.js).', {
    model: { kind: 'string', help: 'ONNX file' },
    batch: { kind: 'int', min: 1, default: 1, help: 'rows per run' },
    seconds: { kind: 'number', min: 0.1, default: 1, help: 'seconds measured (after 10 warm-up runs)' },
    'intra-op-threads': { kind: 'int', min: 0, default: 0, help: 'onnxruntime threads (0: default)' },
  });
  const batch = v.batch as number;
  const model = await loadOnnxModel(v.model as string, { intraOpThreads: (v['intra-op-threads'] as number) || undefined });
  const input = { input: { datatype: 'FP32' as const, shape: [batch, 1, 28, 28], data: images(batch) } };
  for (let i = 0; i < 10; i++) await model.run(input);
  let rows = 0;
  const t0 = performance.now();
  const end = t0 + (v.seconds as number) * 1000;
  while (performance.now() < end) {
    await model.run(input);
    rows += batch;
  }
  const rowsPerSecond = rows / ((performance.now() - t0) / 1000);
  await model.release();
  console.log(JSON.stringify({ rowsPerSecond }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
