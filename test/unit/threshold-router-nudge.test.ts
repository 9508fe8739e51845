import { describe, expect, it } from 'vitest';
import { podsToNudge, ROUTER_CONFIG_ANNOTATION, routerConfigDigest } from '../../operator/threshold/kube.js';

describe('router pod nudge after a ConfigMap change', () => {
  it('the digest follows the data, not the key order', () => {
    const a = routerConfigDigest({ 'threshold.json': '{"threshold":0.9}', other: 'x' });
    expect(routerConfigDigest({ other: 'x', 'threshold.json': '{"threshold":0.9}' })).toBe(a);
    expect(routerConfigDigest({ 'threshold.json': '{"threshold":0.91}', other: 'x' })).not.toBe(a);
    // key/value boundaries are part of the digest
    expect(routerConfigDigest({ ab: 'c' })).not.toBe(routerConfigDigest({ a: 'bc' }));
  });

  it('nudges live pods not yet annotated with the digest; skips terminating and up-to-date ones', () => {
    const d = routerConfigDigest({ 'threshold.json': '{"threshold":0.9}' });
    const pods = [
      { metadata: { name: 'fresh', namespace: 'ml' } },
      { metadata: { name: 'old', namespace: 'ml', annotations: { [ROUTER_CONFIG_ANNOTATION]: 'stale' } } },
      { metadata: { name: 'done', namespace: 'ml', annotations: { [ROUTER_CONFIG_ANNOTATION]: d } } },
      { metadata: { name: 'going', namespace: 'ml', deletionTimestamp: '2026-12-01T00:00:00Z' } },
      { metadata: { namespace: 'ml' } },
    ];
    expect(podsToNudge(pods, d)).toEqual([
      { name: 'fresh', namespace: 'ml' },
      { name: 'old', namespace: 'ml' },
    ]);
  });
});
