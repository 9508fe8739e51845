// The reconciler's record of its last applies (operator/reconcile/applied.ts): when an apply may be skipped,
// and that every kind of drift in a field we set makes it apply again. The live objects are what an
// apiserver answers (defaulted fields, normalized quantities, fields of other managers, status).
import { describe, expect, it } from 'vitest';
import type { ModelCascade } from '../../operator/api/model-cascade.js';
import { AppliedRecords, desiredHash, fingerprint, project } from '../../operator/reconcile/applied.js';
import { buildOwnedObjects } from '../../operator/reconcile/builders/index.js';
import { reconcileInputsChanged } from '../../operator/operator.js';
import type { KubeObject } from '../../operator/kube/informer.js';

const mc: ModelCascade = {
  apiVersion: 'tinysaver.io/v1alpha1',
  kind: 'ModelCascade',
  metadata: { name: 'fashion', namespace: 'ml', uid: 'uid-1', generation: 1 },
  spec: { saver: { model: '/models/saver.onnx', replicas: 2 }, base: { model: 'pvc://models/base.onnx' } },
};
const clone = <T>(o: T): T => structuredClone(o);
const saverOf = (m: ModelCascade) => buildOwnedObjects(m).find((o) => o.kind === 'Deployment' && o.metadata!.name === 'fashion-saver')!;

/** What an apiserver answers for an applied Deployment: defaults filled in, status, extra annotations. */
function answered(desired: any, rv: number): any {
  const o = clone(desired);
  o.metadata.uid = 'dep-uid';
  o.metadata.resourceVersion = String(rv);
  o.metadata.generation = 1;
  o.metadata.annotations = { 'deployment.kubernetes.io/revision': '1' };
  o.metadata.managedFields = [{ manager: 'tinysaver-operator', operation: 'Apply' }];
  o.spec.progressDeadlineSeconds = 600;
  o.spec.revisionHistoryLimit = 10;
  for (const c of o.spec.template.spec.containers) {
    c.terminationMessagePath = '/dev/termination-log';
    c.imagePullPolicy ??= 'IfNotPresent';
  }
  o.status = { observedGeneration: 1, replicas: 0 };
  return o;
}

describe('AppliedRecords', () => {
  const desired = saverOf(mc);
  const hash = desiredHash(desired);

  it('an object never applied, or absent from the cache, is applied', () => {
    const r = new AppliedRecords();
    expect(r.upToDate('ml/fashion', 'Deployment/fashion-saver', hash, desired, answered(desired, 10))).toBe(false);
    r.record('ml/fashion', 'Deployment/fashion-saver', hash, desired, answered(desired, 10));
    expect(r.upToDate('ml/fashion', 'Deployment/fashion-saver', hash, desired, undefined)).toBe(false);
  });

  it('skips when the desired object is unchanged and the live one shows our apply (status and defaults aside)', () => {
    const r = new AppliedRecords();
    r.record('ml/fashion', 'Deployment/fashion-saver', hash, desired, answered(desired, 10));
    const live = answered(desired, 12);
    delete live.metadata.managedFields; // the informer cache drops them
    live.status = { observedGeneration: 1, replicas: 2, readyReplicas: 2, availableReplicas: 2 };
    live.metadata.annotations['deployment.kubernetes.io/revision'] = '2';
    expect(r.upToDate('ml/fashion', 'Deployment/fashion-saver', hash, desired, live)).toBe(true);
  });

  it('a changed desired object (new spec, new threshold) is applied', () => {
    const r = new AppliedRecords();
    r.record('ml/fashion', 'Deployment/fashion-saver', hash, desired, answered(desired, 10));
    const next = saverOf({ ...mc, spec: { ...mc.spec, saver: { ...mc.spec.saver, replicas: 3 } } });
    const nextHash = desiredHash(next);
    expect(nextHash).not.toBe(hash);
    expect(r.upToDate('ml/fashion', 'Deployment/fashion-saver', nextHash, next, answered(desired, 12))).toBe(false);
  });

  it.each([
    ['kubectl scale', (o: any) => (o.spec.replicas = 7)],
    ['a new image', (o: any) => (o.spec.template.spec.containers[0].image = 'evil:latest')],
    ['our label removed', (o: any) => delete o.metadata.labels['app.kubernetes.io/managed-by']],
    ['the owner reference dropped', (o: any) => (o.metadata.ownerReferences = [])],
    ['an argument of ours edited', (o: any) => (o.spec.template.spec.containers[0].args[2] = '127.0.0.1')],
    ['a port of ours edited', (o: any) => (o.spec.template.spec.containers[0].ports[0].containerPort = 1234)],
    ['a container added', (o: any) => o.spec.template.spec.containers.push({ name: 'extra', image: 'x' })],
  ])('drift by %s is applied again', (_what, edit) => {
    const r = new AppliedRecords();
    r.record('ml/fashion', 'Deployment/fashion-saver', hash, desired, answered(desired, 10));
    const live = answered(desired, 15);
    edit(live);
    expect(r.upToDate('ml/fashion', 'Deployment/fashion-saver', hash, desired, live)).toBe(false);
  });

  it('a deleted and recreated object (new uid) is applied again', () => {
    const r = new AppliedRecords();
    r.record('ml/fashion', 'Deployment/fashion-saver', hash, desired, answered(desired, 10));
    const live = answered(desired, 20);
    live.metadata.uid = 'other-uid';
    expect(r.upToDate('ml/fashion', 'Deployment/fashion-saver', hash, desired, live)).toBe(false);
  });

  it('a cache older than our apply waits for the watch (its event reconciles again)', () => {
    const r = new AppliedRecords();
    r.record('ml/fashion', 'Deployment/fashion-saver', hash, desired, answered(desired, 10));
    const stale = answered(desired, 8);
    stale.spec.replicas = 5;
    expect(r.upToDate('ml/fashion', 'Deployment/fashion-saver', hash, desired, stale)).toBe(true);
  });

  it('forget drops an object or a whole cascade', () => {
    const r = new AppliedRecords();
    for (const o of buildOwnedObjects(mc)) r.record('ml/fashion', `${o.kind}/${o.metadata!.name}`, desiredHash(o), o, answered2(o));
    expect(r.size).toBe(5);
    r.forget('ml/fashion', 'Deployment/fashion-saver');
    expect(r.size).toBe(4);
    r.forget('ml/fashion');
    expect(r.size).toBe(0);
  });
});

