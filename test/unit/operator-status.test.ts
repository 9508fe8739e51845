import { describe, expect, it } from 'vitest';
import {
  computeConditions,
  conditionsEqual,
  mergeConditions,
  podProblems,
  rolloutState,
  type DeploymentLike,
  type PodLike,
} from '../../operator/reconcile/status.js';
import { backoffDelay } from '../../operator/kube/backoff.js';

const dep = (name: string, replicas: number, status: DeploymentLike['status'], generation = 2): DeploymentLike => ({
  metadata: { name, generation },
  spec: { replicas },
  status,
});
const ready = (name: string, n = 1) =>
  dep(name, n, { observedGeneration: 2, replicas: n, updatedReplicas: n, readyReplicas: n, availableReplicas: n });
const cond = (cs: ReturnType<typeof computeConditions>, t: string) => cs.find((c) => c.type === t)!;

describe('rolloutState', () => {
  it('is rolled out only when the controller saw the current generation and all replicas are updated and available', () => {
    expect(rolloutState(ready('a', 2)).rolledOut).toBe(true);
    expect(rolloutState(dep('a', 2, { observedGeneration: 1, replicas: 2, updatedReplicas: 2, availableReplicas: 2 })).rolledOut).toBe(
      false,
    );
    expect(rolloutState(dep('a', 2, { observedGeneration: 2, replicas: 3, updatedReplicas: 2, availableReplicas: 2 })).rolledOut).toBe(
      false,
    );
    expect(rolloutState(dep('a', 2, { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 1 })).rolledOut).toBe(
      false,
    );
    expect(rolloutState(dep('a', 1, undefined)).rolledOut).toBe(false);
  });
});

describe('computeConditions', () => {
  it('Ready=True when every deployment is rolled out', () => {
    const cs = computeConditions({ generation: 5, deployments: [ready('x-saver'), ready('x-base')] });
    expect(cond(cs, 'Ready')).toMatchObject({ status: 'True', observedGeneration: 5 });
    expect(cond(cs, 'Progressing').status).toBe('False');
    expect(cond(cs, 'Degraded').status).toBe('False');
  });
  it('Progressing while a deployment rolls out', () => {
    const cs = computeConditions({ generation: 1, deployments: [ready('x-saver'), dep('x-base', 1, {})] });
    expect(cond(cs, 'Ready')).toMatchObject({ status: 'False', reason: 'Unavailable' });
    expect(cond(cs, 'Ready').message).toContain('x-base 0/1 available');
    expect(cond(cs, 'Progressing')).toMatchObject({ status: 'True', reason: 'RollingOut' });
  });
  it('a NotReady message names what blocks the rollout, never only "1/1 available" (issue 10)', () => {
    const rolling = computeConditions({
      generation: 1,
      deployments: [dep('x-saver', 1, { observedGeneration: 2, replicas: 1, updatedReplicas: 0, availableReplicas: 1 })],
    });
    expect(cond(rolling, 'Ready')).toMatchObject({
      status: 'False',
      message: 'x-saver 1/1 available (rolling out: 0/1 updated, 1 old pod(s) still running)',
    });
    const surplus = computeConditions({
      generation: 1,
      deployments: [dep('x-saver', 1, { observedGeneration: 2, replicas: 2, updatedReplicas: 1, availableReplicas: 1 })],
    });
    expect(cond(surplus, 'Ready').message).toBe('x-saver 1/1 available (rolling out: 1 old pod(s) still running)');
    const unseen = computeConditions({
      generation: 1,
      deployments: [dep('x-saver', 1, { observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: 1 })],
    });
    expect(cond(unseen, 'Ready').message).toBe('x-saver 1/1 available (new spec not yet seen by the Deployment controller)');
    expect(cond(computeConditions({ generation: 1, deployments: [ready('x-saver')] }), 'Ready').message).toBe('x-saver 1/1 available');
  });
  it('Degraded on a stalled rollout or a reconcile error', () => {
    const stalled = dep('x-base', 1, {
      observedGeneration: 2,
      conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }],
    });
    expect(cond(computeConditions({ generation: 1, deployments: [stalled] }), 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'ProgressDeadlineExceeded',
    });
    const cs = computeConditions({
      generation: 1,
      deployments: [ready('a')],
      reconcileError: { reason: 'InvalidSpec', message: 'saver.model: bad' },
    });
    expect(cond(cs, 'Degraded')).toMatchObject({ status: 'True', reason: 'InvalidSpec', message: 'saver.model: bad' });
    expect(cond(cs, 'Ready').status).toBe('False');
  });
  it('keeps lastTransitionTime while status is unchanged and detects equality', () => {
    const first = mergeConditions(undefined, computeConditions({ generation: 1, deployments: [ready('a')] }), 't1');
    const again = computeConditions({ generation: 1, deployments: [ready('a')] });
    expect(conditionsEqual(first, again)).toBe(true);
    const merged = mergeConditions(first, computeConditions({ generation: 1, deployments: [dep('a', 1, {})] }), 't2');
    expect(cond(merged, 'Ready').lastTransitionTime).toBe('t2');
    expect(cond(merged, 'Degraded').lastTransitionTime).toBe('t1');
  });
});

