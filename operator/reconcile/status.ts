// Pure status logic: Ready / Progressing / Degraded conditions from the owned Deployments, and the
// merge that keeps lastTransitionTime stable while a condition's status does not change.
import type { Condition } from '../api/model-cascade.js';

export interface DeploymentLike {
  metadata: { name: string; generation?: number };
  spec?: { replicas?: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

export interface RolloutState {
  name: string;
  desired: number;
  available: number;
  rolledOut: boolean;
  /** the Deployment controller has seen the current generation */
  observed: boolean;
  updated: number;
  /** pods beyond the desired count still running (old ReplicaSet during a rollout) */
  surplus: number;
  stalled: boolean;
  failure?: string;
}

export function rolloutState(d: DeploymentLike): RolloutState {
  const desired = d.spec?.replicas ?? 1;
  const st = d.status ?? {};
  const current = (st.observedGeneration ?? 0) >= (d.metadata.generation ?? 1);
  const updated = st.updatedReplicas ?? 0;
  const available = st.availableReplicas ?? 0;
  const total = st.replicas ?? 0;
  const cond = (t: string) => st.conditions?.find((c) => c.type === t);
  const progressing = cond('Progressing');
  const stalled = progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded';
  const rf = cond('ReplicaFailure');
  return {
    name: d.metadata.name,
    desired,
    available,
    rolledOut: current && updated >= desired && available >= desired && total <= updated,
    observed: current,
    updated,
    surplus: Math.max(0, total - updated),
    stalled,
    failure: rf?.status === 'True' ? rf.message ?? rf.reason ?? 'replica failure' : undefined,
  };
}

export interface ConditionInputs {
  generation: number;
  deployments: DeploymentLike[];
  /** Set when building or applying the owned objects failed this round. */
  reconcileError?: { reason: string; message: string };
}

export function computeConditions(inp: ConditionInputs): Condition[] {
  const states = inp.deployments.map(rolloutState);
  const summary = states.map(describeRollout).join(', ') || 'no deployments';
  const allOut = states.length > 0 && states.every((s) => s.rolledOut);
  const stalled = states.filter((s) => s.stalled);
  const failed = states.filter((s) => s.failure);
  const g = inp.generation;
  const ready: Condition = !inp.reconcileError && allOut
    ? { type: 'Ready', status: 'True', reason: 'Available', message: summary, observedGeneration: g }
    : { type: 'Ready', status: 'False', reason: inp.reconcileError ? inp.reconcileError.reason : 'Unavailable', message: inp.reconcileError?.message ?? summary, observedGeneration: g };
  const progressing: Condition = !allOut && !stalled.length && !inp.reconcileError
    ? { type: 'Progressing', status: 'True', reason: 'RollingOut', message: summary, observedGeneration: g }
    : { type: 'Progressing', status: 'False', reason: stalled.length ? 'ProgressDeadlineExceeded' : allOut ? 'RolledOut' : 'Blocked', message: summary, observedGeneration: g };
  let degraded: Condition = { type: 'Degraded', status: 'False', reason: 'AsExpected', message: '', observedGeneration: g };
  if (inp.reconcileError) degraded = { type: 'Degraded', status: 'True', reason: inp.reconcileError.reason, message: inp.reconcileError.message, observedGeneration: g };
  else if (stalled.length) degraded = { type: 'Degraded', status: 'True', reason: 'ProgressDeadlineExceeded', message: `rollout stalled: ${stalled.map((s) => s.name).join(', ')}`, observedGeneration: g };
  else if (failed.length) degraded = { type: 'Degraded', status: 'True', reason: 'ReplicaFailure', message: failed.map((s) => `${s.name}: ${s.failure}`).join('; '), observedGeneration: g };
  return [ready, progressing, degraded];
}

/**
 * "<name> A/D available", plus what still blocks a rollout that is not done, so a NotReady message never
 * reads as if every Deployment were fine while pods are being replaced or the change is not yet seen.
 */
function describeRollout(s: RolloutState): string {
  const base = `${s.name} ${s.available}/${s.desired} available`;
  if (s.rolledOut) return base;
  if (!s.observed) return `${base} (new spec not yet seen by the Deployment controller)`;
  const todo: string[] = [];
  if (s.updated < s.desired) todo.push(`${s.updated}/${s.desired} updated`);
  if (s.surplus > 0) todo.push(`${s.surplus} old pod(s) still running`);
  return todo.length ? `${base} (rolling out: ${todo.join(', ')})` : base;
}

/** Carries lastTransitionTime over from `existing` when the status of a condition did not change. */
export function mergeConditions(existing: Condition[] | undefined, computed: Condition[], now: string): Condition[] {
  return computed.map((c) => {
    const old = existing?.find((e) => e.type === c.type);
    return { ...c, lastTransitionTime: old && old.status === c.status && old.lastTransitionTime ? old.lastTransitionTime : now };
  });
}

/** True when writing `computed` would change nothing we own (lastTransitionTime ignored). */
export function conditionsEqual(existing: Condition[] | undefined, computed: Condition[]): boolean {
  return computed.every((c) => {
    const o = existing?.find((e) => e.type === c.type);
    return !!o && o.status === c.status && (o.reason ?? '') === (c.reason ?? '') && (o.message ?? '') === (c.message ?? '') && o.observedGeneration === c.observedGeneration;
  });
}
