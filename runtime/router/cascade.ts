// The cascade itself, without HTTP: one request in, the merged response out. The saver scores the
// whole batch; rows at or above the threshold keep the saver's answer; the rest go to the base as one
// sub-batch and are merged back in place. Concurrent requests may share one saver call (and one base
// call) and are split apart again. Audits are handed back to the caller to start after the response
// has been sent (off the hot path).

import { performance } from 'node:perf_hooks';
import { rowConfidence } from '../../core/cascade/confidence.js';
import { OipError, type InferRequest, type InferResponse, type Tensor } from '../oip/types.js';
import { dataToNumbers } from '../oip/tensor-data.js';
import { BoundedRunner, sampleAuditRows } from './audit.js';
import type { AuditLogHandle, RouterDecisionLog } from '../decisions/router-log.js';
import { seededRandom } from '../../core/random.js';
import { CircuitBreaker } from './breaker.js';
import type { CascadeLayout } from './compat.js';
import type { RouterMetrics, RowRoute } from './metrics.js';
import { CoalescingQueue } from './coalesce.js';
import type { RouterOptions } from './options.js';
import { RowBatcher, layoutKey } from './row-batcher.js';
import { CONFIDENCE_PARAM, ROUTES_PARAM, ROW_OUTPUTS, formatConfidence, rowOutputs } from './row-params.js';
import { concatRows, mergeRows, partitionRows, rowSize, sliceRowRange, sliceTensorRows } from './split.js';

/** The upstream call the cascade needs; a V2Client bound to one model satisfies it. */
export interface Upstream {
  readonly label: string;
  infer(req: InferRequest, timeoutMs: number): Promise<InferResponse>;
}

export type { FailurePolicy } from './options.js';

export interface CascadeSettings {
  threshold: number;
  auditRate: number;
}

/** The router settings the cascade reads: the same fields, under the same names, as RouterOptions. */
export type CascadeConfig = Pick<
  RouterOptions,
  | 'name'
  | 'confidence'
  | 'probabilities'
  | 'failurePolicy'
  | 'saverTimeoutMs'
  | 'baseTimeoutMs'
  | 'auditConcurrency'
  | 'seed'
  | 'maxSaverCalls'
  | 'maxCoalesceRows'
  | 'maxQueueRows'
  | 'maxBaseCalls'
>;

export interface CascadeOptions extends CascadeConfig {
  saver: Upstream;
  base: Upstream;
  layout: CascadeLayout;
  metrics: RouterMetrics;
  /** live values (the threshold file changes them) */
  settings: CascadeSettings;
  breaker: CircuitBreaker;
  /** why the base is unusable (its metadata not verified yet: treated as failing), or undefined */
  baseUsable: () => string | undefined;
  /** decision log (runtime/decisions): logged rows of each answered request and of each audit */
  decisions?: RouterDecisionLog;
}

export interface CascadeResult {
  response: InferResponse;
  /** start the audit of this request's sampled rows (call after the response is sent) */
  startAudit?: () => void;
}

interface Pending {
  req: InferRequest;
  rows: number;
  t0: number;
  key: string;
  resolve: (r: CascadeResult) => void;
  reject: (e: unknown) => void;
}

