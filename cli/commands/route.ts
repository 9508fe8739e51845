// `tinysaver route`: the cascade router sidecar (saver first, base for the rows below the threshold).

import { CONFIDENCE_MEASURES } from '../../core/cascade/confidence.js';
import { untilSignal } from '../../runtime/oip/edge.js';
import { listenUrl, parseFlags, type FlagDef, type FlagValues } from '../flags.js';
import { ROUTER_DEFAULTS as D, ROUTER_GRPC_PORT, UPSTREAM_PROTOCOLS, type RouterOptions } from '../../runtime/router/options.js';
import { startRouter } from '../../runtime/router/server.js';
import { SPEC_DEFAULTS } from '../../operator/api/model-cascade.js';

export const ROUTE_FLAGS: Record<string, FlagDef> = {
  host: { kind: 'string', default: D.host, help: 'address to listen on (the operator passes 0.0.0.0)' },
  port: { kind: 'port', default: D.port, help: 'port to listen on' },
  'grpc-port': {
    kind: 'port',
    default: ROUTER_GRPC_PORT,
    help: 'port of the gRPC v2 endpoint (inference.GRPCInferenceService; 0: a free port)',
  },
  name: { kind: 'string', default: D.name, help: 'model name the cascade is served under' },
  // No table default: giving --saver-url together with --saver-onnx must be detectable (an error).
  'saver-url': { kind: 'url', help: `v2 endpoint of the saver model server (default: ${D.saverUrl}; not with --saver-onnx)` },
  'saver-model': {
    kind: 'string',
    default: D.saverModel,
    help: 'model name of the saver at --saver-url (with --saver-onnx: the name reported in metadata)',
  },
  'saver-onnx': {
    kind: 'string',
    meta: 'PATH',
    help: 'run the saver in the router process from this ONNX file instead of calling --saver-url (one HTTP hop less; for small CPU savers)',
  },
  'saver-intra-op-threads': {
    kind: 'int',
    min: 0,
    default: D.saverIntraOpThreads,
    help: 'onnxruntime threads of the --saver-onnx saver (0: one per core)',
  },
  'base-url': { kind: 'url', default: D.baseUrl, help: 'v2 endpoint of the base model (tinysaver serve-model, Triton, KServe, ...)' },
  'base-model': { kind: 'string', default: D.baseModel, help: 'model name of the base at --base-url' },
  'base-protocol': {
    kind: 'string',
    default: D.baseProtocol,
    choices: UPSTREAM_PROTOCOLS,
    help: 'how the base is called: v2 REST with binary tensors, or gRPC v2 (--base-url grpc://host:port; for a Triton/KServe base that only exposes gRPC)',
  },
  output: { kind: 'string', meta: 'NAME', help: "output tensor holding the class scores (default: the saver's first output)" },
  confidence: {
    kind: 'string',
    default: D.confidence,
    choices: CONFIDENCE_MEASURES,
    help: 'confidence measure: top-1 probability or top-1 minus top-2',
  },
  probabilities: { kind: 'boolean', default: false, help: 'the scores already are probabilities (no softmax)' },
  threshold: {
    kind: 'fraction',
    default: D.threshold,
    help: 'confidence threshold; with --threshold-file, the value used until the file is valid',
  },
  'threshold-file': {
    kind: 'string',
    meta: 'PATH',
    help: 'file with a number or {"threshold": t, "auditRate": a}, re-read without restart',
  },
  'reload-interval-ms': {
    kind: 'int',
    min: 50,
    default: D.reloadIntervalMs,
    help: 'how often the threshold file is polled (symlink swaps of a ConfigMap defeat fs.watch)',
  },
  'audit-rate': {
    kind: 'fraction',
    default: SPEC_DEFAULTS.router.auditRate,
    help: 'fraction of saver-answered rows also sent to the base, off the hot path (spec.router.auditRate)',
  },
  'audit-concurrency': {
    kind: 'int',
    min: 0,
    default: D.auditConcurrency,
    help: 'audit calls in flight at most; beyond, audits are dropped and counted',
  },
  seed: { kind: 'int', default: D.seed, help: 'seed of the audit sampler' },
  'max-saver-calls': {
    kind: 'int',
    min: 1,
    default: D.maxSaverCalls,
    help: 'saver calls in flight at most; requests arriving meanwhile are coalesced into the next call',
  },
  'max-coalesce-rows': { kind: 'int', min: 1, default: D.maxCoalesceRows, help: 'most rows merged into one saver call (1: no coalescing)' },
  'max-queue-rows': {
    kind: 'int',
    min: 1,
    default: D.maxQueueRows,
    help: 'rows allowed to wait for a saver call; beyond, 429 (bounded memory under overload)',
  },
  'max-base-calls': {
    kind: 'int',
    min: 1,
    default: D.maxBaseCalls,
    help: 'base calls in flight at most; escalated rows arriving meanwhile are merged into the next call (at most --max-coalesce-rows)',
  },
  'failure-policy': {
    kind: 'string',
    default: D.failurePolicy,
    choices: ['fallback', 'error'],
    help: 'when the base fails: answer with the saver (rows marked fallback) or 503',
  },
  'saver-timeout-ms': { kind: 'int', min: 1, default: D.saverTimeoutMs, help: 'timeout of a saver call' },
  'base-timeout-ms': { kind: 'int', min: 1, default: D.baseTimeoutMs, help: 'timeout of a base call' },
  'breaker-failures': { kind: 'int', min: 1, default: D.breakerFailures, help: 'consecutive base failures that open the circuit' },
  'breaker-cooldown-ms': { kind: 'int', min: 0, default: D.breakerCooldownMs, help: 'time the circuit stays open before one probe call' },
  'startup-timeout-ms': {
    kind: 'int',
    min: 0,
    default: D.startupTimeoutMs,
    help: 'how long to wait for saver and base metadata at startup',
  },
  'max-body-bytes': { kind: 'int', min: 1, default: D.maxBodyBytes, help: 'largest request body accepted (413 beyond)' },
  'decision-log': {
    kind: 'string',
    meta: 'FILE|-',
    help: 'decision log (JSON Lines, README "Decision log"): every audited row plus --decision-sample-rate of the others, to FILE (size-rotated) or - (stdout); default: no log',
  },
  'decision-sample-rate': {
    kind: 'fraction',
    default: D.decisionSampleRate,
    help: 'share of ordinary (not audited) rows logged; the threshold file\'s "decisionSampleRate" overrides it without restart',
  },
  'decision-inputs': {
    kind: 'string',
    default: D.decisionInputs,
    choices: ['none', 'hash', 'tensor'],
    help: "what of each logged row's input goes in the log: nothing, its sha256, or its tensors",
  },
  'decision-log-max-file-mib': {
    kind: 'number',
    min: 0.001,
    default: D.decisionLogMaxFileMib,
    help: 'rotate the log file before it passes this size (MiB)',
  },
  'decision-log-max-total-mib': {
    kind: 'number',
    min: 0.001,
    default: D.decisionLogMaxTotalMib,
    help: 'the log file and its rotated copies stay within this size (MiB; the oldest is deleted)',
  },
  'decision-log-queue': {
    kind: 'int',
    min: 1,
    default: D.decisionLogQueue,
    help: 'records waiting for the sink at most; beyond, dropped and counted (tinysaver_decision_log_dropped_total), never waited for',
  },
  'saver-id': {
    kind: 'string',
    meta: 'ID',
    help: 'saver identity in the log (default: sha256 of --saver-onnx, else <saver-model>@<version> from its metadata)',
  },
  'base-id': { kind: 'string', meta: 'ID', help: 'base identity in the log (default: <base-model>@<version> from its metadata)' },
};

