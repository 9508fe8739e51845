// The threshold controller: one loop per ModelCascade, every spec.control.interval:
//   discover router pods -> scrape /metrics -> per-pod deltas -> sliding window -> policy (shared
//   certification math) -> apply: status (own field manager), router ConfigMap (reconciler's builder),
//   an Event per change, operator metrics.
// Each cascade's cycles are serialized (the next one is scheduled when the previous finished), a failing
// cycle is logged and retried next interval, and nothing a router sends can throw out of a cycle.
// Only the leader runs it (the operator starts/stops it with leadership).

import type { Registry } from 'prom-client';
import { type ModelCascade } from '../api/model-cascade.js';
import { CostReporter } from '../cost/reporter.js';
import { effectiveAuditRate, effectiveThreshold } from '../reconcile/builders/router-config.js';
import { zeroCounters } from '../telemetry/counters.js';
import { TelemetryPipeline, type IngestReport } from '../telemetry/pipeline.js';
import { prometheusWindow } from '../telemetry/prometheus.js';
import { type ScrapeOptions, type ScrapeResult, DEFAULT_ROUTER_PORT, scrapeTargets, targetsFromPods } from '../telemetry/scrape.js';
import type { ControllerKube } from './kube.js';
import { type DetectorResult, type DetectorState, detectChange, initialDetectorState } from './detector.js';
import { addInto, cloneCounters } from '../telemetry/counters.js';
import { ThresholdMetrics } from './metrics.js';
import { type Decision, type PolicySpec, type PolicyState, INITIAL_POLICY_STATE, decide } from './policy.js';
import { type ControlSettings, controlSettings } from './spec.js';
import { CONDITION_TYPE, type ThresholdStatus, buildThresholdStatus } from './status.js';

export interface ThresholdControllerOptions {
  io: ControllerKube;
  /** operator registry for the per-cascade metrics (none: no metrics) */
  registry?: Registry;
  scrape?: ScrapeOptions;
  /** router metrics port when the pod has no tinysaver.io/metrics-port annotation */
  routerPort?: number;
  now?: () => number;
  log?: (line: string) => void;
  /**
   * Read the window from a Prometheus server (PromQL increase() over the window) instead of scraping the
   * routers; `selector` gives the label matchers of one cascade's routers (default: namespace and pod name).
   */
  prometheus?: { url: string; selector?: (mc: ModelCascade) => string; timeoutMs?: number };
  /** operator-wide cap on the audit rate (default MAX_AUDIT_RATE = 1: spec.control.maxAuditRate decides); the floor is spec.router.auditRate */
  maxAuditRate?: number;
  /** policy settings the CRD does not carry (operator-wide): strata, minRows, alarm hold, audit sizing */
  policyDefaults?: Partial<Pick<PolicySpec, 'strata' | 'minRows' | 'alarmHoldIntervals' | 'auditPlan' | 'deadBand'>>;
  /**
   * v2 features switched off, for comparisons in bench/ only: no change detector, no calibration prior,
   * the evidence window fixed at spec.control.window (the v1 controller)
   */
  v1?: boolean;
  /**
   * Read the routers' cumulative telemetry from this function instead of scraping pods (bench/drift-suite:
   * an in-process router simulation); everything after the scrape is the same code.
   */
  source?: (mc: ModelCascade) => Promise<ScrapeResult>;
}

export interface CycleResult {
  decision: Decision;
  report: IngestReport;
  status: ThresholdStatus;
  applied: boolean;
  /** the change detector's step this cycle (undefined when it did not run, e.g. the Prometheus source) */
  detector?: DetectorResult;
}

interface Loop {
  mc: ModelCascade;
  pipeline?: TelemetryPipeline;
  policyState: PolicyState;
  detector: DetectorState;
  /** the calibration prior still describes the traffic (no change detected since the start / model change) */
  priorValid: boolean;
  timer?: NodeJS.Timeout;
  intervalMs?: number;
  busy?: Promise<unknown>;
  lastStatusJson?: string;
  lastStatusWriteMs?: number;
}

