// Pure status logic: Ready / Progressing / Degraded conditions from the owned Deployments and their pods
// (waiting reasons, scheduling failures) and from the routers' view of the base (status.routers, written by
// the threshold controller from the routers' metrics: fallback share, circuit breaker), and the
// merge that keeps lastTransitionTime stable while a condition's status does not change.
import type { Condition } from '../api/model-cascade.js';
import { routerHealthProblem, type HealthLimits, type RoutersStatus } from '../telemetry/router-health.js';

/** Degraded reasons that come from the routers' view; their messages carry live numbers. */
export const ROUTER_HEALTH_REASONS: ReadonlySet<string> = new Set(['BaseUnavailable', 'FallbackServing']);

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
    failure: rf?.status === 'True' ? (rf.message ?? rf.reason ?? 'replica failure') : undefined,
  };
}

/** The parts of a Pod the status reads: why it does not run (scheduling, image, crash loop). */
export interface PodLike {
  metadata: { name: string; deletionTimestamp?: string };
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    containerStatuses?: ContainerStatusLike[];
    initContainerStatuses?: ContainerStatusLike[];
  };
}
interface ContainerStatusLike {
  name: string;
  restartCount?: number;
  state?: { waiting?: { reason?: string; message?: string }; terminated?: { reason?: string; exitCode?: number } };
  lastState?: { terminated?: { reason?: string; exitCode?: number; message?: string } };
}

/** Waiting reasons that mean a container will not start without a change (not ContainerCreating). */
const STUCK_REASONS = new Set([
  'ImagePullBackOff',
  'ErrImagePull',
  'ErrImageNeverPull',
  'InvalidImageName',
  'CrashLoopBackOff',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
  'PreStartHookError',
  'PostStartHookError',
]);

export interface PodProblem {
  reason: string;
  message: string;
}

/**
 * Why the cascade's pods do not run, from the pods themselves: Unschedulable (missing PVC, not enough
 * CPU/GPU, taints), image pull failures, crash loops and bad container config. One entry per pod and cause,
 * in pod order; a pod being deleted is skipped. Messages are cut to keep the condition readable.
 */
export function podProblems(pods: PodLike[]): PodProblem[] {
  const out: PodProblem[] = [];
  const cut = (s: string) => (s.length > 300 ? `${s.slice(0, 297)}...` : s);
  for (const p of [...pods].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
    if (p.metadata.deletionTimestamp) continue;
    if (p.status?.phase === 'Failed' && p.status.reason) {
      // rejected or evicted by the kubelet (UnexpectedAdmissionError, OutOfcpu, Evicted, ...)
      out.push({
        reason: p.status.reason,
        message: cut(`pod ${p.metadata.name} failed: ${p.status.reason}${p.status.message ? `: ${p.status.message}` : ''}`),
      });
      continue;
    }
    const sched = p.status?.conditions?.find((c) => c.type === 'PodScheduled');
    if (sched?.status === 'False' && sched.reason === 'Unschedulable') {
      out.push({ reason: 'Unschedulable', message: cut(`pod ${p.metadata.name} unschedulable: ${sched.message ?? 'no node fits'}`) });
      continue;
    }
    for (const c of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]) {
      const w = c.state?.waiting;
      if (!w?.reason || !STUCK_REASONS.has(w.reason)) continue;
      let detail = w.message ?? '';
      if (w.reason === 'CrashLoopBackOff') {
        const last = c.lastState?.terminated;
        detail = `restarted ${c.restartCount ?? 0} time(s)${last ? `, last exit ${last.exitCode ?? '?'}${last.reason ? ` (${last.reason})` : ''}` : ''}`;
        // the container's own last words (its termination message, or its last log lines: the builders set
        // terminationMessagePolicy FallbackToLogsOnError), e.g. why a model could not be fetched or loaded
        const words = lastWords(last?.message);
        if (words) detail += `: ${words}`;
      }
      out.push({ reason: w.reason, message: cut(`pod ${p.metadata.name} container ${c.name}: ${w.reason}${detail ? `: ${detail}` : ''}`) });
    }
  }
  return out;
}

