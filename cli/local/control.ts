// The operator's ThresholdController on local routers (`tinysaver up --control ...`): the same
// scrape -> deltas -> window -> policy -> certification -> audit-plan path as in a cluster (the
// controller's own runCycle), with only the Kubernetes I/O replaced, as bench/drift.ts does:
// - the "router pods" are the local routers (127.0.0.1, their ports as the metrics-port annotation);
// - status lives in memory (a ModelCascade object) and can be written to a JSON file;
// - the router ConfigMap becomes the threshold file the routers hot-reload, written from the
//   reconciler's own builder (thresholdFileContent), so the file holds exactly what a cluster's
//   ConfigMap would.

import { rename, writeFile } from 'node:fs/promises';
import type { ModelCascade } from '../../operator/api/model-cascade.js';
import { effectiveAuditRate, effectiveThreshold, thresholdFileContent } from '../../operator/reconcile/builders/router-config.js';
import { METRICS_PORT_ANNOTATION, type PodLike } from '../../operator/telemetry/scrape.js';
import { ThresholdController, type CycleResult } from '../../operator/threshold/controller.js';
import type { ControllerKube } from '../../operator/threshold/kube.js';
import type { ThresholdMode } from '../../operator/threshold/policy.js';
import { controlSettings } from '../../operator/threshold/spec.js';
import type { ThresholdEvent } from '../../operator/threshold/status.js';

export interface LocalCascadeSpec {
  name: string;
  saverModel: string;
  baseModel: string;
  mode: ThresholdMode;
  initial: number;
  min: number;
  max: number;
  epsilon: number;
  /** 1 - δ */
  confidence: number;
  /** audit-rate floor (spec.router.auditRate) and ceiling (spec.control.maxAuditRate) */
  auditRate: number;
  maxAuditRate: number;
  /** Go-style durations, as in spec.control */
  interval: string;
  window: string;
  maxStep?: number;
  minAudits?: number;
}

/** The ModelCascade a local cascade stands for (what `kubectl apply` would hold). */
export function localModelCascade(s: LocalCascadeSpec): ModelCascade {
  const control: NonNullable<ModelCascade['spec']['control']> = { interval: s.interval, window: s.window, maxAuditRate: s.maxAuditRate };
  if (s.maxStep !== undefined) control.maxStep = s.maxStep;
  if (s.minAudits !== undefined) control.minAudits = s.minAudits;
  return {
    apiVersion: 'tinysaver.io/v1alpha1',
    kind: 'ModelCascade',
    metadata: { name: s.name, namespace: 'local', uid: `local-${s.name}`, generation: 1, resourceVersion: '1' },
    spec: {
      saver: { model: s.saverModel },
      base: { model: s.baseModel },
      router: { auditRate: s.auditRate },
      threshold: { initial: s.initial, min: s.min, max: s.max, mode: s.mode },
      budget: { maxAccuracyLoss: s.epsilon, confidence: s.confidence },
      control,
    },
  };
}

/** Spec errors the controller would report in status (InvalidSpec), for the CLI to refuse up front. */
export function localSpecErrors(mc: ModelCascade): string[] {
  return controlSettings(mc).errors;
}

export interface LocalRouter {
  name: string;
  host: string;
  port: number;
}

export interface LocalCycle extends CycleResult {
  /** wall-clock time of the cycle (ms) */
  at: number;
  /** threshold / audit rate in force before and after the cycle */
  from: number;
  to: number;
  auditRateFrom: number;
  auditRateTo: number;
  /** the threshold file was rewritten by this cycle */
  wroteFile: boolean;
}

export interface LocalControlOptions {
  mc: ModelCascade;
  routers: () => readonly LocalRouter[];
  thresholdFile: string;
  /** called after the threshold file was rewritten (e.g. make an in-process router reload now) */
  afterWrite?: () => Promise<void>;
  log?: (line: string) => void;
  now?: () => number;
}

export class LocalControl {
  private mc: ModelCascade;
  readonly events: ThresholdEvent[] = [];
  private readonly controller: ThresholdController;
  private readonly key: string;
  private timer?: NodeJS.Timeout;
  private busy?: Promise<unknown>;
  private stopped = false;
  /** times the threshold file was written (the initial write included) */
  fileWrites = 0;

  constructor(private readonly opts: LocalControlOptions) {
    this.mc = opts.mc;
    this.key = `${opts.mc.metadata.namespace ?? ''}/${opts.mc.metadata.name}`;
    const io: ControllerKube = {
      listRouterPods: async () => opts.routers().map(podOf),
      applyStatus: async (obj, status) => {
        this.mc = {
          ...obj,
          metadata: { ...obj.metadata, resourceVersion: String(Number(obj.metadata.resourceVersion ?? '0') + 1) },
          status: { ...obj.status, ...status, observedGeneration: obj.metadata.generation },
        };
        return this.mc;
      },
      // what the kubelet does with the ConfigMap in a cluster: the routers' mounted file changes
      applyRouterConfig: async (obj) => this.writeFile(obj),
      emitEvent: async (_obj, e) => {
        this.events.push(e);
      },
    };
    this.controller = new ThresholdController({ io, get: () => this.mc, now: opts.now, log: opts.log ?? (() => undefined) });
  }

  /** The ModelCascade as the controller last wrote it (spec + status). */
  current(): ModelCascade {
    return this.mc;
  }

  /** Writes the initial threshold file (spec.threshold.initial and the audit-rate floor). */
  async init(): Promise<void> {
    await this.writeFile(this.mc);
  }

  private async writeFile(mc: ModelCascade): Promise<void> {
    // write + rename: a router polling the file never reads half of it
    const tmp = `${this.opts.thresholdFile}.tmp`;
    await writeFile(tmp, thresholdFileContent(mc));
    await rename(tmp, this.opts.thresholdFile);
    this.fileWrites++;
    await this.opts.afterWrite?.();
  }

  /** One control interval, now. */
  async cycle(): Promise<LocalCycle | undefined> {
    const before = this.mc;
    const writes = this.fileWrites;
    const at = (this.opts.now ?? Date.now)();
    const res = await this.controller.runCycle(this.key);
    if (!res) return undefined;
    return {
      ...res,
      at,
      from: effectiveThreshold(before),
      to: effectiveThreshold(this.mc),
      auditRateFrom: effectiveAuditRate(before),
      auditRateTo: effectiveAuditRate(this.mc),
      wroteFile: this.fileWrites > writes,
    };
  }

  /** Runs a cycle every `intervalMs` (serialized: the next starts an interval after the previous ended). */
  start(intervalMs: number, onCycle: (c: LocalCycle) => void | Promise<void>, onError: (e: Error) => void): void {
    const tick = () => {
      if (this.stopped) return;
      this.busy = this.cycle()
        .then(async (c) => {
          if (c) await onCycle(c);
        })
        .catch((e: Error) => onError(e))
        .finally(() => {
          this.busy = undefined;
          if (!this.stopped) this.timer = setTimeout(tick, intervalMs);
        });
    };
    this.timer = setTimeout(tick, intervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.busy;
  }
}

function podOf(r: LocalRouter): PodLike {
  return {
    metadata: { name: r.name, namespace: 'local', uid: `local-${r.name}`, annotations: { [METRICS_PORT_ANNOTATION]: String(r.port) } },
    status: { phase: 'Running', podIP: r.host, conditions: [{ type: 'Ready', status: 'True' }] },
  };
}
