// The pods the operator builds must start: their container args are parsed here with the runtime's own
// flag tables (tinysaver route / serve-model), so a renamed or removed flag fails this test, not a rollout.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { withDefaults, type ModelCascade } from '../../operator/api/model-cascade.js';
import { buildBaseDeployment, buildSaverDeployment } from '../../operator/reconcile/builders/workloads.js';
import { parseFlags } from '../../cli/flags.js';
import { ROUTE_FLAGS, routerOptionsFromFlags } from '../../cli/commands/route.js';
import { SERVE_MODEL_FLAGS, modelServerOptionsFromFlags } from '../../cli/commands/serve-model.js';

function example(file: string): ModelCascade {
  const mc = yaml.load(readFileSync(new URL(`../../examples/${file}`, import.meta.url), 'utf8')) as ModelCascade;
  mc.metadata = { ...mc.metadata, namespace: 'ml', uid: 'u' };
  return mc;
}

function containers(d: any): Record<string, string[]> {
  return Object.fromEntries(d.spec.template.spec.containers.map((c: any) => [c.name, c.args]));
}

function parse(args: string[], defs: typeof ROUTE_FLAGS) {
  const r = parseFlags(args.slice(1), 'x', 'x', defs);
  if (r.kind !== 'ok') throw new Error(`${args[0]}: ${r.kind === 'error' ? r.message : 'help'}`);
  return r.values;
}

describe('operator-built args parse with the runtime CLI', () => {
  for (const file of [
    'modelcascade-basic.yaml',
    'modelcascade-external.yaml',
    'modelcascade-observe.yaml',
    'modelcascade-in-router.yaml',
    'modelcascade-decision-log.yaml',
  ]) {
    it(file, () => {
      const mc = example(file);
      const saverPod = containers(buildSaverDeployment(mc));
      expect(saverPod.router[0]).toBe('route');
      const routeValues = parse(saverPod.router, ROUTE_FLAGS);
      const router = routerOptionsFromFlags(routeValues);
      expect(router).toMatchObject({
        host: '0.0.0.0',
        port: 8000,
        saverModel: 'saver',
        thresholdFile: '/etc/tinysaver/router/threshold.json',
      });
      const saverSpec = withDefaults(mc.spec).saver;
      if (saverSpec.mode === 'InRouter') {
        // One container: the router runs the saver model itself (route refuses --saver-url with --saver-onnx).
        expect(Object.keys(saverPod)).toEqual(['router']);
        expect(routeValues['saver-url']).toBeUndefined();
        expect(router.saverOnnx).toMatch(/\.onnx$/);
        if (saverSpec.model.startsWith('file://')) expect(router.saverOnnx).toBe(saverSpec.model.replace(/^file:\/\//, ''));
        expect(router).toMatchObject({ maxCoalesceRows: saverSpec.maxBatchSize });
      } else {
        expect(saverPod.saver[0]).toBe('serve-model');
        const saver = modelServerOptionsFromFlags(parse(saverPod.saver, SERVE_MODEL_FLAGS));
        expect(saver).toMatchObject({ host: '127.0.0.1', port: 8001 });
        expect(router).toMatchObject({ saverUrl: 'http://127.0.0.1:8001', saverOnnx: undefined });
      }
      const base = buildBaseDeployment(mc);
      if (mc.spec.base.external) {
        expect(base).toBeNull();
        expect(router).toMatchObject({ baseUrl: mc.spec.base.external.url, baseModel: mc.spec.base.external.modelName });
      } else {
        const b = modelServerOptionsFromFlags(parse(containers(base).base, SERVE_MODEL_FLAGS));
        expect(b).toMatchObject({ host: '0.0.0.0', port: 8080 });
        expect(router).toMatchObject({ baseUrl: 'http://' + mc.metadata.name + '-base.ml.svc:8080', baseModel: 'base' });
      }
    });
  }
});