describe('pod failures in status (issue 10: they showed only Progressing=True RollingOut)', () => {
  const waiting = (name: string, container: string, reason: string, message?: string, extra: object = {}): PodLike => ({
    metadata: { name },
    status: { containerStatuses: [{ name: container, state: { waiting: { reason, message } }, ...extra }] },
  });
  const rolling = dep('x-saver', 1, { observedGeneration: 2, replicas: 1, updatedReplicas: 1, availableReplicas: 0 });

  it('ImagePullBackOff: Degraded names the pod, container and the kubelet message; Progressing stays RollingOut', () => {
    const cs = computeConditions({
      generation: 1,
      deployments: [rolling],
      pods: [waiting('x-saver-1', 'router', 'ImagePullBackOff', 'Back-off pulling image "localhost/nope:1"')],
    });
    expect(cond(cs, 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'ImagePullBackOff',
      message: 'pod x-saver-1 container router: ImagePullBackOff: Back-off pulling image "localhost/nope:1"',
    });
    expect(cond(cs, 'Ready').status).toBe('False');
    expect(cond(cs, 'Progressing')).toMatchObject({ status: 'True', reason: 'RollingOut' });
  });
  it('CrashLoopBackOff says how often and how it last exited', () => {
    const pod = waiting('x-base-1', 'base', 'CrashLoopBackOff', 'back-off 40s', {
      restartCount: 3,
      lastState: { terminated: { exitCode: 1, reason: 'Error' } },
    });
    expect(podProblems([pod])).toEqual([
      { reason: 'CrashLoopBackOff', message: 'pod x-base-1 container base: CrashLoopBackOff: restarted 3 time(s), last exit 1 (Error)' },
    ]);
  });
  it("CrashLoopBackOff adds the container's last words (termination message or last log line)", () => {
    const pod = waiting('x-saver-1', 'fetch-saver-model', 'CrashLoopBackOff', 'back-off 20s', {
      restartCount: 2,
      lastState: {
        terminated: {
          exitCode: 1,
          reason: 'Error',
          message: 'starting\ntinysaver fetch-model: GET http://models.example/saver.onnx: connect ECONNREFUSED 10.0.0.1:80\n',
        },
      },
    });
    expect(podProblems([pod])).toEqual([
      {
        reason: 'CrashLoopBackOff',
        message:
          'pod x-saver-1 container fetch-saver-model: CrashLoopBackOff: restarted 2 time(s), last exit 1 (Error): tinysaver fetch-model: GET http://models.example/saver.onnx: connect ECONNREFUSED 10.0.0.1:80',
      },
    ]);
  });
  it('Unschedulable carries the scheduler message (missing PVC, insufficient CPU, no GPU)', () => {
    const pod: PodLike = {
      metadata: { name: 'x-base-1' },
      status: {
        conditions: [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message: '0/1 nodes are available: 1 Insufficient nvidia.com/gpu.',
          },
        ],
      },
    };
    const cs = computeConditions({ generation: 1, deployments: [rolling], pods: [pod] });
    expect(cond(cs, 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'Unschedulable',
      message: 'pod x-base-1 unschedulable: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu.',
    });
  });
  it('a pod the kubelet rejected or evicted (phase Failed) is named with its reason', () => {
    const pod: PodLike = {
      metadata: { name: 'x-base-2' },
      status: { phase: 'Failed', reason: 'UnexpectedAdmissionError', message: 'Allocate failed' },
    };
    expect(podProblems([pod])).toEqual([
      { reason: 'UnexpectedAdmissionError', message: 'pod x-base-2 failed: UnexpectedAdmissionError: Allocate failed' },
    ]);
  });
  it('ignores containers still starting, pods being deleted, and caps the message at three problems', () => {
    expect(
      podProblems([
        waiting('a', 'c', 'ContainerCreating'),
        { ...waiting('b', 'c', 'ErrImagePull'), metadata: { name: 'b', deletionTimestamp: 't' } },
      ]),
    ).toEqual([]);
    const many = ['p1', 'p2', 'p3', 'p4', 'p5'].map((n) => waiting(n, 'c', 'ErrImagePull', 'not found'));
    const cs = computeConditions({ generation: 1, deployments: [rolling], pods: many });
    expect(cond(cs, 'Degraded').message).toMatch(/pod p1 .*; pod p2 .*; pod p3 [^;]*; and 2 more$/);
    expect(cond(computeConditions({ generation: 1, deployments: [ready('x-saver')], pods: [] }), 'Degraded').status).toBe('False');
  });
});

describe('backoffDelay', () => {
  it('doubles per attempt within [d/2, d] and caps at max', () => {
    expect(backoffDelay(0, { baseMs: 100, maxMs: 10_000 }, () => 0)).toBe(50);
    expect(backoffDelay(0, { baseMs: 100, maxMs: 10_000 }, () => 1)).toBe(100);
    expect(backoffDelay(3, { baseMs: 100, maxMs: 10_000 }, () => 1)).toBe(800);
    expect(backoffDelay(50, { baseMs: 100, maxMs: 10_000 }, () => 0.5)).toBe(7500);
  });
});