/** `--saver-intra-op-threads` -> `saverIntraOpThreads`: every route flag is named after its RouterOptions field. */
export function optionName(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** RouterOptions from parsed route flags: one field per flag (the flag table's kinds and choices checked the values). */
export function routerOptionsFromFlags(v: FlagValues): Partial<RouterOptions> {
  const out: Record<string, unknown> = {};
  for (const flag of Object.keys(ROUTE_FLAGS)) out[optionName(flag)] = v[flag];
  out.saverUrl ??= D.saverUrl;
  return out as Partial<RouterOptions>;
}

/** Resolves once SIGINT or SIGTERM arrives (kept here for the commands that import it from route). */
export { untilSignal };

export async function run(argv: string[]): Promise<number> {
  const p = parseFlags(
    argv,
    'tinysaver route [flags]',
    'Cascade router: the saver answers confident rows, the base the rest (Open Inference Protocol v2).',
    ROUTE_FLAGS,
  );
  if (p.kind === 'help') return (console.log(p.text), 0);
  if (p.kind === 'error') return (console.error(`tinysaver route: ${p.message}`), 2);
  if (p.values['saver-onnx'] !== undefined && p.values['saver-url'] !== undefined) {
    return (
      console.error(
        'tinysaver route: --saver-url and --saver-onnx exclude each other (the saver is either called over HTTP or run in the router)',
      ),
      2
    );
  }
  if ((p.values['saver-url'] as string | undefined)?.startsWith('grpc:')) {
    return (
      console.error('tinysaver route: --saver-url: the saver is called over HTTP (http://...); only the base may be called over gRPC'),
      2
    );
  }
  const grpcBase = (p.values['base-url'] as string).startsWith('grpc:');
  if (grpcBase !== (p.values['base-protocol'] === 'grpc')) {
    return (
      console.error(
        `tinysaver route: --base-url ${p.values['base-url']} does not fit --base-protocol ${p.values['base-protocol']} (http -> http://host:port, grpc -> grpc://host:port)`,
      ),
      2
    );
  }
  let router;
  try {
    router = await startRouter(routerOptionsFromFlags(p.values));
  } catch (e) {
    console.error(`tinysaver route: ${(e as Error).message}`);
    return 1;
  }
  const saver =
    p.values['saver-onnx'] !== undefined
      ? `saver in-process from ${p.values['saver-onnx']}`
      : `saver at ${p.values['saver-url'] ?? D.saverUrl}`;
  const at = listenUrl(p.values.host as string, router.url);
  console.error(`router: serving model "${p.values.name}" at ${at} and gRPC ${router.grpcAddress} (${saver}; metrics at ${at}/metrics)`);
  const sig = await untilSignal();
  const t0 = Date.now();
  console.error(`router: ${sig}, draining`);
  await router.close();
  exitOnceClosed(t0);
  return 0;
}

/**
 * After the drain (every request read is answered, audits and the decision log are done) the process exits
 * at once instead of when its last handle ends (a keep-alive socket, the base re-probe, a timer). The timer
 * is unref'd: with nothing pending the process ends by itself first. What process.exit() itself waits for
 * (libuv joins its thread pool, so a getaddrinfo in flight; onnxruntime's telemetry threads) is kept out:
 * runtime/router/lookup.ts, runtime/onnx/telemetry-off.ts (issue 10: 20 s to exit with DNS down, now 0.9 s).
 */
function exitOnceClosed(t0: number): void {
  console.error(`router: drained in ${Date.now() - t0} ms, exiting`);
  setTimeout(() => {
    const pending = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'PipeWrap' && r !== 'Timeout');
    if (pending.length) console.error(`router: exiting with ${summarize(pending)} pending`);
    process.exit();
  }, 0).unref();
}

function summarize(resources: string[]): string {
  const n = new Map<string, number>();
  for (const r of resources) n.set(r, (n.get(r) ?? 0) + 1);
  return [...n].map(([k, v]) => `${v} ${k}`).join(', ');
}