const keyOf = (mc: ModelCascade) => `${mc.metadata.namespace ?? ''}/${mc.metadata.name}`;

export class ThresholdController {
  private readonly loops = new Map<string, Loop>();
  private readonly metrics?: ThresholdMetrics;
  private readonly cost: CostReporter;
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private running = false;

  constructor(private readonly opts: ThresholdControllerOptions) {
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? ((l) => process.stderr.write(`${l}\n`));
    if (opts.registry) this.metrics = new ThresholdMetrics(opts.registry, this.now);
    this.cost = new CostReporter(opts.registry, this.log);
  }

  /** Start timers for every known cascade (called when this operator becomes leader). */
  start(): void {
    this.running = true;
    for (const key of this.loops.keys()) this.schedule(key, true);
  }

  /**
   * Stop all timers (lost leadership or shutdown), wait for cycles in flight, and forget every cascade:
   * a later leader term starts from the informer's fresh list with empty windows.
   */
  async stop(): Promise<void> {
    this.running = false;
    const busy: Promise<unknown>[] = [];
    for (const l of this.loops.values()) {
      if (l.timer) clearTimeout(l.timer);
      l.timer = undefined;
      if (l.busy) busy.push(l.busy);
    }
    await Promise.allSettled(busy);
    for (const l of [...this.loops.values()]) this.remove(l.mc);
  }

  /** The informer saw this object (added or modified). */
  upsert(mc: ModelCascade): void {
    if (mc.metadata.deletionTimestamp) return this.remove(mc);
    const key = keyOf(mc);
    const loop = this.loops.get(key);
    if (loop) {
      // Our own status write can be newer than an informer event still in flight: keep the newer copy.
      if (!olderThan(mc, loop.mc)) loop.mc = mc;
      const s = controlSettings(mc, this.opts.maxAuditRate).settings;
      if (s && loop.intervalMs !== undefined && s.intervalMs !== loop.intervalMs && this.running) this.schedule(key, false);
      return;
    }
    this.loops.set(key, { mc, policyState: { ...INITIAL_POLICY_STATE }, detector: initialDetectorState(), priorValid: true });
    if (this.running) this.schedule(key, true);
  }

  remove(mc: ModelCascade): void {
    const key = keyOf(mc);
    const l = this.loops.get(key);
    if (l?.timer) clearTimeout(l.timer);
    this.loops.delete(key);
    this.metrics?.remove({ namespace: mc.metadata.namespace ?? '', cascade: mc.metadata.name });
    this.cost.remove({ namespace: mc.metadata.namespace ?? '', cascade: mc.metadata.name });
  }

  private schedule(key: string, immediate: boolean): void {
    const l = this.loops.get(key);
    if (!l || !this.running) return;
    if (l.timer) clearTimeout(l.timer);
    const s = controlSettings(l.mc, this.opts.maxAuditRate).settings;
    const interval = s?.intervalMs ?? 30_000;
    l.intervalMs = interval;
    l.timer = setTimeout(
      () => {
        l.timer = undefined;
        const p = this.runCycle(key)
          .catch((e) => this.log(`threshold-controller ${key}: cycle failed: ${(e as Error).message}`))
          .finally(() => {
            if (l.busy === p) l.busy = undefined;
            if (this.loops.get(key) === l) this.schedule(key, false);
          });
        l.busy = p;
      },
      immediate ? 0 : interval,
    );
    l.timer.unref?.();
  }

