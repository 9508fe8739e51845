// Router start-up of the decision log: the sink from the options, the bounded queue (drops counted in
// tinysaver_decision_log_dropped_total), the model identities, and the RouterDecisionLog the cascade calls.
// Kept out of the router's files so the hook there is a few lines.

import { readFile } from 'node:fs/promises';
import type { IncludeInputs } from './record.js';
import { RouterDecisionLog } from './router-log.js';
import { type DecisionSink, FdSink, RotatingFileSink } from './sink.js';
import { DecisionLog } from './writer.js';
import { fileIdentity } from './router-log.js';

export interface DecisionLogSettings {
  /** "-" for stdout, else a file path; undefined: no log */
  decisionLog?: string;
  decisionSampleRate: number;
  decisionInputs: IncludeInputs;
  /** file sink: rotate before a file passes this size, keep all files within the total (MiB, may be fractional) */
  decisionLogMaxFileMib: number;
  decisionLogMaxTotalMib: number;
  /** records waiting for the sink at most; beyond, dropped and counted */
  decisionLogQueue: number;
  /** model identities; default: sha256 of an in-process saver file, else "<model>@<version>" from metadata */
  saverId?: string;
  baseId?: string;
}

export const DECISION_LOG_DEFAULTS = Object.freeze({
  decisionSampleRate: 0,
  decisionInputs: 'none' as IncludeInputs,
  decisionLogMaxFileMib: 64,
  decisionLogMaxTotalMib: 512,
  decisionLogQueue: 8192,
});

export interface StartedDecisionLog {
  log: DecisionLog;
  router: RouterDecisionLog;
  close(): Promise<void>;
}

const MIB = 1024 * 1024;

/** The model's identity: the given one, the sha256 of its ONNX file, or name@version from its metadata. */
export async function modelIdentity(
  given: string | undefined,
  onnxPath: string | undefined,
  name: string,
  versions: string[] | undefined,
): Promise<string> {
  if (given) return given;
  if (onnxPath) return fileIdentity(await readFile(onnxPath));
  return `${name}@${versions && versions.length > 0 ? versions[versions.length - 1] : 'unversioned'}`;
}

/** Opens the sink now (a bad path fails the start, naming it); undefined when the log is off. */
export async function startDecisionLog(
  s: DecisionLogSettings,
  o: {
    cascade: string;
    saver: string;
    base: string;
    seed: number;
    threshold: number;
    auditRate: number;
    onDrop: (n: number) => void;
    log: (line: string) => void;
  },
): Promise<StartedDecisionLog | undefined> {
  if (s.decisionLog === undefined || s.decisionLog === '') return undefined;
  let sink: DecisionSink;
  if (s.decisionLog === '-') sink = new FdSink(1);
  else {
    const file = new RotatingFileSink({
      path: s.decisionLog,
      maxFileBytes: Math.round(s.decisionLogMaxFileMib * MIB),
      maxTotalBytes: Math.round(s.decisionLogMaxTotalMib * MIB),
    });
    try {
      await file.open();
    } catch (e) {
      throw new Error(`--decision-log ${s.decisionLog}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    sink = file;
  }
  const log = new DecisionLog({ sink, maxQueue: s.decisionLogQueue, onDrop: o.onDrop, onError: o.log });
  const router = new RouterDecisionLog({
    log,
    cascade: o.cascade,
    saver: o.saver,
    base: o.base,
    sampleRate: s.decisionSampleRate,
    includeInputs: s.decisionInputs,
    seed: o.seed,
    threshold: o.threshold,
    auditRate: o.auditRate,
  });
  o.log(`decision log to ${sink.describe}: audited rows + ${s.decisionSampleRate} of the others, inputs ${s.decisionInputs}`);
  return { log, router, close: () => log.close(2000) };
}