function answered2(o: any): any {
  const a = clone(o);
  a.metadata.uid = 'u';
  a.metadata.resourceVersion = '1';
  return a;
}

describe('project / fingerprint', () => {
  it('keeps only the fields the desired object sets; arrays keep their live length', () => {
    const shape = { a: 1, b: { c: 'x' }, l: [{ n: 'p' }] };
    const live = { a: 2, b: { c: 'x', d: 'extra' }, l: [{ n: 'p', q: 1 }, { n: 'r' }], e: 5 };
    expect(project(shape, live)).toEqual({ a: 2, b: { c: 'x' }, l: [2, { n: 'p' }] });
    expect(project(shape, {})).toEqual({ a: null, b: null, l: null });
  });

  it('equal projections have equal fingerprints, different ones differ', () => {
    const shape = { a: 1, b: { c: 'x' } };
    expect(fingerprint(shape, { a: 1, b: { c: 'x', z: 1 } })).toBe(fingerprint(shape, { a: 1, b: { c: 'x' }, y: 2 }));
    expect(fingerprint(shape, { a: 1, b: { c: 'y' } })).not.toBe(fingerprint(shape, { a: 1, b: { c: 'x' } }));
  });
});

describe('reconcileInputsChanged (the ModelCascade event predicate)', () => {
  const base = { ...clone(mc), metadata: { ...mc.metadata, resourceVersion: '5' }, status: { threshold: 0.9, saverShare: 0.5 } };
  const as = (o: unknown) => o as KubeObject;

  it('a status-only write of numbers the reconciler does not read wakes nothing', () => {
    const next = { ...clone(base), metadata: { ...base.metadata, resourceVersion: '6' }, status: { threshold: 0.9, saverShare: 0.7 } };
    expect(reconcileInputsChanged(as(base), as(next))).toBe(false);
  });

  it.each([
    ['a spec change (generation)', (o: any) => (o.metadata.generation = 2)],
    ['status.threshold (the router ConfigMap carries it)', (o: any) => (o.status.threshold = 0.85)],
    ['status.auditRate', (o: any) => (o.status.auditRate = 0.1)],
    ['a label', (o: any) => (o.metadata.labels = { team: 'a' })],
    ['an annotation', (o: any) => (o.metadata.annotations = { note: 'x' })],
    ['deletion', (o: any) => (o.metadata.deletionTimestamp = '2026-01-01T00:00:00Z')],
  ])('%s wakes the reconciler', (_what, edit) => {
    const next = clone(base) as any;
    edit(next);
    expect(reconcileInputsChanged(as(base), as(next))).toBe(true);
  });
});
