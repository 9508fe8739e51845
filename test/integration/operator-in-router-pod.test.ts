// The router container the operator builds for spec.saver.mode InRouter, started from exactly its args
// (parsed with `tinysaver route`'s flag table) with only the cluster-specific bits rewritten for this
// machine: the image path of the model, the base Service URL, the port, the mounted threshold file. Its
// kubelet probe paths must answer 200 with no saver container anywhere, and it must serve the cascade.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelCascade } from '../../operator/api/model-cascade.js';
import { buildSaverDeployment } from '../../operator/reconcile/builders/workloads.js';
import { buildRouterConfigMap, THRESHOLD_FILE_KEY } from '../../operator/reconcile/builders/router-config.js';
import { zooModelPath } from '../../models/zoo.js';
import { parseFlags } from '../../cli/flags.js';
import { ROUTE_FLAGS, routerOptionsFromFlags } from '../../cli/commands/route.js';
import { V2Client } from '../../runtime/oip/client.js';
import { startRouter, type RunningRouter } from '../../runtime/router/server.js';
import type { RunningModelServer } from '../../runtime/server/model-server.js';
import { startModelServer } from '../../runtime/server/model-server.js';
import { BASE, QUIET_LOG, imageBatch, metricsText, rawRequest, sample, testImages } from './router-helpers.js';

const IMAGE_MODEL_DIR = '/models/fashion-mnist/'; // where docker/Dockerfile.runtime bakes models/zoo

let base: RunningModelServer;
let router: RunningRouter;
let client: V2Client;
let dir: string;
let routerContainer: any;

function setFlag(args: string[], flag: string, value: string): void {
  const i = args.indexOf(flag);
  expect(i, `${flag} in the operator-built args`).toBeGreaterThan(0);
  args[i + 1] = value;
}

beforeAll(async () => {
  const mc = yaml.load(readFileSync(new URL('../../examples/modelcascade-in-router.yaml', import.meta.url), 'utf8')) as ModelCascade;
  mc.metadata = { ...mc.metadata, namespace: 'ml', uid: 'u' };
  const d = buildSaverDeployment(mc) as any;
  expect(d.spec.template.spec.containers.map((c: any) => c.name)).toEqual(['router']);
  routerContainer = d.spec.template.spec.containers[0];

  // Named like the operator's base pod (`serve-model --name base`), so --base-model stays as built.
  base = await startModelServer({ modelPath: zooModelPath(BASE), name: 'base', host: '127.0.0.1', port: 0, maxQueueDelayMs: 0 });
  dir = mkdtempSync(join(tmpdir(), 'tinysaver-inrouter-'));
  const thresholdFile = join(dir, THRESHOLD_FILE_KEY);
  writeFileSync(thresholdFile, (buildRouterConfigMap(mc) as any).data[THRESHOLD_FILE_KEY]);

  const args = [...routerContainer.args] as string[];
  const modelInImage = args[args.indexOf('--saver-onnx') + 1]!;
  expect(modelInImage.startsWith(IMAGE_MODEL_DIR)).toBe(true);
  setFlag(args, '--saver-onnx', zooModelPath(modelInImage.slice(IMAGE_MODEL_DIR.length).replace(/\.onnx$/, '')));
  setFlag(args, '--base-url', base.url);
  setFlag(args, '--port', '0');
  setFlag(args, '--host', '127.0.0.1');
  setFlag(args, '--threshold-file', thresholdFile);
  const p = parseFlags(args.slice(1), 'x', 'x', ROUTE_FLAGS);
  if (p.kind !== 'ok') throw new Error(p.kind === 'error' ? p.message : 'help');
  router = await startRouter({ ...routerOptionsFromFlags(p.values), ...QUIET_LOG });
  client = new V2Client(router.url);
}, 60_000);

afterAll(async () => {
  client?.close();
  await router?.close();
  await base?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('InRouter pod: the router container alone', () => {
  it('answers its readiness and liveness probe paths', async () => {
    for (const probe of [routerContainer.readinessProbe, routerContainer.livenessProbe]) {
      expect(probe.httpGet.port).toBe('http');
      const r = await rawRequest(router.url, 'GET', probe.httpGet.path);
      expect(r.status, probe.httpGet.path).toBe(200);
    }
  });

  it('serves the cascade under the name the Service exposes: confident rows from the in-process saver, the rest from the base', async () => {
    const meta = await rawRequest(router.url, 'GET', '/v2/models/cascade');
    expect(meta.status).toBe(200);
    expect(meta.json().parameters).toMatchObject({ tinysaver_saver_model: 'saver', tinysaver_base_model: 'base' });
    const { images } = await testImages(200);
    const res = await client.infer('cascade', imageBatch(images, 200));
    expect(res.outputs[0]!.shape).toEqual([200, 10]);
    const m = await metricsText(router.url);
    const rows = (route: string) => sample(m, 'tinysaver_rows_total', { route });
    expect(rows('saver')).toBeGreaterThan(0);
    expect(rows('base')).toBeGreaterThan(0);
    expect(rows('fallback')).toBe(0);
    expect(rows('saver') + rows('base')).toBe(200);
  });
});
