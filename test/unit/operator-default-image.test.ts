// The runtime image of cascades that name none is set at install time (issue 10, defect 1): the CRD has no
// default for spec.image, the operator's --default-image fills it in, and the chart passes it from a value.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import yaml from 'js-yaml';
import { run } from '../../cli/commands/operator.js';
import { DEFAULT_IMAGE, type ModelCascade } from '../../operator/api/model-cascade.js';
import { buildOwnedObjects } from '../../operator/reconcile/builders/index.js';
import { withDefaultImage } from '../../operator/reconcile/reconciler.js';
import { findObject, renderChart } from '../support/helm.js';

afterEach(() => vi.restoreAllMocks());

function mc(image?: string): ModelCascade {
  return {
    apiVersion: 'tinysaver.io/v1alpha1',
    kind: 'ModelCascade',
    metadata: { name: 'fashion', namespace: 'ml', uid: 'uid-1', generation: 1 },
    spec: {
      ...(image ? { image } : {}),
      saver: { model: 'file:///models/saver.onnx' },
      base: { model: 'file:///models/base.onnx', gpus: 0, provider: 'cpu' },
    },
  };
}

const images = (objs: any[]) =>
  objs.filter((o) => o.kind === 'Deployment').flatMap((d) => d.spec.template.spec.containers.map((c: any) => c.image));

describe('default runtime image', () => {
  it('the CRD leaves spec.image unset when absent, so the operator can fill it in', () => {
    const crd = yaml.load(readFileSync(new URL('../../crds/modelcascade.yaml', import.meta.url), 'utf8')) as any;
    const image = crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.image;
    expect(image.default).toBeUndefined();
    expect(image.description).toMatch(/--default-image/);
  });

  it('spec.image absent: the operator default, else the built-in one; named: kept', () => {
    expect(new Set(images(buildOwnedObjects(withDefaultImage(mc(), 'localhost/tinysaver/runtime:local'))))).toEqual(
      new Set(['localhost/tinysaver/runtime:local']),
    );
    expect(new Set(images(buildOwnedObjects(withDefaultImage(mc(), undefined))))).toEqual(new Set([DEFAULT_IMAGE]));
    expect(new Set(images(buildOwnedObjects(withDefaultImage(mc('my/img:1'), 'localhost/x:1'))))).toEqual(new Set(['my/img:1']));
  });

  it('--default-image is documented and a bad value is a flag error naming it', async () => {
    const out: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
    expect(await run(['--help'])).toBe(0);
    expect(out.join('\n')).toMatch(/--default-image IMAGE[\s\S]*ghcr\.io\/tinysaver\/runtime:0\.1\.0/);
    const err: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
    expect(await run(['--default-image', 'has space'])).toBe(2);
    expect(err.join('\n')).toMatch(/--default-image: expected an image reference/);
  });

  it('the chart passes operator.defaultRuntimeImage as --default-image, and nothing when empty', async () => {
    const args = async (vals: Record<string, string>) =>
      (findObject(await renderChart(vals), 'Deployment') as any).spec.template.spec.containers[0].args as string[];
    expect((await args({})).some((a) => a.startsWith('--default-image'))).toBe(false);
    expect(await args({ 'operator.defaultRuntimeImage': 'localhost/tinysaver/runtime:local' })).toContain(
      '--default-image=localhost/tinysaver/runtime:local',
    );
  });
});
