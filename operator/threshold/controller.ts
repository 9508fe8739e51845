// The threshold controller: one control cycle per ModelCascade every spec.control.interval:
//   discover router pods -> scrape /metrics -> per-pod deltas -> sliding window -> change detector ->
//   policy (shared certification math) -> apply: status (own field manager), router ConfigMap (reconciler's
//   builder), an Event per change, operator metrics.
// It is a second consumer of the operator's work queue (operator.ts): the queue serializes a key's cycles
// and runs the next one after `requeueAfterMs` (controller-runtime's RequeueAfter); the ModelCascade is
// read from the informer cache (`get`) at each cycle. What stays here per key is the controller's own
// state (telemetry window, detector, policy state). A failing cycle is logged and retried next interval,
// and nothing a router sends can throw out of a cycle. Only the leader runs it.

import type { Registry } from 'prom-client';
import { type ModelCascade, SPEC_DEFAULTS, withDefaults } from '../api/model-cascade.js';
import { CostReporter } from '../cost/reporter.js';
import { effectiveAuditRate, effectiveThreshold } from '../reconcile/builders/router-config.js';
import { stableStringify } from '../reconcile/builders/json.js';
import { zeroCounters } from '../telemetry/counters.js';
import { TelemetryPipeline, type IngestReport } from '../telemetry/pipeline.js';
import { prometheusWindow } from '../telemetry/prometheus.js';
import { type ScrapeOptions, type ScrapeResult, DEFAULT_ROUTER_PORT, scrapeTargets, targetsFromPods } from '../telemetry/scrape.js';
import type { ControllerKube } from './kube.js';
import { type DetectorResult, type DetectorState, confirmIntervals, detectChange, initialDetectorState } from './detector.js';
import { type RouterCounters, addInto, cloneCounters } from '../telemetry/counters.js';
import { ThresholdMetrics } from './metrics.js';
import { type Decision, type PolicySpec, type PolicyState, INITIAL_POLICY_STATE, decide } from './policy.js';
import { type ControlSettings, controlSettings, parseDuration } from './spec.js';
import { RoutersView, THRESHOLD_APPLIED } from '../telemetry/router-health.js';
import { CONDITION_TYPE, type ThresholdStatus, buildThresholdStatus } from './status.js';

export interface ThresholdControllerOptions {
  io: ControllerKube;
  /** the ModelCascade for a key ("namespace/name") from the informer cache (undefined: gone) */
  get: (key: string) => ModelCascade | undefined;
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

/** What the work queue does after a cycle: run the key again after this long. */
export interface CycleOutcome {
  requeueAfterMs: number;
  result?: CycleResult;
}

interface Loop {
  pipeline?: TelemetryPipeline;
  policyState: PolicyState;
  detector: DetectorState;
  /** the calibration prior still describes the traffic (no change detected since the start / model change) */
  priorValid: boolean;
  /** while the prior is dropped: a detector against the calibration alone, and its quiet intervals */
  calibration?: { state: DetectorState; quiet: number };
  /** v2: the rows since the last raise (a suffix of the window), a second evidence for the policy */
  recent?: { counters: RouterCounters; slots: number };
  lastStatusJson?: string;
  lastStatusWriteMs?: number;
  /** the routers' view: status.routers and ThresholdApplied (scrape source only) */
  routers?: RoutersView;
  /** our last status write (uid, resourceVersion, when): the cache may lag behind it for a moment */
  written?: { uid?: string; rv: number; atMs: number };
}

const keyOf = (mc: ModelCascade) => `${mc.metadata.namespace ?? ''}/${mc.metadata.name}`;
/** spec.control.interval's default, for a spec that does not parse */
const DEFAULT_INTERVAL_MS = parseDuration(SPEC_DEFAULTS.control.interval);
/** how long a cycle waits for the cache to catch up with our own status write */
const CACHE_WAIT_MS = 200;

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

  /**
   * The work queue's handler: one cycle, then when to run again. A key whose object is gone (or is being
   * deleted) is forgotten and not requeued. While the cache still holds an older revision than our own last
   * status write, the cycle waits for the watch (briefly; after half an interval it goes on with the cache).
   */
  async reconcile(key: string): Promise<CycleOutcome | undefined> {
    const mc = this.opts.get(key);
    if (!mc || mc.metadata.deletionTimestamp) {
      this.forget(key);
      return undefined;
    }
    const intervalMs = controlSettings(mc, this.opts.maxAuditRate).settings?.intervalMs ?? DEFAULT_INTERVAL_MS;
    const w = this.loops.get(key)?.written;
    const rv = Number(mc.metadata.resourceVersion);
    if (w && w.uid === mc.metadata.uid && Number.isSafeInteger(rv) && rv < w.rv && this.now() - w.atMs < intervalMs / 2) {
      return { requeueAfterMs: CACHE_WAIT_MS };
    }
    try {
      return { requeueAfterMs: intervalMs, result: await this.runCycle(key) };
    } catch (e) {
      this.log(`threshold-controller ${key}: cycle failed: ${(e as Error).message}`);
      return { requeueAfterMs: intervalMs };
    }
  }

