// Pure: policy decision -> the ModelCascade status fields the threshold controller owns, the
// ThresholdControl condition, the change history, and the Event for a change.

import type { Condition, ModelCascadeStatus, ThresholdChange } from '../api/model-cascade.js';
import type { Decision } from './policy.js';
import { formatDuration } from './spec.js';

export const CONDITION_TYPE = 'ThresholdControl';
export const HISTORY_LIMIT = 10;

/** The status fields this controller writes (server-side apply with its own field manager). */
export type ThresholdStatus = Pick<
  ModelCascadeStatus,
  | 'threshold'
  | 'recommendedThreshold'
  | 'lossBound'
  | 'saverShare'
  | 'auditRate'
  | 'auditsInWindow'
  | 'window'
  | 'lastChange'
  | 'history'
  | 'conditions'
  | 'routers'
>;

export interface ThresholdEvent {
  type: 'Normal' | 'Warning';
  reason: 'ThresholdRaised' | 'ThresholdLowered' | 'ThresholdReset';
  message: string;
}

const round = (v: number, digits = 6): number => Number(v.toFixed(digits));
const pct = (v: number): string => `${(v * 100).toFixed(2)}%`;

/** The controller's condition: True while it acts on fresh data, False while a guard holds it. */
export function thresholdCondition(
  d: Decision,
  mode: string,
  generation: number | undefined,
  previous: Condition | undefined,
  nowIso: string,
): Condition {
  const status: Condition['status'] = d.holding ? 'False' : 'True';
  const reason = mode === 'observe' && !d.holding ? `Observe${d.reason}` : d.reason;
  const c: Condition = {
    type: CONDITION_TYPE,
    status,
    reason,
    message: d.message.slice(0, 1024),
    lastTransitionTime: previous && previous.status === status ? (previous.lastTransitionTime ?? nowIso) : nowIso,
  };
  if (generation !== undefined) c.observedGeneration = generation;
  return c;
}

export interface StatusInput {
  decision: Decision;
  /** threshold in force before this decision */
  from: number;
  mode: string;
  windowMs: number;
  generation?: number;
  previous?: ModelCascadeStatus;
  now: Date;
  /** budget ε, for the Event text */
  epsilon: number;
  /** a reason overriding the decision's for the history entry (e.g. ModelChanged) */
  changeReason?: string;
}

export function buildThresholdStatus(input: StatusInput): { status: ThresholdStatus; event?: ThresholdEvent } {
  const { decision: d, from, previous, now } = input;
  const nowIso = now.toISOString();
  const prevCond = previous?.conditions?.find((c) => c.type === CONDITION_TYPE);
  const status: ThresholdStatus = {
    threshold: round(d.threshold),
    window: formatDuration(input.windowMs),
    auditsInWindow: Math.round(d.audits),
    conditions: [thresholdCondition(d, input.mode, input.generation, prevCond, nowIso)],
  };
  if (Number.isFinite(d.recommended)) status.recommendedThreshold = round(d.recommended);
  if (Number.isFinite(d.bound)) status.lossBound = round(d.bound);
  if (Number.isFinite(d.share)) status.saverShare = round(d.share);
  // only mode adaptive sets the routers' audit rate (the ConfigMap reads status.auditRate only then)
  if (input.mode === 'adaptive' && Number.isFinite(d.auditRate)) status.auditRate = round(d.auditRate);
  let history: ThresholdChange[] = (previous?.history ?? []).slice(-HISTORY_LIMIT);
  let lastChange = previous?.lastChange;
  let event: ThresholdEvent | undefined;
  if (d.changed) {
    const change: ThresholdChange = { from: round(from), to: round(d.threshold), reason: input.changeReason ?? d.reason, time: nowIso };
    history = [...history, change].slice(-HISTORY_LIMIT);
    lastChange = change;
    const raise = d.direction === 'raise';
    if (input.changeReason === 'ModelChanged') {
      event = {
        type: 'Normal',
        reason: 'ThresholdReset',
        message: `${from} -> ${d.threshold}: saver/base model changed, telemetry window reset to start over from spec.threshold.initial`,
      };
    } else {
      const why = raise
        ? d.change
          ? `change detected (${d.change.statistic}, since ${d.change.sinceIntervals} interval(s)): window cut to the post-change rows, loss bound ${pct(d.boundAtCurrent)} there`
          : `loss bound ${pct(d.boundAtCurrent)} > budget ${pct(input.epsilon)}`
        : `loss bound ${pct(d.bound)} <= budget ${pct(input.epsilon)} (certified down to ${d.recommended})`;
      event = {
        type: raise ? 'Warning' : 'Normal',
        reason: raise ? 'ThresholdRaised' : 'ThresholdLowered',
        message: `${from} -> ${d.threshold}, ${why}; ${d.audits} audits, ${d.rows} rows in window`,
      };
    }
  }
  if (lastChange) status.lastChange = lastChange;
  if (history.length > 0) status.history = history;
  return event ? { status, event } : { status };
}
