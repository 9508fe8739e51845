// `tinysaver up` (what `npm start` runs): a whole cascade on this machine with the bundled models:
// saver model server (8001), base model server (8002) and the router (8000), all on 127.0.0.1.
// The router runs the saver in-process on the same session the saver server serves (no localhost hop,
// like `route --saver-onnx`); --saver-via-http makes it call the saver server instead, as a Sidecar pod does.

import { loadZooManifest, zooModelPath } from '../../models/zoo.js';
import { parseFlags, type FlagDef } from '../flags.js';
import { ROUTER_DEFAULTS } from '../../runtime/router/options.js';
import { startRouter, type RunningRouter } from '../../runtime/router/server.js';
import { startModelServer, type RunningModelServer } from '../../runtime/server/model-server.js';
import { loadOnnxModel, type OnnxModel } from '../../runtime/onnx/session.js';
import { untilSignal } from './route.js';
import { ListenError } from '../../runtime/oip/http.js';

export const UP_FLAGS: Record<string, FlagDef> = {
  // Defaults are the operating point `tinysaver select` / `simulate` pick for the bundled zoo (README).
  saver: { kind: 'string', default: 'saver-tinycnn', help: 'bundled saver candidate (models/zoo/manifest.json): saver-linear, saver-mlp, saver-tinycnn' },
  base: { kind: 'string', default: 'base-cnn', help: 'bundled base model' },
  host: { kind: 'string', default: '127.0.0.1', help: 'address all three servers listen on' },
  port: { kind: 'port', default: ROUTER_DEFAULTS.port, help: 'router port (the cascade endpoint)' },
  'saver-port': { kind: 'port', default: 8001, help: 'saver model server port' },
  'base-port': { kind: 'port', default: 8002, help: 'base model server port' },
  threshold: { kind: 'fraction', default: 0.88, help: 'confidence threshold (ignored while --threshold-file holds a valid value)' },
  'threshold-file': { kind: 'string', meta: 'PATH', help: 'threshold file to hot-reload (a number or {"threshold": t, "auditRate": a})' },
  'audit-rate': { kind: 'fraction', default: ROUTER_DEFAULTS.auditRate, help: 'fraction of saver-answered rows audited by the base' },
  confidence: { kind: 'string', default: ROUTER_DEFAULTS.confidence, choices: ['max-prob', 'margin'], help: 'confidence measure' },
  'failure-policy': { kind: 'string', default: ROUTER_DEFAULTS.failurePolicy, choices: ['fallback', 'error'], help: 'when the base fails' },
  // All three servers share this process: one onnxruntime thread per session avoids two spinning
  // thread pools fighting over the same cores (measured: several times lower latency on 2 cores).
  'intra-op-threads': { kind: 'int', min: 0, default: 1, help: 'onnxruntime intra-op threads per model (0: onnxruntime default, all cores)' },
  'saver-via-http': { kind: 'boolean', default: false, help: 'the router calls the saver server over HTTP (the Sidecar pod layout) instead of running the saver in-process' },
};

function exampleRequest(url: string, inputName: string): string {
  const zeros = `$(printf '0,%.0s' $(seq 783))0`;
  return [
    `  curl -s ${url}/v2/models/cascade/infer -H 'Content-Type: application/json' \\`,
    `    -d "{\\"inputs\\":[{\\"name\\":\\"${inputName}\\",\\"datatype\\":\\"FP32\\",\\"shape\\":[1,1,28,28],\\"data\\":[${zeros}]}]}"`,
  ].join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const p = parseFlags(argv, 'tinysaver up [flags]', 'Run a local cascade on the bundled models: saver and base model servers plus the router.', UP_FLAGS);
  if (p.kind === 'help') return console.log(p.text), 0;
  if (p.kind === 'error') return console.error(`tinysaver up: ${p.message}`), 2;
  const v = p.values;
  const known = loadZooManifest().models.map((m) => m.name);
  for (const flag of ['saver', 'base']) {
    if (!known.includes(v[flag] as string)) {
      console.error(`tinysaver up: --${flag}: "${v[flag]}" is not a bundled model (known: ${known.join(', ')})`);
      return 2;
    }
  }
  const host = v.host as string;
  const started: Array<RunningModelServer | RunningRouter> = [];
  let saverSession: OnnxModel | undefined;
  const closeAll = async () => {
    for (const s of started.reverse()) await s.close().catch(() => undefined);
    await saverSession?.release().catch(() => undefined);
  };
  try {
    const saverName = v.saver as string;
    const baseName = v.base as string;
    const intraOpThreads = (v['intra-op-threads'] as number) || undefined;
    const viaHttp = v['saver-via-http'] as boolean;
    if (!viaHttp) saverSession = await loadOnnxModel(zooModelPath(saverName), { intraOpThreads });
    const servers = await Promise.allSettled([
      startModelServer({ modelPath: zooModelPath(saverName), model: saverSession, name: saverName, host, port: v['saver-port'] as number, intraOpThreads }),
      startModelServer({ modelPath: zooModelPath(baseName), name: baseName, host, port: v['base-port'] as number, intraOpThreads }),
    ]);
    for (const s of servers) if (s.status === 'fulfilled') started.push(s.value);
    for (const s of servers) if (s.status === 'rejected') throw s.reason;
    const [saver, base] = started as RunningModelServer[];
    const router = await startRouter({
      host,
      port: v.port as number,
      saverUrl: saver.url,
      saverModel: saverName,
      saverSession,
      baseUrl: base.url,
      baseModel: baseName,
      threshold: v.threshold as number,
      thresholdFile: v['threshold-file'] as string | undefined,
      auditRate: v['audit-rate'] as number,
      confidence: v.confidence as 'max-prob' | 'margin',
      failurePolicy: v['failure-policy'] as 'fallback' | 'error',
      startupTimeoutMs: 10_000,
    });
    started.push(router);
    const input = saver.metadata.inputs[0]?.name ?? 'input';
    console.log(
      [
        `tinysaver cascade is up (Ctrl-C to stop):`,
        `  cascade  ${router.url}/v2/models/cascade   (router${viaHttp ? '' : ' running the saver in-process'}; metrics at ${router.url}/metrics)`,
        `  saver    ${saver.url}/v2/models/${saverName}`,
        `  base     ${base.url}/v2/models/${baseName}`,
        `  threshold ${v['threshold-file'] ? `from ${v['threshold-file']}` : v.threshold}, audit rate ${v['audit-rate']}`,
        '',
        'Example request (one all-black 28x28 image):',
        exampleRequest(router.url, input),
        '',
        'Replay the Fashion-MNIST test set through it:',
        `  node bin/tinysaver.js replay --url ${router.url} --base-url ${base.url}`,
      ].join('\n'),
    );
  } catch (e) {
    console.error(`tinysaver up: ${(e as Error).message}`);
    await closeAll();
    // A taken or forbidden port is a usage error (pick other --port/--saver-port/--base-port): exit 2.
    return e instanceof ListenError ? 2 : 1;
  }
  const sig = await untilSignal();
  console.error(`tinysaver up: ${sig}, shutting down`);
  await closeAll();
  return 0;
}