  /** Drop a cascade's state and metrics (deleted, or leadership lost). */
  forget(key: string): void {
    this.loops.delete(key);
    const [namespace, name] = key.includes('/') ? [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)] : ['', key];
    this.metrics?.remove({ namespace, cascade: name });
    this.cost.remove({ namespace, cascade: name });
  }

  /** Forget every cascade: a later leader term starts from the informer's fresh list with empty windows. */
  reset(): void {
    for (const key of [...this.loops.keys()]) this.forget(key);
  }

  /** One control cycle for a cascade (the queue calls it through reconcile; tests call it directly). */
  async runCycle(key: string): Promise<CycleResult | undefined> {
    const mc = this.opts.get(key);
    if (!mc || mc.metadata.deletionTimestamp) {
      this.forget(key);
      return undefined;
    }
    let l = this.loops.get(key);
    if (!l) {
      l = { policyState: { ...INITIAL_POLICY_STATE }, detector: initialDetectorState(), priorValid: true };
      this.loops.set(key, l);
    }
    const labels = { namespace: mc.metadata.namespace ?? '', cascade: mc.metadata.name };
    const { settings, errors } = controlSettings(mc, this.opts.maxAuditRate);
    if (!settings) {
      await this.writeInvalidSpec(l, mc, errors);
      return undefined;
    }
    const v2 = !this.opts.v1;
    // v2: the evidence grows past spec.control.window while no change is detected (a change cuts it)
    const evidenceMs = v2 ? settings.evidenceMs : settings.windowMs;
    if (!l.pipeline) l.pipeline = new TelemetryPipeline(evidenceMs);
    l.pipeline.setWindowMs(evidenceMs);

    const current = effectiveThreshold(mc);
    const before = this.opts.prometheus ? undefined : l.pipeline.peek(this.now());
    const { scrape, report, nowMs } = this.opts.prometheus
      ? await this.fromPrometheus(mc, settings)
      : await this.fromScrape(l, mc, settings);
    if (scrape.observed.length > 0) this.metrics?.scraped(labels, nowMs);
    if (report.windowReset) {
      // new models: start the detector over; the spec's calibration describes the spec's (new) models
      l.detector = initialDetectorState();
      l.priorValid = true;
    }
    const prior = v2 && l.priorValid ? settings.prior : undefined;
    let detector: DetectorResult | undefined;
    let readmitted = false;
    let window = report.window;
    if (v2 && before && scrape.observed.length > 0 && report.newRows > 0 && !report.windowReset) {
      // the reference: the evidence before this interval (plus the calibration while it is valid)
      const reference = prior ? addInto(cloneCounters(before.counters), prior) : before.counters;
      detector = detectChange({
        reference,
        interval: report.delta,
        threshold: current,
        state: l.detector,
        options: { falseAlarmRate: settings.falseAlarmRate },
      });
      l.detector = detector.state;
      if (detector.fired) {
        // the new regime: keep only the post-change slots, and the calibration no longer applies
        (l.pipeline as TelemetryPipeline).cut(detector.fired.sinceIntervals);
        if (l.priorValid && settings.prior) l.calibration = { state: initialDetectorState(), quiet: 0 };
        l.priorValid = false;
        window = (l.pipeline as TelemetryPipeline).peek(nowMs);
      } else if (settings.prior && !l.priorValid && l.calibration) {
        // The calibration comes back (fast recovery to the certified operating point) once a CUSUM against it
        // alone stays quiet for as long as a change of the smallest design size would need to be seen.
        const options = { falseAlarmRate: settings.falseAlarmRate };
        const vs = detectChange({
          reference: settings.prior,
          interval: report.delta,
          threshold: current,
          state: l.calibration.state,
          options,
        });
        l.calibration =
          vs.fired || vs.undecided ? { state: initialDetectorState(), quiet: 0 } : { state: vs.state, quiet: l.calibration.quiet + 1 };
        if (l.calibration.quiet >= confirmIntervals(settings.prior, report.newRows, current, options)) {
          l.priorValid = true;
          readmitted = true;
          l.calibration = undefined;
          l.detector = initialDetectorState();
        }
      }
    }
    // the rows since the last raise: dropped with the window (new models, a detected change), grown by each interval
    // (and once the calibration is re-admitted: the traffic matches it again, one evidence at full δ)
    if (report.windowReset || detector?.fired || readmitted) l.recent = undefined;
    else if (l.recent && report.newRows > 0) {
      addInto(l.recent.counters, report.delta);
      l.recent.slots++;
    }
    const recent = v2 && l.recent && l.recent.slots < window.slots ? l.recent.counters : undefined;
    let decision = decide({
      window: { counters: window.counters, rows: window.rows, ageMs: window.ageMs },
      ...(recent ? { recent } : {}),
      current,
      spec: { ...this.opts.policyDefaults, ...settings.policy },
      state: l.policyState,
      currentAuditRate: effectiveAuditRate(mc),
      ...(v2 && l.priorValid && settings.prior ? { prior: settings.prior } : {}),
      ...(detector?.fired ? { change: detector.fired } : {}),
      ...(readmitted ? { restore: settings.initial } : {}),
      ...(detector && !detector.fired ? { suspicion: suspicionOf(detector) } : {}),
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
    // the routers' own view (operator/telemetry/router-health.ts): thresholds in use, fallback share, base state
    const view = this.opts.prometheus ? undefined : this.routersView(l, mc, scrape, report, nowMs, settings, status.threshold ?? current);
    if (view) {
      status.routers = view.routers;
      status.conditions = [...(status.conditions ?? []), view.condition];
    }
    const applied = await this.apply(l, mc, decision, status, built.event, settings, view?.key);
    if (v2 && applied && decision.direction === 'raise') l.recent = { counters: zeroCounters(), slots: 0 };
    this.metrics?.update(labels, {
      threshold: applied ? decision.threshold : current,
      max: settings.policy.max,
      bound: decision.bound,
      budget: settings.policy.epsilon,
      share: decision.share,
    });
    if (applied && decision.changed && decision.direction !== 'none') this.metrics?.changed(labels, decision.direction);
    return {
      decision,
      report: window === report.window ? report : { ...report, window },
      status,
      applied,
      ...(detector ? { detector } : {}),
    };
  }

  private routersView(
    l: Loop,
    mc: ModelCascade,
    scrape: ScrapeResult,
    report: IngestReport,
    nowMs: number,
    settings: ControlSettings,
    desired: number,
  ): ReturnType<RoutersView['observe']> {
    const health = withDefaults(mc.spec).health;
    let windowMs = parseDuration(SPEC_DEFAULTS.health.window);
    try {
      windowMs = parseDuration(health.window);
    } catch {
      // the CRD's pattern admits only durations; an object that skipped the apiserver keeps the default
    }
    return (l.routers ??= new RoutersView()).observe({
      observed: scrape.observed,
      delta: report.delta,
      nowMs,
      windowMs: Math.max(windowMs, settings.intervalMs),
      desired,
      limits: health,
      previous: mc.status?.conditions?.find((c) => c.type === THRESHOLD_APPLIED),
      generation: mc.metadata.generation,
    });
  }

  private async fromScrape(
    l: Loop,
    mc: ModelCascade,
    settings: ControlSettings,
  ): Promise<{ scrape: ScrapeResult; report: IngestReport; nowMs: number }> {
    const scrape = await this.scrape(mc);
    const nowMs = this.now();
    const report = (l.pipeline as TelemetryPipeline).ingest(scrape, nowMs, settings.modelKey);
    return { scrape, report, nowMs };
  }

  /** The Prometheus source: the window comes back already summed; shaped like a scrape cycle. */
  private async fromPrometheus(
    mc: ModelCascade,
    settings: ControlSettings,
  ): Promise<{ scrape: ScrapeResult; report: IngestReport; nowMs: number }> {
    const p = this.opts.prometheus!;
    const nowMs = this.now();
    const selector = p.selector?.(mc) ?? `namespace="${mc.metadata.namespace ?? ''}",pod=~"${mc.metadata.name}-saver-.*"`;
    const empty = zeroCounters();
    try {
      const w = await prometheusWindow({ url: p.url, selector, timeoutMs: p.timeoutMs }, settings.windowMs / 1000, nowMs);
      return {
        scrape: { observed: [{ key: 'prometheus', snapshot: { counters: w.counters, threshold: NaN, auditRate: NaN } }], failed: [] },
        report: {
          window: { counters: w.counters, slots: 1, rows: w.rows, spanMs: settings.windowMs, ageMs: w.ageMs },
          perPod: [],
          failed: [],
          dropped: [],
          windowReset: false,
          routerThresholds: [],
          newRows: 0,
          delta: empty,
        },
        nowMs,
      };
    } catch (e) {
      const failed = [{ key: 'prometheus', url: p.url, reason: (e as Error).message }];
      return {
        scrape: { observed: [], failed },
        report: {
          window: { counters: empty, slots: 0, rows: 0, spanMs: 0, ageMs: Infinity },
          perPod: [],
          failed,
          dropped: [],
          windowReset: false,
          routerThresholds: [],
          newRows: 0,
          delta: empty,
        },
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
    mc: ModelCascade,
    d: Decision,
    status: ThresholdStatus,
    event: import('./status.js').ThresholdEvent | undefined,
    settings: ControlSettings,
    /** changes when the routers' verdict does (health, threshold applied): written at once */
    routersKey?: string,
  ): Promise<boolean> {
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
      routers: routersKey,
    });
    const nowMs = this.now();
    const refreshMs = Math.max(2 * settings.intervalMs, 10_000);
    let updated = mc;
    // a new audit rate reaches the routers through the ConfigMap, like a new threshold
    const auditRateChanged =
      settings.policy.mode === 'adaptive' && status.auditRate !== undefined && status.auditRate !== effectiveAuditRate(mc);
    // (the refresh is skipped when the cached object already shows every field: idle cascades write nothing)
    const refresh = nowMs - (l.lastStatusWriteMs ?? -Infinity) >= refreshMs && !statusShows(mc.status, status);
    if (json !== l.lastStatusJson || d.changed || auditRateChanged || refresh) {
      updated = await this.opts.io.applyStatus(mc, status);
      l.lastStatusJson = json;
      l.lastStatusWriteMs = nowMs;
      // Our write is newer than the informer's copy until the watch delivers it (reconcile waits for it).
      if (updated && updated.metadata) {
        const rv = Number(updated.metadata.resourceVersion);
        if (Number.isSafeInteger(rv)) l.written = { uid: updated.metadata.uid, rv, atMs: nowMs };
      } else updated = mc;
    }
    if (auditRateChanged && !d.changed) {
      await this.opts.io.applyRouterConfig(updated);
      this.log(
        `threshold-controller ${keyOf(mc)}: audit rate ${effectiveAuditRate(mc)} -> ${status.auditRate} (${Number.isFinite(d.neededAudits) ? `${d.neededAudits} audits per window needed` : 'no certifiable operating point: ceiling'})`,
      );
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

  private async writeInvalidSpec(l: Loop, mc: ModelCascade, errors: string[]): Promise<void> {
    const nowIso = new Date(this.now()).toISOString();
    const prev = mc.status?.conditions?.find((c) => c.type === CONDITION_TYPE);
    const status: ThresholdStatus = {
      conditions: [
        {
          type: CONDITION_TYPE,
          status: 'False',
          reason: 'InvalidSpec',
          message: errors.join('; ').slice(0, 1024),
          lastTransitionTime: prev?.status === 'False' ? (prev.lastTransitionTime ?? nowIso) : nowIso,
          ...(mc.metadata.generation !== undefined ? { observedGeneration: mc.metadata.generation } : {}),
        },
      ],
    };
    const json = JSON.stringify(status.conditions?.[0]?.message);
    if (json === l.lastStatusJson) return;
    await this.opts.io.applyStatus(mc, status);
    l.lastStatusJson = json;
  }
}

/** True when `current` (the cached status) already holds every field of `next` (our condition by type). */
function statusShows(current: ModelCascade['status'], next: ThresholdStatus): boolean {
  if (!current) return false;
  for (const [k, v] of Object.entries(next)) {
    if (k === 'conditions') {
      for (const c of v as NonNullable<ThresholdStatus['conditions']>) {
        const have = current.conditions?.find((x) => x.type === c.type);
        if (!have || stableStringify(have) !== stableStringify(c)) return false;
      }
    } else if (k === 'routers') {
      // With no router observed the scrape time says nothing new: without this, every idle cascade with no
      // router pods rewrote its status each refresh (1,000 cascades: 17 writes a second, bench/operator-scale).
      const a = (current as Record<string, unknown>).routers as { time?: string; observed?: number } | undefined;
      const b = v as { time?: string; observed?: number } | undefined;
      const untimed = (x: typeof a) => (x && x.observed === 0 ? { ...x, time: undefined } : x);
      if (stableStringify(untimed(a)) !== stableStringify(untimed(b))) return false;
    } else if (stableStringify((current as Record<string, unknown>)[k]) !== stableStringify(v)) return false;
  }
  return true;
}

/** max S / h over the detector's worse-direction statistics */
function suspicionOf(d: DetectorResult): number {
  let m = 0;
  for (const [k, v] of Object.entries(d.state.sums)) if (k.includes('Up')) m = Math.max(m, v / d.threshold);
  return m;
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