function scoresAsNumbers(t: Tensor): ArrayLike<number> {
  if (t.datatype === 'FP32' || t.datatype === 'FP64') return t.data as Float32Array | Float64Array;
  if (t.datatype === 'BYTES' || t.datatype === 'BOOL') {
    throw new OipError(502, `scores output "${t.name}" has datatype ${t.datatype}; the router needs numeric scores`);
  }
  return dataToNumbers(t.datatype, t.data);
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The saver's verdict on one merged batch. */
interface Scored {
  /** the merged request as sent upstream */
  upstreamReq: InferRequest;
  saverRes: InferResponse;
  rows: number;
  classes: number;
  confidence: Float64Array;
  top1: Int32Array;
  /** saver call time, ms (decision log) */
  saverMs: number;
}

/** What the base said about the escalated rows, for the decision log. */
interface Escalation {
  outputs: Tensor[];
  baseError: string | undefined;
  /** base top-1 per row of the merged batch where the base answered, -1 elsewhere (only with a decision log) */
  baseTop1Rows?: Int32Array;
  baseMs?: number;
}

export class Cascade {
  readonly auditRunner: BoundedRunner;
  readonly baseBatcher: RowBatcher;
  private readonly random: () => number;
  private outputNames: Set<string>;
  private readonly saverQueue: CoalescingQueue<Pending>;

  constructor(private readonly o: CascadeOptions) {
    this.auditRunner = new BoundedRunner(o.auditConcurrency);
    this.random = seededRandom(o.seed);
    this.outputNames = new Set(o.layout.outputs.map((t) => t.name));
    this.baseBatcher = new RowBatcher((req, rows) => this.baseCall(req, rows), { maxInFlight: o.maxBaseCalls, maxRows: o.maxCoalesceRows });
    this.saverQueue = new CoalescingQueue<Pending>(
      (group, release) =>
        this.runGroup(group, release).catch((e) => {
          for (const p of group) p.reject(e);
        }),
      { maxInFlight: o.maxSaverCalls, maxRows: o.maxCoalesceRows },
    );
  }

  /** Replace the layout (the base's metadata arrived after startup). */
  setLayout(layout: CascadeLayout): void {
    this.o.layout = layout;
    this.outputNames = new Set(layout.outputs.map((t) => t.name));
  }

  /**
   * One client request through the cascade. Requests that arrive while the saver is busy are
   * coalesced into the next saver call (see coalesce.ts); each still gets its own answer.
   */
  async infer(req: InferRequest): Promise<CascadeResult> {
    const t0 = performance.now();
    this.o.metrics.requests.inc();
    const rows = batchRows(req);
    this.checkRequestedOutputs(req);
    const q = this.saverQueue;
    if (q.queuedRows + rows > this.o.maxQueueRows && q.length > 0) {
      throw new OipError(
        429,
        `router queue full: ${q.queuedRows} rows waiting for the saver (limit ${this.o.maxQueueRows}, --max-queue-rows)`,
      );
    }
    return new Promise<CascadeResult>((resolve, reject) => {
      q.push({ req, rows, t0, key: layoutKey(req), resolve, reject });
    });
  }

  /** One saver call for `group`, the escalation of its unsure rows, and each request's answer. */
  private async runGroup(group: Pending[], release: () => void): Promise<void> {
    const scored = await this.score(group, release);
    if (!scored) return;
    const threshold = this.o.settings.threshold;
    const part = partitionRows(scored.confidence, threshold);
    const esc: Escalation =
      part.escalated.length > 0 ? await this.escalate(scored, part.escalated) : { outputs: scored.saverRes.outputs, baseError: undefined };
    this.answer(group, scored, esc, threshold);
  }

  /**
   * The saver's scores for the merged rows of `group`. `release` frees the saver slot as soon as the
   * saver has answered (a slow base must not hold back requests the saver can answer alone).
   * Undefined when the group was split up and retried request by request.
   */
  private async score(group: Pending[], release: () => void): Promise<Scored | undefined> {
    const o = this.o;
    const merged: InferRequest =
      group.length === 1
        ? group[0].req
        : { inputs: group[0].req.inputs.map((_, k) => concatRows(group.map((p) => p.req.inputs[k]))), outputs: group[0].req.outputs };
    const rows = group.reduce((n, p) => n + p.rows, 0);
    const upstreamReq = this.upstreamRequest(merged);

    const ts = performance.now();
    let saverRes: InferResponse;
    try {
      saverRes = await this.callSaver(upstreamReq);
    } catch (e) {
      release();
      if (group.length > 1 && e instanceof OipError && e.status >= 400 && e.status < 500 && e.status !== 429) {
        // The saver refused the merged batch: one of the requests is bad. Retry each alone so
        // only that one gets the 4xx.
        for (const p of group) this.runGroup([p], () => undefined).catch((err) => p.reject(err));
        return undefined;
      }
      throw e;
    }
    release();
    const saverMs = performance.now() - ts;
    o.metrics.duration.saver.observe(saverMs / 1000);

    const scores = saverRes.outputs.find((t) => t.name === o.layout.scoreOutput);
    if (!scores) throw new OipError(502, `saver ${o.saver.label} returned no "${o.layout.scoreOutput}" output`);
    const classes = rowSize(scores.shape);
    if (scores.shape[0] !== rows || (o.layout.classes > 0 && classes !== o.layout.classes)) {
      throw new OipError(502, `saver ${o.saver.label} returned "${scores.name}" of shape [${scores.shape.join(',')}] for ${rows} rows`);
    }
    const { confidence, top1 } = rowConfidence(scoresAsNumbers(scores), rows, classes, o.confidence, o.probabilities);
    for (let i = 0; i < rows; i++) if (!Number.isNaN(confidence[i])) o.metrics.confidence.observe(confidence[i]);
    return { upstreamReq, saverRes, rows, classes, confidence, top1, saverMs };
  }

  /** The escalated rows to the base, merged back into the saver's outputs; or why the base failed. */
  private async escalate(s: Scored, escalated: Int32Array): Promise<Escalation> {
    const o = this.o;
    const m = o.metrics;
    const baseReq = { ...s.upstreamReq, inputs: s.upstreamReq.inputs.map((t) => sliceTensorRows(t, escalated)) };
    const tb = performance.now();
    const base = await this.callBase(baseReq, escalated.length);
    const baseMs = performance.now() - tb;
    m.duration.base.observe(baseMs / 1000);
    if (!base.ok) return { outputs: s.saverRes.outputs, baseError: base.error, baseMs };
    const byName = new Map(base.res.outputs.map((t) => [t.name, t]));
    try {
      const outputs = s.saverRes.outputs.map((t) => {
        const b = byName.get(t.name);
        if (!b) throw new RangeError(`base returned no "${t.name}" output`);
        return mergeRows(t, b, escalated);
      });
      const baseScores = byName.get(o.layout.scoreOutput)!;
      const baseTop1 = rowConfidence(scoresAsNumbers(baseScores), escalated.length, s.classes, o.confidence, o.probabilities).top1;
      const baseTop1Rows = o.decisions ? new Int32Array(s.rows).fill(-1) : undefined;
      for (let j = 0; j < escalated.length; j++) {
        const row = escalated[j];
        const c = s.confidence[row];
        if (!Number.isNaN(c)) (baseTop1[j] === s.top1[row] ? m.escalated.agree : m.escalated.disagree).observe(c);
        if (baseTop1Rows) baseTop1Rows[row] = baseTop1[j];
      }
      return { outputs, baseError: undefined, baseTop1Rows, baseMs };
    } catch (e) {
      return { outputs: s.saverRes.outputs, baseError: `base ${o.base.label}: ${errorMessage(e)}`, baseMs };
    }
  }

  /** Answer each request of the group from its rows of the merged batch. */
  private answer(group: Pending[], s: Scored, esc: Escalation, threshold: number): void {
    const { outputs, baseError } = esc;
    const o = this.o;
    const m = o.metrics;
    let offset = 0;
    for (const p of group) {
      const local = { confidence: s.confidence.subarray(offset, offset + p.rows), top1: s.top1.subarray(offset, offset + p.rows) };
      const routes: RowRoute[] = new Array(p.rows);
      const saverRows: number[] = [];
      let escalated = 0;
      for (let i = 0; i < p.rows; i++) {
        if (local.confidence[i] >= threshold) {
          routes[i] = 'saver';
          saverRows.push(i);
        } else {
          routes[i] = baseError === undefined ? 'base' : 'fallback';
          escalated++;
        }
      }
      const from = offset;
      offset += p.rows;
      if (baseError !== undefined && escalated > 0 && o.failurePolicy === 'error') {
        m.duration.total.observe((performance.now() - p.t0) / 1000);
        p.reject(new OipError(503, `${escalated} row(s) needed the base model and it failed: ${baseError}`));
        continue;
      }
      m.rows.saver.inc(saverRows.length);
      if (baseError === undefined) m.rows.base.inc(escalated);
      else m.rows.fallback.inc(escalated);
      const partOutputs = group.length === 1 ? outputs : outputs.map((t) => sliceRowRange(t, from, p.rows));
      const logged = o.decisions
        ? { baseTop1: esc.baseTop1Rows?.subarray(from, from + p.rows), saverMs: s.saverMs, baseMs: esc.baseMs }
        : undefined;
      p.resolve(
        this.finish(
          p.req,
          partOutputs,
          routes,
          local.confidence,
          threshold,
          escalated > 0 ? baseError : undefined,
          saverRows,
          local.top1,
          p.t0,
          logged,
        ),
      );
    }
  }

  private finish(
    req: InferRequest,
    outputs: Tensor[],
    routes: RowRoute[],
    confidence: Float64Array,
    threshold: number,
    degraded: string | undefined,
    saverRows: ArrayLike<number>,
    top1: Int32Array,
    t0: number,
    logged?: { baseTop1?: Int32Array; saverMs: number; baseMs?: number },
  ): CascadeResult {
    const o = this.o;
    const wanted = req.outputs ? new Set(req.outputs.map((r) => r.name)) : this.outputNames;
    // spec-valid scalars only (row-params.ts); the tensor form when the request asks for it
    const parameters: Record<string, unknown> = {
      [ROUTES_PARAM]: routes.join(','),
      [CONFIDENCE_PARAM]: formatConfidence(confidence),
      tinysaver_threshold: threshold,
    };
    if (degraded !== undefined) parameters.tinysaver_degraded = degraded;
    const response: InferResponse = {
      model_name: o.name,
      model_version: '1',
      outputs: outputs
        .filter((t) => wanted.has(t.name))
        .map((t): Tensor => ({ name: t.name, datatype: t.datatype, shape: t.shape, data: t.data }))
        .concat(req.outputs ? rowOutputs(wanted, routes, confidence) : []),
      parameters,
    };
    if (req.id !== undefined) response.id = req.id;
    const totalMs = performance.now() - t0;
    o.metrics.duration.total.observe(totalMs / 1000);

    const auditRate = o.settings.auditRate;
    const picked = sampleAuditRows(saverRows, auditRate, this.random);
    const log =
      logged &&
      o.decisions?.request({
        req,
        confidence,
        saverTop1: top1,
        baseTop1: logged.baseTop1,
        routes,
        audited: picked,
        threshold,
        auditRate,
        ms: { saver: logged.saverMs, base: logged.baseMs, total: totalMs },
      });
    if (picked.length === 0) return { response };
    return { response, startAudit: () => this.audit(req, picked, confidence, top1, log) };
  }

  /** Off the hot path: send the picked saver-answered rows to the base and record agreement. */
  private audit(req: InferRequest, picked: number[], confidence: Float64Array, top1: Int32Array, log?: AuditLogHandle): void {
    const o = this.o;
    const m = o.metrics;
    const started = this.auditRunner.tryRun(async () => {
      if (o.baseUsable() !== undefined || !o.breaker.tryAcquire()) {
        m.auditDropped.inc(picked.length);
        log?.dropped();
        return;
      }
      const auditReq = this.upstreamRequest(req, true);
      auditReq.inputs = auditReq.inputs.map((t) => sliceTensorRows(t, picked));
      let res: InferResponse;
      try {
        res = await o.base.infer(auditReq, o.baseTimeoutMs);
      } catch (e) {
        o.breaker.onFailure(errorMessage(e));
        m.baseFailures.inc();
        m.auditDropped.inc(picked.length);
        log?.dropped();
        return;
      }
      o.breaker.onSuccess();
      const scores = res.outputs.find((t) => t.name === o.layout.scoreOutput);
      if (!scores || scores.shape[0] !== picked.length) {
        m.auditDropped.inc(picked.length);
        log?.dropped();
        return;
      }
      const baseTop1 = rowConfidence(scoresAsNumbers(scores), picked.length, rowSize(scores.shape), o.confidence, o.probabilities).top1;
      for (let j = 0; j < picked.length; j++) {
        const row = picked[j];
        (baseTop1[j] === top1[row] ? m.audit.agree : m.audit.disagree).observe(confidence[row]);
      }
      log?.done(baseTop1);
    });
    if (!started) {
      m.auditDropped.inc(picked.length);
      log?.dropped();
    }
  }

  private checkRequestedOutputs(req: InferRequest): void {
    for (const r of req.outputs ?? []) {
      if (!this.outputNames.has(r.name) && !ROW_OUTPUTS.includes(r.name)) {
        throw new OipError(
          400,
          `requested output "${r.name}" is not an output of model "${this.o.name}" (it has: ${[...this.outputNames].join(', ')})`,
        );
      }
    }
  }

  /** The request sent upstream: the client's inputs; outputs = what it asked for plus the scores. */
  private upstreamRequest(req: InferRequest, scoresOnly = false): InferRequest {
    const o = this.o;
    const up: InferRequest = { inputs: req.inputs };
    if (req.id !== undefined) up.id = req.id;
    if (scoresOnly) {
      up.outputs = [{ name: o.layout.scoreOutput }];
      return up;
    }
    if (req.outputs) {
      const names = new Set<string>(req.outputs.map((r) => r.name).filter((n) => !ROW_OUTPUTS.includes(n)));
      names.add(o.layout.scoreOutput);
      up.outputs = [...names].map((name) => ({ name }));
    } else if (o.layout.dropped.length > 0) {
      up.outputs = o.layout.outputs.map((t) => ({ name: t.name }));
    }
    return up;
  }

  private async callSaver(req: InferRequest): Promise<InferResponse> {
    try {
      return await this.o.saver.infer(req, this.o.saverTimeoutMs);
    } catch (e) {
      if (e instanceof OipError) {
        // The saver validates the inputs: its 4xx is the client's problem, passed on as such.
        if (e.status >= 400 && e.status < 500 && e.status !== 404) throw e;
        throw new OipError(e.status === 404 ? 503 : e.status, `saver ${this.o.saver.label}: ${e.message}`);
      }
      throw e;
    }
  }

  /** Escalated rows to the base, merged with other requests' escalations when base calls are busy. */
  private async callBase(req: InferRequest, rows: number): Promise<{ ok: true; res: InferResponse } | { ok: false; error: string }> {
    const unusable = this.o.baseUsable();
    if (unusable !== undefined) {
      this.o.metrics.baseFailures.inc();
      return { ok: false, error: unusable };
    }
    try {
      return { ok: true, res: await this.baseBatcher.submit(req, rows) };
    } catch (e) {
      return { ok: false, error: errorMessage(e) };
    }
  }

  /** One actual base call (possibly carrying several requests' rows), behind the circuit breaker. */
  private async baseCall(req: InferRequest, rows: number): Promise<InferResponse> {
    const o = this.o;
    if (!o.breaker.tryAcquire()) {
      o.metrics.baseFailures.inc();
      throw new Error(`base ${o.base.label} circuit open after ${o.breaker.failures} consecutive failures (last: ${o.breaker.lastError})`);
    }
    try {
      const res = await o.base.infer(req, o.baseTimeoutMs);
      if (!res.outputs.some((t) => t.name === o.layout.scoreOutput))
        throw new Error(`returned no "${o.layout.scoreOutput}" output for ${rows} rows`);
      // Every output, not only the scores: merged calls are cut back into per-request row ranges.
      const short = res.outputs.find((t) => t.shape[0] !== rows);
      if (short) throw new Error(`returned "${short.name}" of shape [${short.shape.join(',')}] for ${rows} rows`);
      o.breaker.onSuccess();
      return res;
    } catch (e) {
      o.breaker.onFailure(errorMessage(e));
      o.metrics.baseFailures.inc();
      throw new Error(`base ${o.base.label}: ${errorMessage(e)}`);
    }
  }
}

/** Batch size shared by every input (dim 0); a clear 400 when inputs disagree or have no batch dim. */
export function batchRows(req: InferRequest): number {
  let rows = -1;
  for (const t of req.inputs) {
    if (t.shape.length === 0) throw new OipError(400, `input "${t.name}" has shape []; the cascade needs a batch dimension`);
    if (rows === -1) rows = t.shape[0];
    else if (t.shape[0] !== rows) {
      throw new OipError(400, `inputs disagree on the batch size: "${req.inputs[0].name}" has ${rows} rows, "${t.name}" has ${t.shape[0]}`);
    }
  }
  return rows;
}