  /** One control cycle for a cascade (exported for tests; the timers call it). */
  async runCycle(key: string): Promise<CycleResult | undefined> {
    const l = this.loops.get(key);
    if (!l) return undefined;
    const mc = l.mc;
    const labels = { namespace: mc.metadata.namespace ?? '', cascade: mc.metadata.name };
    const { settings, errors } = controlSettings(mc, this.opts.maxAuditRate);
    if (!settings) {
      await this.writeInvalidSpec(l, errors);
      return undefined;
    }
    const v2 = !this.opts.v1;
    // v2: the evidence grows past spec.control.window while no change is detected (a change cuts it)
    const evidenceMs = v2 ? settings.evidenceMs : settings.windowMs;
    if (!l.pipeline) l.pipeline = new TelemetryPipeline(evidenceMs);
    l.pipeline.setWindowMs(evidenceMs);

    const current = effectiveThreshold(mc);
    const before = this.opts.prometheus ? undefined : l.pipeline.peek(this.now());
    const { scrape, report, nowMs } = this.opts.prometheus ? await this.fromPrometheus(mc, settings) : await this.fromScrape(l, mc, settings);
    if (scrape.observed.length > 0) this.metrics?.scraped(labels, nowMs);
    if (report.windowReset) {
      // new models: start the detector over; the spec's calibration describes the spec's (new) models
      l.detector = initialDetectorState();
      l.priorValid = true;
    }
    const prior = v2 && l.priorValid ? settings.prior : undefined;
    let detector: DetectorResult | undefined;
    let window = report.window;
    if (v2 && before && scrape.observed.length > 0 && report.newRows > 0 && !report.windowReset) {
      // the reference: the evidence before this interval (plus the calibration while it is valid)
      const reference = prior ? addInto(cloneCounters(before.counters), prior) : before.counters;
      detector = detectChange({ reference, interval: report.delta, threshold: current, state: l.detector, options: { falseAlarmRate: settings.falseAlarmRate } });
      l.detector = detector.state;
      if (detector.fired) {
        // the new regime: keep only the post-change slots, and the calibration no longer applies
        (l.pipeline as TelemetryPipeline).cut(detector.fired.sinceIntervals);
        l.priorValid = false;
        window = (l.pipeline as TelemetryPipeline).peek(nowMs);
      }
    }
    let decision = decide({
      window: { counters: window.counters, rows: window.rows, ageMs: window.ageMs },
      current,
      spec: { ...this.opts.policyDefaults, ...settings.policy },
      state: l.policyState,
      currentAuditRate: effectiveAuditRate(mc),
      ...(v2 && l.priorValid && settings.prior ? { prior: settings.prior } : {}),
      ...(detector?.fired ? { change: detector.fired } : {}),
    });
    let changeReason: string | undefined;
    if (report.windowReset && settings.policy.mode === 'adaptive' && current !== settings.initial) {
      // New models: the old certification says nothing about them. Start over from spec.threshold.initial.
      decision = {
        ...decision,
        threshold: settings.initial,
        changed: true,
        direction: settings.initial > current ? 'raise' : 'lower',
        reason: 'NoData',
        message: `saver/base model changed: telemetry window reset, threshold back to initial ${settings.initial}`,
      };
      changeReason = 'ModelChanged';
      l.policyState = { ...INITIAL_POLICY_STATE };
    } else {
      l.policyState = decision.state;
    }
    decision = withScrapeNotes(decision, scrape, report);

    const built = buildThresholdStatus({
      decision,
      from: current,
      mode: settings.policy.mode,
      windowMs: settings.windowMs,
      generation: mc.metadata.generation,
      previous: mc.status,
      now: new Date(nowMs),
      epsilon: settings.policy.epsilon,
      changeReason,
    });
    // spec.cost set: status.savings from the same window (operator/cost)
    const status = this.cost.withSavings(built.status, mc, report.window, settings.intervalMs, !!this.opts.prometheus);
    const applied = await this.apply(l, decision, status, built.event, settings);
    this.metrics?.update(labels, {
      threshold: applied ? decision.threshold : current,
      max: settings.policy.max,
      bound: decision.bound,
      budget: settings.policy.epsilon,
      share: decision.share,
    });
    if (applied && decision.changed && decision.direction !== 'none') this.metrics?.changed(labels, decision.direction);
    return { decision, report: window === report.window ? report : { ...report, window }, status, applied, ...(detector ? { detector } : {}) };
  }