/** The last non-empty line of a termination message, trimmed: the error a CLI prints last. */
function lastWords(message: string | undefined): string {
  const lines = (message ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^(Usage:|at )/.test(l));
  return lines.length ? lines[lines.length - 1]! : '';
}

export interface ConditionInputs {
  generation: number;
  deployments: DeploymentLike[];
  /** The cascade's pods (saver, base); their failures make Degraded name the cause. */
  pods?: PodLike[];
  /** Set when building or applying the owned objects failed this round. */
  reconcileError?: { reason: string; message: string };
  /** status.routers (the threshold controller's scrape) and spec.health, defaulted: Degraded when the base fails */
  routers?: RoutersStatus;
  health?: HealthLimits;
}

export function computeConditions(inp: ConditionInputs): Condition[] {
  const states = inp.deployments.map(rolloutState);
  const summary = states.map(describeRollout).join(', ') || 'no deployments';
  const allOut = states.length > 0 && states.every((s) => s.rolledOut);
  const stalled = states.filter((s) => s.stalled);
  const failed = states.filter((s) => s.failure);
  const problems = podProblems(inp.pods ?? []);
  const routers = inp.health ? routerHealthProblem(inp.routers, inp.health) : undefined;
  const g = inp.generation;
  const ready: Condition =
    !inp.reconcileError && allOut
      ? { type: 'Ready', status: 'True', reason: 'Available', message: summary, observedGeneration: g }
      : {
          type: 'Ready',
          status: 'False',
          reason: inp.reconcileError ? inp.reconcileError.reason : 'Unavailable',
          message: inp.reconcileError?.message ?? summary,
          observedGeneration: g,
        };
  const progressing: Condition =
    !allOut && !stalled.length && !inp.reconcileError
      ? { type: 'Progressing', status: 'True', reason: 'RollingOut', message: summary, observedGeneration: g }
      : {
          type: 'Progressing',
          status: 'False',
          reason: stalled.length ? 'ProgressDeadlineExceeded' : allOut ? 'RolledOut' : 'Blocked',
          message: summary,
          observedGeneration: g,
        };
  let degraded: Condition = { type: 'Degraded', status: 'False', reason: 'AsExpected', message: '', observedGeneration: g };
  if (inp.reconcileError)
    degraded = {
      type: 'Degraded',
      status: 'True',
      reason: inp.reconcileError.reason,
      message: inp.reconcileError.message,
      observedGeneration: g,
    };
  else if (problems.length) {
    const more = problems.length > 3 ? `; and ${problems.length - 3} more` : '';
    degraded = {
      type: 'Degraded',
      status: 'True',
      reason: problems[0].reason,
      message:
        problems
          .slice(0, 3)
          .map((x) => x.message)
          .join('; ') +
        more +
        (routers ? `; routers: ${routers.message}` : ''),
      observedGeneration: g,
    };
  } else if (routers)
    degraded = { type: 'Degraded', status: 'True', reason: routers.reason, message: routers.message, observedGeneration: g };
  else if (stalled.length)
    degraded = {
      type: 'Degraded',
      status: 'True',
      reason: 'ProgressDeadlineExceeded',
      message: `rollout stalled: ${stalled.map((s) => s.name).join(', ')}`,
      observedGeneration: g,
    };
  else if (failed.length)
    degraded = {
      type: 'Degraded',
      status: 'True',
      reason: 'ReplicaFailure',
      message: failed.map((s) => `${s.name}: ${s.failure}`).join('; '),
      observedGeneration: g,
    };
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
    return (
      !!o &&
      o.status === c.status &&
      (o.reason ?? '') === (c.reason ?? '') &&
      (o.message ?? '') === (c.message ?? '') &&
      o.observedGeneration === c.observedGeneration
    );
  });
}
