import { describe, expect, it } from 'vitest';
import { podsToNudge, ROUTER_CONFIG_ANNOTATION, routerConfigDigest } from '../../operator/reconcile/router-nudge.js';

describe('router pod nudge after a ConfigMap change', () => {
  it('the digest follows the data, not the key order', () => {
    const a = routerConfigDigest({ 'threshold.json': '{"threshold":0.9}', other: 'x' });
    expect(routerConfigDigest({ other: 'x', 'threshold.json': '{"threshold":0.9}' })).toBe(a);
    expect(routerConfigDigest({ 'threshold.json': '{"threshold":0.91}', other: 'x' })).not.toBe(a);
    // key/value boundaries are part of the digest
    expect(routerConfigDigest({ ab: 'c' })).not.toBe(routerConfigDigest({ a: 'bc' }));
  });

  it("nudges the cascade's live router pods not yet annotated with the digest; skips others", () => {
    const d = routerConfigDigest({ 'threshold.json': '{"threshold":0.9}' });
    const labels = { 'tinysaver.io/cascade': 'fashion', 'app.kubernetes.io/component': 'saver' };
    const pods = [
      { metadata: { name: 'fresh', namespace: 'ml', labels } },
      { metadata: { name: 'old', namespace: 'ml', labels, annotations: { [ROUTER_CONFIG_ANNOTATION]: 'stale' } } },
      { metadata: { name: 'done', namespace: 'ml', labels, annotations: { [ROUTER_CONFIG_ANNOTATION]: d } } },
      { metadata: { name: 'going', namespace: 'ml', labels, deletionTimestamp: '2026-12-01T00:00:00Z' } },
      { metadata: { name: 'base', namespace: 'ml', labels: { ...labels, 'app.kubernetes.io/component': 'base' } } },
      { metadata: { name: 'other', namespace: 'ml', labels: { ...labels, 'tinysaver.io/cascade': 'other' } } },
      { metadata: { namespace: 'ml', labels } },
    ];
    expect(podsToNudge(pods, 'fashion', d)).toEqual([
      { name: 'fresh', namespace: 'ml' },
      { name: 'old', namespace: 'ml' },
    ]);
  });
});
