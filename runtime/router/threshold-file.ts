// The threshold file the operator mounts from the `<name>-router` ConfigMap. Content is either a
// bare number ("0.87") or JSON {"threshold": 0.87, "auditRate": 0.02, "decisionSampleRate": 0.01}
// (auditRate and decisionSampleRate optional).
// Kubernetes updates a mounted ConfigMap by swapping a symlink (..data -> ..<timestamp>), which
// fs.watch on the file does not see reliably, so the file is polled: a read of a few bytes per
// interval is cheap, and the parse happens only when the text changed.

import { readFile } from 'node:fs/promises';

export interface ThresholdSettings {
  threshold: number;
  /** absent: the router keeps its --audit-rate flag value */
  auditRate?: number;
  /** decision log sample rate (absent: the --decision-sample-rate flag value) */
  decisionSampleRate?: number;
}

export type ParseResult = { ok: true; value: ThresholdSettings } | { ok: false; error: string };

function checkFraction(field: string, v: unknown): string | undefined {
  if (typeof v !== 'number' || !Number.isFinite(v)) return `${field} must be a finite number, got ${JSON.stringify(v)}`;
  if (v < 0 || v > 1) return `${field} must be within [0, 1], got ${v}`;
  return undefined;
}

/** Pure parser of the threshold file's text. */
export function parseThresholdFile(text: string): ParseResult {
  const trimmed = text.trim();
  if (trimmed === '') return { ok: false, error: 'file is empty' };
  if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(trimmed)) {
    const threshold = Number(trimmed);
    const err = checkFraction('threshold', threshold);
    return err ? { ok: false, error: err } : { ok: true, value: { threshold } };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(trimmed);
  } catch (e) {
    return { ok: false, error: `neither a number nor JSON: ${(e as Error).message}` };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    return { ok: false, error: 'JSON content must be an object like {"threshold": 0.9}' };
  }
  const obj = doc as Record<string, unknown>;
  if (!('threshold' in obj)) return { ok: false, error: 'JSON object has no "threshold" field' };
  const tErr = checkFraction('threshold', obj.threshold);
  if (tErr) return { ok: false, error: tErr };
  const value: ThresholdSettings = { threshold: obj.threshold as number };
  if (obj.auditRate !== undefined && obj.auditRate !== null) {
    const aErr = checkFraction('auditRate', obj.auditRate);
    if (aErr) return { ok: false, error: aErr };
    value.auditRate = obj.auditRate as number;
  }
  if (obj.decisionSampleRate !== undefined && obj.decisionSampleRate !== null) {
    const rErr = checkFraction('decisionSampleRate', obj.decisionSampleRate);
    if (rErr) return { ok: false, error: rErr };
    value.decisionSampleRate = obj.decisionSampleRate as number;
  }
  return { ok: true, value };
}

export interface ThresholdWatcherOptions {
  path: string;
  intervalMs: number;
  onChange: (value: ThresholdSettings) => void;
  /** called once per distinct bad content (or read error), not on every poll */
  onInvalid: (error: string) => void;
}

/** Polls the file; calls onChange with each new valid content, onInvalid once per new bad state. */
export class ThresholdFileWatcher {
  private timer: NodeJS.Timeout | undefined;
  private lastText: string | undefined;
  private lastErrorKey: string | undefined;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: ThresholdWatcherOptions) {}

  /**
   * Reads once now (after any read in progress, so a caller always sees the current file); returns
   * the value when it changed and is valid, else undefined.
   */
  poll(): Promise<ThresholdSettings | undefined> {
    const next = this.chain.then(() => this.readOnce());
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async readOnce(): Promise<ThresholdSettings | undefined> {
    let text: string;
    try {
      text = await readFile(this.opts.path, 'utf8');
    } catch (e) {
      this.reportInvalid(`cannot read ${this.opts.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      this.lastText = undefined;
      return undefined;
    }
    if (text === this.lastText) return undefined;
    this.lastText = text;
    const parsed = parseThresholdFile(text);
    if (!parsed.ok) {
      this.reportInvalid(`${this.opts.path}: ${parsed.error}`);
      return undefined;
    }
    this.lastErrorKey = undefined;
    this.opts.onChange(parsed.value);
    return parsed.value;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.poll().catch(() => undefined), this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private reportInvalid(error: string): void {
    if (error === this.lastErrorKey) return;
    this.lastErrorKey = error;
    this.opts.onInvalid(error);
  }
}
