// Router settings and their defaults. The CLI (`tinysaver route`), `tinysaver up` and the tests all
// build a RouterOptions from these defaults, so a default is written down exactly once.

import type { ConfidenceMeasure } from '../../core/cascade/confidence.js';
import type { OnnxModel } from '../onnx/session.js';
import { DECISION_LOG_DEFAULTS, type DecisionLogSettings } from '../decisions/start.js';

export { ROUTER_GRPC_PORT } from '../oip/ports.js';

export type UpstreamProtocol = 'http' | 'grpc';
export const UPSTREAM_PROTOCOLS: readonly UpstreamProtocol[] = ['http', 'grpc'];

/** when the base fails: answer with the saver (rows marked fallback) or 503 */
export type FailurePolicy = 'fallback' | 'error';

export interface RouterOptions extends DecisionLogSettings {
  host: string;
  /** 0 picks a free port (tests) */
  port: number;
  /** serve gRPC v2 on this port too (0 picks a free port); undefined: HTTP only (the CLI default is 9000) */
  grpcPort?: number;
  /** model name the cascade is served under */
  name: string;
  saverUrl: string;
  /** the saver's model name at saverUrl (with saverOnnx: the name reported in metadata and errors) */
  saverModel: string;
  /** run the saver in the router process from this ONNX file instead of calling saverUrl */
  saverOnnx?: string;
  /** an already loaded saver session to run in-process (tinysaver up shares one with its saver server) */
  saverSession?: OnnxModel;
  /** onnxruntime intra-op threads of the in-process saver */
  saverIntraOpThreads: number;
  baseUrl: string;
  baseModel: string;
  /** how the base is called: v2 over HTTP (binary tensors) or gRPC (raw contents) */
  baseProtocol: UpstreamProtocol;
  /** output tensor holding the scores; default the saver's first output */
  output?: string;
  confidence: ConfidenceMeasure;
  /** the scores already are probabilities (no softmax) */
  probabilities: boolean;
  /** fixed threshold, or the starting value until the threshold file gives a valid one */
  threshold: number;
  thresholdFile?: string;
  reloadIntervalMs: number;
  auditRate: number;
  auditConcurrency: number;
  seed: number;
  /** saver calls in flight at most; requests arriving meanwhile share the next call */
  maxSaverCalls: number;
  /** most rows merged into one saver call (1: no coalescing) */
  maxCoalesceRows: number;
  /** rows allowed to wait for a saver call; beyond, 429 */
  maxQueueRows: number;
  /** base calls in flight at most; escalations arriving meanwhile are merged into the next call */
  maxBaseCalls: number;
  failurePolicy: FailurePolicy;
  saverTimeoutMs: number;
  baseTimeoutMs: number;
  breakerFailures: number;
  breakerCooldownMs: number;
  startupTimeoutMs: number;
  maxBodyBytes: number;
  /** log sink (default stderr); tests pass a quiet one */
  log?: (line: string) => void;
}

export const ROUTER_DEFAULTS: Readonly<
  Omit<RouterOptions, 'output' | 'thresholdFile' | 'log' | 'saverOnnx' | 'saverSession' | 'grpcPort' | 'decisionLog' | 'saverId' | 'baseId'>
> = Object.freeze({
  ...DECISION_LOG_DEFAULTS,
  host: '127.0.0.1',
  port: 8000,
  name: 'cascade',
  saverUrl: 'http://127.0.0.1:8001',
  saverModel: 'saver',
  saverIntraOpThreads: 1,
  baseUrl: 'http://127.0.0.1:8002',
  baseModel: 'base',
  baseProtocol: 'http' as UpstreamProtocol,
  confidence: 'max-prob' as ConfidenceMeasure,
  probabilities: false,
  threshold: 0.9,
  reloadIntervalMs: 1000,
  // auditRate, auditConcurrency, confidence, failurePolicy and baseTimeoutMs mirror the ModelCascade's
  // spec.router defaults (withDefaults); this layer cannot import operator/, so test/unit/crd-defaults.test.ts
  // ties them, and the CLI's --audit-rate flags read withDefaults itself
  auditRate: 0.02,
  auditConcurrency: 4,
  seed: 1,
  maxSaverCalls: 2,
  maxCoalesceRows: 64,
  maxQueueRows: 4096,
  maxBaseCalls: 4,
  failurePolicy: 'fallback' as FailurePolicy,
  saverTimeoutMs: 5000,
  baseTimeoutMs: 2000,
  breakerFailures: 5,
  breakerCooldownMs: 5000,
  startupTimeoutMs: 60_000,
  maxBodyBytes: 64 * 1024 * 1024,
});