  private async fromScrape(l: Loop, mc: ModelCascade, settings: ControlSettings): Promise<{ scrape: ScrapeResult; report: IngestReport; nowMs: number }> {
    const scrape = await this.scrape(mc);
    const nowMs = this.now();
    const report = (l.pipeline as TelemetryPipeline).ingest(scrape, nowMs, settings.modelKey);
    return { scrape, report, nowMs };
  }

  /** The Prometheus source: the window comes back already summed; shaped like a scrape cycle. */
  private async fromPrometheus(mc: ModelCascade, settings: ControlSettings): Promise<{ scrape: ScrapeResult; report: IngestReport; nowMs: number }> {
    const p = this.opts.prometheus!;
    const nowMs = this.now();
    const selector = p.selector?.(mc) ?? `namespace="${mc.metadata.namespace ?? ''}",pod=~"${mc.metadata.name}-saver-.*"`;
    const empty = zeroCounters();
    try {
      const w = await prometheusWindow({ url: p.url, selector, timeoutMs: p.timeoutMs }, settings.windowMs / 1000, nowMs);
      return {
        scrape: { observed: [{ key: 'prometheus', snapshot: { counters: w.counters, threshold: NaN, auditRate: NaN } }], failed: [] },
        report: { window: { counters: w.counters, slots: 1, rows: w.rows, spanMs: settings.windowMs, ageMs: w.ageMs }, perPod: [], failed: [], dropped: [], windowReset: false, routerThresholds: [], newRows: 0, delta: empty },
        nowMs,
      };
    } catch (e) {
      const failed = [{ key: 'prometheus', url: p.url, reason: (e as Error).message }];
      return {
        scrape: { observed: [], failed },
        report: { window: { counters: empty, slots: 0, rows: 0, spanMs: 0, ageMs: Infinity }, perPod: [], failed, dropped: [], windowReset: false, routerThresholds: [], newRows: 0, delta: empty },
        nowMs,
      };
    }
  }

  private async scrape(mc: ModelCascade): Promise<ScrapeResult> {
    if (this.opts.source) {
      try {
        return await this.opts.source(mc);
      } catch (e) {
        return { observed: [], failed: [{ key: '(source)', url: '', reason: (e as Error).message }] };
      }
    }
    let pods;
    try {
      pods = await this.opts.io.listRouterPods(mc);
    } catch (e) {
      return { observed: [], failed: [{ key: '(pod list)', url: '', reason: `listing router pods failed: ${(e as Error).message}` }] };
    }
    const targets = targetsFromPods(pods, this.opts.routerPort ?? DEFAULT_ROUTER_PORT);
    return scrapeTargets(targets, this.opts.scrape);
  }

