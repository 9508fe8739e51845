// Deployments: <name>-saver (saver model server + router sidecar; with spec.saver.mode InRouter the router
// alone, running the saver model in-process) and <name>-base (GPU model server).
import type {
  V1Container,
  V1Deployment,
  V1DeploymentSpec,
  V1PodSpec,
  V1PodTemplateSpec,
  V1Probe,
  V1ResourceRequirements,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import { withDefaults, type DefaultedSpec, type ModelCascade, type Resources } from '../../api/model-cascade.js';
import { CONFIG_HASH_ANNOTATION, objectLabels, objectMeta, names, selectorLabels } from './labels.js';
import { modelSource } from './model-source.js';
import { ROUTER_CONFIG_DIR, THRESHOLD_FILE_KEY } from './router-config.js';
import { containerSecurityContext, podSecurityContext, TMP_MOUNT, TMP_VOLUME } from './security.js';
import { configHash } from './config-hash.js';
import { combinedResources } from './combined-resources.js';
import { ROUTER_GRPC_PORT, MODEL_SERVER_GRPC_PORT as BASE_GRPC_PORT } from '../../../runtime/oip/ports.js';

export const ROUTER_PORT = 8000;
export const SAVER_PORT = 8001;
export const BASE_PORT = 8080;
/** gRPC v2 ports (the runtime's defaults): router and in-cluster base. */
export { ROUTER_GRPC_PORT, MODEL_SERVER_GRPC_PORT as BASE_GRPC_PORT } from '../../../runtime/oip/ports.js';
/**
 * Rolling updates and scale-downs lose no request. A terminating pod leaves the Service's endpoints at
 * once, but kube-proxy applies that on each node a moment later (an iptables sync, about a second; more on
 * a busy node), so new connections may still reach it: preStop waits that out while the container keeps
 * serving, then SIGTERM starts the drain (every request read is answered, with `Connection: close`). The
 * saver sidecar outlives the router's drain (at most 10 s, runtime/router/server.ts), since the router in
 * its pod keeps calling it until then. preStop `sleep` needs Kubernetes >= 1.30 (beta, on by default).
 */
export const PRESTOP_ENDPOINT_DELAY_S = 5;
const ROUTER_DRAIN_S = 10;
const preStop = (seconds: number): V1Container['lifecycle'] => ({ preStop: { sleep: { seconds } } });
const ROUTER_CONFIG_VOLUME = 'router-config';
const DECISION_LOG_VOLUME = 'decision-log';
export const DECISION_LOG_DIR = '/var/log/tinysaver';
export const DECISION_LOG_FILE = `${DECISION_LOG_DIR}/decisions.jsonl`;

/**
 * Router arguments, volume and mount of spec.router.decisionLog (none when absent). The sample rate is not
 * here: it travels in the threshold file (hot reload). Model identities: the pinned sha256 when the spec has
 * one, else the model URI (an in-process saver is hashed by the router itself when no --saver-id is given).
 */
export function decisionLogParts(
  mc: ModelCascade,
  s: DefaultedSpec = withDefaults(mc.spec),
): { args: string[]; volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const d = s.router.decisionLog;
  if (!d) return { args: [], volumes: [], mounts: [] };
  const base = baseEndpoint(mc, s);
  const id = (sha: string | undefined, uri: string | undefined, fallback: string) =>
    sha ? `sha256:${sha.toLowerCase()}` : (uri ?? fallback);
  const args = [
    '--decision-log',
    d.sink === 'file' ? DECISION_LOG_FILE : '-',
    '--decision-inputs',
    d.includeInputs,
    '--saver-id',
    id(s.saver.modelSha256, s.saver.model, 'saver'),
    '--base-id',
    id(s.base.modelSha256, s.base.model, `${base.url}/v2/models/${base.model}`),
  ];
  if (d.sink !== 'file') return { args, volumes: [], mounts: [] };
  args.push('--decision-log-max-file-mib', String(d.maxFileMiB), '--decision-log-max-total-mib', String(d.maxTotalMiB));
  return {
    args,
    // room for the capped files plus the one being filled when it rotates
    volumes: [{ name: DECISION_LOG_VOLUME, emptyDir: { sizeLimit: `${d.maxTotalMiB + d.maxFileMiB}Mi` } }],
    mounts: [{ name: DECISION_LOG_VOLUME, mountPath: DECISION_LOG_DIR }],
  };
}

/** Quantities as the strings Kubernetes stores them as (the CRD also admits plain numbers). */
function quantities(q: Record<string, string | number>): Record<string, string> {
  return Object.fromEntries(Object.entries(q).map(([k, v]) => [k, String(v)]));
}

function resources(r: Resources, extraLimits: Record<string, string | number> = {}): V1ResourceRequirements {
  const out: V1ResourceRequirements = {};
  if (r.requests && Object.keys(r.requests).length) out.requests = quantities(r.requests);
  const limits = { ...(r.limits ?? {}), ...extraLimits };
  if (Object.keys(limits).length) out.limits = quantities(limits);
  return out;
}

function httpProbe(path: string, port: string, periodSeconds: number, failureThreshold: number): V1Probe {
  return { httpGet: { path, port }, periodSeconds, failureThreshold, timeoutSeconds: 2 };
}

/** URL, model name and protocol the router sends escalated and audited rows with. */
export function baseEndpoint(
  mc: ModelCascade,
  s: DefaultedSpec = withDefaults(mc.spec),
): { url: string; model: string; protocol: 'http' | 'grpc' } {
  const base = s.base;
  if (base.external) {
    const url = base.external.url.replace(/\/+$/, '');
    // gRPC: the router dials host:port (grpc://host:port), whatever scheme the URL was written with
    if (base.external.protocol === 'grpc')
      return { url: url.replace(/^[a-z]+:\/\//, 'grpc://'), model: base.external.modelName, protocol: 'grpc' };
    return { url, model: base.external.modelName, protocol: 'http' };
  }
  return { url: `http://${names.baseService(mc)}.${mc.metadata.namespace ?? 'default'}.svc:${BASE_PORT}`, model: 'base', protocol: 'http' };
}

function podTemplate(mc: ModelCascade, component: 'saver' | 'base', spec: V1PodSpec): V1PodTemplateSpec {
  return {
    metadata: {
      labels: objectLabels(mc, component),
      annotations:
        component === 'saver'
          ? { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(ROUTER_PORT), 'prometheus.io/path': '/metrics' }
          : { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(BASE_PORT), 'prometheus.io/path': '/metrics' },
    },
    spec,
  };
}

/** Sets the config-hash annotation over the finished template (the annotation itself excluded). */
function withConfigHash(template: V1PodTemplateSpec): V1PodTemplateSpec {
  const hash = configHash(template, {});
  const meta = (template.metadata ??= {});
  meta.annotations = { ...meta.annotations, [CONFIG_HASH_ANNOTATION]: hash };
  return template;
}

function deployment(
  mc: ModelCascade,
  name: string,
  component: 'saver' | 'base',
  replicas: number | undefined,
  template: V1PodTemplateSpec,
): V1Deployment {
  const spec: V1DeploymentSpec = {
    selector: { matchLabels: selectorLabels(mc, component) },
    revisionHistoryLimit: 3,
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
    template: withConfigHash(template),
  };
  // With an HPA the replica count belongs to the HPA; leaving it out of the apply keeps the two from fighting.
  if (replicas !== undefined) spec.replicas = replicas;
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: objectMeta(mc, name, component), spec };
}

export function buildSaverDeployment(mc: ModelCascade, s: DefaultedSpec = withDefaults(mc.spec)): V1Deployment {
  const csc = containerSecurityContext();
  const model = modelSource(s.saver.model, 'saver', {
    image: s.saver.image,
    imagePullPolicy: s.imagePullPolicy,
    securityContext: csc,
    sha256: s.saver.modelSha256,
  });
  const base = baseEndpoint(mc, s);
  const inRouter = s.saver.mode === 'InRouter';
  const decisionLog = decisionLogParts(mc, s);
  const saver: V1Container = {
    name: 'saver',
    image: s.saver.image,
    imagePullPolicy: s.imagePullPolicy,
    args: [
      'serve-model',
      '--model',
      model.path,
      '--name',
      'saver',
      '--host',
      '127.0.0.1',
      '--port',
      String(SAVER_PORT),
      '--max-batch-size',
      String(s.saver.maxBatchSize),
      '--max-queue-delay-ms',
      String(s.saver.maxQueueDelayMs),
      // A saver run is shorter than a hand-off to a worker thread and back (~0.1 ms plus a wake-up);
      // measured: routed p50 ~0.1 ms lower with the saver on the main thread (bench/router.ts).
      '--inference-thread',
      'main',
    ],
    // The saver listens on 127.0.0.1 only (the router is its one client), so kubelet probes cannot reach it;
    // the router's readiness covers it.
    lifecycle: preStop(PRESTOP_ENDPOINT_DELAY_S + ROUTER_DRAIN_S),
    resources: resources(s.saver.resources),
    securityContext: csc,
    // a crash's last log lines become the termination message: Degraded quotes them
    terminationMessagePolicy: 'FallbackToLogsOnError',
    volumeMounts: [...model.mounts, TMP_MOUNT],
  };
  // InRouter: the router loads the saver model itself and merges concurrent requests into saver calls of at
  // most maxBatchSize rows (its coalescing replaces the model server's batching, so maxQueueDelayMs is unused).
  const saverArgs = inRouter
    ? ['--saver-onnx', model.path, '--saver-model', 'saver', '--max-coalesce-rows', String(s.saver.maxBatchSize)]
    : ['--saver-url', `http://127.0.0.1:${SAVER_PORT}`, '--saver-model', 'saver'];
  const router: V1Container = {
    name: 'router',
    image: s.saver.image,
    imagePullPolicy: s.imagePullPolicy,
    // --audit-rate is left to the threshold file (it overrides the flag) so changing it needs no restart.
    args: [
      'route',
      '--host',
      '0.0.0.0',
      '--port',
      String(ROUTER_PORT),
      '--name',
      'cascade',
      ...saverArgs,
      '--base-url',
      base.url,
      '--base-model',
      base.model,
      ...(base.protocol === 'grpc' ? ['--base-protocol', 'grpc'] : []),
      '--threshold-file',
      `${ROUTER_CONFIG_DIR}/${THRESHOLD_FILE_KEY}`,
      '--confidence',
      s.router.confidence,
      '--audit-concurrency',
      String(s.router.auditConcurrency),
      '--failure-policy',
      s.router.failurePolicy,
      '--base-timeout-ms',
      String(s.router.baseTimeoutMs),
      '--grpc-port',
      String(ROUTER_GRPC_PORT),
      ...decisionLog.args,
    ],
    ports: [
      { name: 'http', containerPort: ROUTER_PORT, protocol: 'TCP' },
      { name: 'grpc', containerPort: ROUTER_GRPC_PORT, protocol: 'TCP' },
    ],
    readinessProbe: httpProbe('/v2/health/ready', 'http', 5, 3),
    livenessProbe: httpProbe('/v2/health/live', 'http', 10, 6),
    lifecycle: preStop(PRESTOP_ENDPOINT_DELAY_S),
    // InRouter: this container does the saver's work too, so it gets both resource figures added up.
    resources: resources(inRouter ? combinedResources(s.router.resources, s.saver.resources) : s.router.resources),
    securityContext: csc,
    // a crash's last log lines become the termination message: Degraded quotes them
    terminationMessagePolicy: 'FallbackToLogsOnError',
    volumeMounts: [
      { name: ROUTER_CONFIG_VOLUME, mountPath: ROUTER_CONFIG_DIR, readOnly: true },
      ...(inRouter ? model.mounts : []),
      TMP_MOUNT,
      ...decisionLog.mounts,
    ],
  };
  const podSpec: V1PodSpec = {
    automountServiceAccountToken: false,
    securityContext: podSecurityContext(),
    initContainers: model.initContainers.length ? model.initContainers : undefined,
    containers: inRouter ? [router] : [saver, router],
    volumes: [
      { name: ROUTER_CONFIG_VOLUME, configMap: { name: names.routerConfig(mc) } },
      TMP_VOLUME,
      ...model.volumes,
      ...decisionLog.volumes,
    ],
  };
  if (s.serviceAccountName) podSpec.serviceAccountName = s.serviceAccountName;
  const replicas = s.autoscaling.saver ? undefined : s.saver.replicas;
  return deployment(mc, names.saver(mc), 'saver', replicas, podTemplate(mc, 'saver', podSpec));
}

/** null when the base is external (no in-cluster base). */
export function buildBaseDeployment(mc: ModelCascade, s: DefaultedSpec = withDefaults(mc.spec)): V1Deployment | null {
  if (s.base.external || !s.base.model) return null;
  const csc = containerSecurityContext();
  const model = modelSource(s.base.model, 'base', {
    image: s.base.image,
    imagePullPolicy: s.imagePullPolicy,
    securityContext: csc,
    sha256: s.base.modelSha256,
  });
  const gpuLimits: Record<string, number> = s.base.gpus > 0 ? { 'nvidia.com/gpu': s.base.gpus } : {};
  const base: V1Container = {
    name: 'base',
    image: s.base.image,
    imagePullPolicy: s.imagePullPolicy,
    args: [
      'serve-model',
      '--model',
      model.path,
      '--name',
      'base',
      '--host',
      '0.0.0.0',
      '--port',
      String(BASE_PORT),
      '--provider',
      s.base.provider,
      '--max-batch-size',
      String(s.base.maxBatchSize),
      '--max-queue-delay-ms',
      String(s.base.maxQueueDelayMs),
      '--grpc-port',
      String(BASE_GRPC_PORT),
    ],
    ports: [
      { name: 'http', containerPort: BASE_PORT, protocol: 'TCP' },
      { name: 'grpc', containerPort: BASE_GRPC_PORT, protocol: 'TCP' },
    ],
    // Large models take a while to load onto the GPU; the startup probe gives them up to 10 minutes.
    startupProbe: httpProbe('/v2/health/ready', 'http', 5, 120),
    readinessProbe: httpProbe('/v2/health/ready', 'http', 5, 3),
    livenessProbe: httpProbe('/v2/health/live', 'http', 10, 6),
    lifecycle: preStop(PRESTOP_ENDPOINT_DELAY_S),
    resources: resources(s.base.resources, gpuLimits),
    securityContext: csc,
    // a crash's last log lines become the termination message: Degraded quotes them
    terminationMessagePolicy: 'FallbackToLogsOnError',
    volumeMounts: [...model.mounts, TMP_MOUNT],
  };
  const podSpec: V1PodSpec = {
    automountServiceAccountToken: false,
    securityContext: podSecurityContext(),
    initContainers: model.initContainers.length ? model.initContainers : undefined,
    containers: [base],
    volumes: [TMP_VOLUME, ...model.volumes],
    tolerations: s.base.gpus > 0 ? [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }] : undefined,
  };
  if (s.serviceAccountName) podSpec.serviceAccountName = s.serviceAccountName;
  const replicas = s.autoscaling.base ? undefined : s.base.replicas;
  return deployment(mc, names.base(mc), 'base', replicas, podTemplate(mc, 'base', podSpec));
}
