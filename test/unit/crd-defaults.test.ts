// One source of defaults: every `default:` in crds/modelcascade.yaml equals what withDefaults() fills in,
// and every value withDefaults() invents (not derived from another field) is a CRD default.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { withDefaults, type ModelCascadeSpec } from '../../operator/api/model-cascade.js';

const crd = yaml.load(readFileSync(new URL('../../crds/modelcascade.yaml', import.meta.url), 'utf8')) as any;
const specSchema = crd.spec.versions.find((v: any) => v.name === 'v1alpha1').schema.openAPIV3Schema.properties.spec;

interface CrdDefault {
  path: string[];
  value: unknown;
}

function collect(schema: any, path: string[], out: CrdDefault[]): void {
  if (!schema || typeof schema !== 'object') return;
  if ('default' in schema) out.push({ path, value: schema.default });
  for (const [k, sub] of Object.entries<any>(schema.properties ?? {})) collect(sub, [...path, k], out);
}

const defaults: CrdDefault[] = [];
collect(specSchema, [], defaults);

/** The smallest spec the CRD accepts, with both autoscalers present so their item defaults apply too. */
const minimal: ModelCascadeSpec = {
  saver: { model: '/models/saver.onnx' },
  base: { model: 'pvc://models/base.onnx' },
  autoscaling: { saver: { maxReplicas: 3 }, base: { maxReplicas: 2 } },
};

/** Defaults inside base.external apply when an external base is given (it excludes base.model). */
const minimalExternal: ModelCascadeSpec = { ...minimal, base: { external: { url: 'http://triton.x.svc:8000', modelName: 'm' } } };
/** Defaults inside router.decisionLog apply when the log is asked for (absent: no log, no defaults). */
const minimalLogged: ModelCascadeSpec = { ...minimal, router: { decisionLog: {} } };
const specFor = (path: string[]) =>
  path[0] === 'base' && path[1] === 'external'
    ? minimalExternal
    : path[0] === 'router' && path[1] === 'decisionLog'
      ? minimalLogged
      : minimal;

const at = (obj: any, path: string[]) => path.reduce((o, k) => (o == null ? undefined : o[k]), obj);

/**
 * Fields withDefaults() derives from other fields (not constants, so no CRD default), and spec.image, which
 * the CRD leaves unset on purpose: the operator fills it in from --default-image (chart value
 * operator.defaultRuntimeImage), ghcr.io/tinysaver/runtime:<version> when that is not set.
 */
const DERIVED = new Set(['saver.image', 'base.image', 'image', 'health.maxFallbackShare']);

function leaves(obj: any, path: string[] = [], out: string[][] = []): string[][] {
  if (obj !== null && typeof obj === 'object' && !Array.isArray(obj) && Object.keys(obj).length) {
    for (const [k, v] of Object.entries(obj)) leaves(v, [...path, k], out);
  } else if (obj !== undefined) out.push(path);
  return out;
}

describe('CRD defaults and withDefaults()', () => {
  it('the CRD declares defaults (the walk found them)', () => {
    expect(defaults.length).toBeGreaterThan(25);
  });

  it.each(defaults.map((d) => [d.path.join('.'), d] as const))('spec.%s: withDefaults() fills in the CRD default', (_name, d) => {
    const filled = withDefaults(specFor(d.path));
    if (d.value !== null && typeof d.value === 'object') {
      // An object default (e.g. threshold: {initial: 0.9, ...}): the object exists, and each field it sets
      // is what withDefaults() gives that field.
      expect(typeof at(filled, d.path)).toBe('object');
      for (const [k, v] of Object.entries(d.value as object)) expect(at(filled, [...d.path, k]), `${d.path.join('.')}.${k}`).toEqual(v);
    } else {
      expect(at(filled, d.path)).toEqual(d.value);
    }
  });

  it('every constant withDefaults() fills in is a CRD default', () => {
    const filled = withDefaults(minimal);
    const crdPaths = new Set(defaults.map((d) => d.path.join('.')));
    for (const d of defaults)
      if (d.value !== null && typeof d.value === 'object')
        for (const k of Object.keys(d.value as object)) crdPaths.add([...d.path, k].join('.'));
    const invented = leaves(filled)
      .filter((p) => at(minimal, p) === undefined)
      .map((p) => p.join('.'))
      // empty resource maps mean "none set": the CRD has no default there
      .filter((p) => !p.endsWith('.resources'));
    const missing = invented.filter((p) => !crdPaths.has(p) && !DERIVED.has(p));
    expect(missing).toEqual([]);
  });

  it('set values win over defaults', () => {
    const filled = withDefaults({
      ...minimal,
      control: { interval: '5s' },
      autoscaling: { saver: { maxReplicas: 3, targetCPUUtilization: 50 } },
    });
    expect(filled.control.interval).toBe('5s');
    expect(filled.control.window).toBe('10m');
    expect(filled.autoscaling.saver?.targetCPUUtilization).toBe(50);
    expect(filled.autoscaling.base).toBeUndefined();
  });
});

describe('defaults mirrored outside withDefaults()', () => {
  it("the router's own defaults for the spec.router fields equal withDefaults() (runtime/ cannot import it)", async () => {
    const { ROUTER_DEFAULTS } = await import('../../runtime/router/options.js');
    const r = withDefaults(minimal).router;
    expect({
      auditRate: ROUTER_DEFAULTS.auditRate,
      auditConcurrency: ROUTER_DEFAULTS.auditConcurrency,
      confidence: ROUTER_DEFAULTS.confidence,
      failurePolicy: ROUTER_DEFAULTS.failurePolicy,
      baseTimeoutMs: ROUTER_DEFAULTS.baseTimeoutMs,
    }).toEqual({
      auditRate: r.auditRate,
      auditConcurrency: r.auditConcurrency,
      confidence: r.confidence,
      failurePolicy: r.failurePolicy,
      baseTimeoutMs: r.baseTimeoutMs,
    });
  });

  it('`tinysaver route` and `tinysaver up` take --audit-rate from withDefaults()', async () => {
    const { ROUTE_FLAGS } = await import('../../cli/commands/route.js');
    const { UP_FLAGS } = await import('../../cli/commands/up.js');
    expect(ROUTE_FLAGS['audit-rate']!.default).toBe(withDefaults(minimal).router.auditRate);
    expect(UP_FLAGS['audit-rate']!.default).toBe(withDefaults(minimal).router.auditRate);
  });

  it('the threshold controller falls back to the CRD defaults for durations that do not parse', async () => {
    const { controlSettings, parseDuration } = await import('../../operator/threshold/spec.js');
    const out = controlSettings({
      apiVersion: 'tinysaver.io/v1alpha1',
      kind: 'ModelCascade',
      metadata: { name: 'x', namespace: 'ns' },
      spec: { ...minimal, control: { interval: 'soon' } },
    });
    expect(out.errors.join(' ')).toContain('spec.control.interval');
    // the default itself parses (the fallback is never NaN)
    expect(parseDuration(withDefaults(minimal).control.interval)).toBe(30_000);
  });
});