  private async apply(
    l: Loop,
    d: Decision,
    status: ThresholdStatus,
    event: import('./status.js').ThresholdEvent | undefined,
    settings: ControlSettings,
  ): Promise<boolean> {
    const mc = l.mc;
    // Every status write wakes the reconciler (a MODIFIED event), so write when something material
    // changed (threshold, recommendation, condition status/reason, telemetry problems) and otherwise
    // refresh the numbers at most every max(2 intervals, 10 s).
    const cond = status.conditions?.[0];
    const json = JSON.stringify({
      t: status.threshold,
      a: status.auditRate,
      r: status.recommendedThreshold,
      c: status.lastChange,
      s: cond?.status,
      reason: cond?.reason,
      notes: d.scrapeNotes,
    });
    const nowMs = this.now();
    const refreshMs = Math.max(2 * settings.intervalMs, 10_000);
    let updated = mc;
    // a new audit rate reaches the routers through the ConfigMap, like a new threshold
    const auditRateChanged = settings.policy.mode === 'adaptive' && status.auditRate !== undefined && status.auditRate !== effectiveAuditRate(mc);
    if (json !== l.lastStatusJson || d.changed || auditRateChanged || nowMs - (l.lastStatusWriteMs ?? -Infinity) >= refreshMs) {
      updated = await this.opts.io.applyStatus(mc, status);
      l.lastStatusJson = json;
      l.lastStatusWriteMs = nowMs;
      // Our write is newer than the informer's copy until the watch delivers it.
      if (updated && updated.metadata) l.mc = updated;
    }
    if (auditRateChanged && !d.changed) {
      await this.opts.io.applyRouterConfig(updated);
      this.log(`threshold-controller ${keyOf(mc)}: audit rate ${effectiveAuditRate(mc)} -> ${status.auditRate} (${Number.isFinite(d.neededAudits) ? `${d.neededAudits} audits per window needed` : 'no certifiable operating point: ceiling'})`);
    }
    if (d.changed && settings.policy.mode === 'adaptive') {
      await this.opts.io.applyRouterConfig(updated);
      if (event) {
        try {
          await this.opts.io.emitEvent(updated, event);
        } catch (e) {
          this.log(`threshold-controller ${keyOf(mc)}: event failed: ${(e as Error).message}`);
        }
      }
      this.log(`threshold-controller ${keyOf(mc)}: ${event?.reason ?? 'ThresholdChanged'} ${event?.message ?? ''}`);
      return true;
    }
    return false;
  }

  private async writeInvalidSpec(l: Loop, errors: string[]): Promise<void> {
    const nowIso = new Date(this.now()).toISOString();
    const prev = l.mc.status?.conditions?.find((c) => c.type === CONDITION_TYPE);
    const status: ThresholdStatus = {
      conditions: [
        {
          type: CONDITION_TYPE,
          status: 'False',
          reason: 'InvalidSpec',
          message: errors.join('; ').slice(0, 1024),
          lastTransitionTime: prev?.status === 'False' ? (prev.lastTransitionTime ?? nowIso) : nowIso,
          ...(l.mc.metadata.generation !== undefined ? { observedGeneration: l.mc.metadata.generation } : {}),
        },
      ],
    };
    const json = JSON.stringify(status.conditions?.[0]?.message);
    if (json === l.lastStatusJson) return;
    await this.opts.io.applyStatus(l.mc, status);
    l.lastStatusJson = json;
  }
}

/** True when `a` is an older revision of the same object than `b` (resourceVersions are etcd revisions). */
function olderThan(a: ModelCascade, b: ModelCascade): boolean {
  if (a.metadata.uid !== b.metadata.uid) return false;
  const ra = Number(a.metadata.resourceVersion);
  const rb = Number(b.metadata.resourceVersion);
  return Number.isSafeInteger(ra) && Number.isSafeInteger(rb) && ra < rb;
}

/** Tell status which routers failed or reset (the policy only sees the pooled window). */
function withScrapeNotes(d: Decision, scrape: ScrapeResult, report: IngestReport): Decision {
  const notes: string[] = [];
  const total = scrape.observed.length + scrape.failed.length;
  if (scrape.failed.length > 0) {
    const shown = scrape.failed.slice(0, 3).map((f) => `${f.key}: ${f.reason}`);
    notes.push(`${scrape.failed.length}/${total} router scrape(s) failed (${shown.join('; ')}${scrape.failed.length > 3 ? '; …' : ''})`);
  }
  if (total === 0) notes.push('no Running+Ready router pods found');
  const resets = report.perPod.filter((p) => p.kind === 'reset');
  if (resets.length > 0) notes.push(`counter reset on ${resets.map((r) => `${r.key} (${r.reason})`).join(', ')}`);
  if (notes.length === 0) return d;
  const scrapeNotes = notes.join('; ');
  return { ...d, message: `${d.message} [${scrapeNotes}]`, scrapeNotes };
}
