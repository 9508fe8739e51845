// ModelCascade (tinysaver.io/v1alpha1) as TypeScript types, mirroring crds/modelcascade.yaml. The apiserver
// applies the CRD defaults; withDefaults() applies the same ones so builders also work on objects that did
// not pass through an apiserver (unit tests, dry runs, `tinysaver up`).
//
// withDefaults() is the one place in code that knows a default: builders, router config and the threshold
// controller read the defaulted spec, computed once per event (reconcile / controller upsert).
// test/unit/crd-defaults.test.ts checks every `default:` in crds/modelcascade.yaml against it.

import type { RoutersStatus } from '../telemetry/router-health.js';

export const GROUP = 'tinysaver.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'ModelCascade';
export const PLURAL = 'modelcascades';
/** Runtime image of cascades that name none (spec.image absent) when the operator has no --default-image. */
export const DEFAULT_IMAGE = 'ghcr.io/tinysaver/runtime:0.1.0';

export type Quantity = string | number;
export interface Resources {
  requests?: Record<string, Quantity>;
  limits?: Record<string, Quantity>;
}

/** spec.saver.mode: how the saver runs (crds/modelcascade.yaml documents the trade-off). */
export type SaverMode = 'Sidecar' | 'InRouter';
/** spec.base.external.protocol */
export type BaseProtocol = 'http' | 'grpc';
export const SAVER_MODES: readonly SaverMode[] = ['Sidecar', 'InRouter'];

/** spec.router.decisionLog (crds/modelcascade.yaml documents each field). */
export interface DecisionLogSpec {
  sampleRate?: number;
  includeInputs?: 'none' | 'hash' | 'tensor';
  sink?: 'stdout' | 'file';
  maxFileMiB?: number;
  maxTotalMiB?: number;
}

/** CRD defaults of spec.router.decisionLog's fields (the object itself has none: absent means no log). */
export function decisionLogDefaults(d: DecisionLogSpec | undefined): Required<DecisionLogSpec> | undefined {
  if (!d) return undefined;
  return {
    sampleRate: d.sampleRate ?? 0,
    includeInputs: d.includeInputs ?? 'none',
    sink: d.sink ?? 'stdout',
    maxFileMiB: d.maxFileMiB ?? 64,
    maxTotalMiB: d.maxTotalMiB ?? 512,
  };
}

export interface AutoscalingTarget {
  minReplicas?: number;
  maxReplicas: number;
  targetCPUUtilization?: number;
}

export interface ModelCascadeSpec {
  image?: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  serviceAccountName?: string;
  saver: {
    /** InRouter (default): the router runs the saver ONNX model in-process. Sidecar: saver model-server container next to the router. */
    mode?: SaverMode;
    model: string;
    modelSha256?: string;
    image?: string;
    replicas?: number;
    maxBatchSize?: number;
    maxQueueDelayMs?: number;
    resources?: Resources;
  };
  base: {
    model?: string;
    modelSha256?: string;
    /** protocol: how the router calls it (http: v2 REST with binary tensors; grpc: GRPCInferenceService at url's host:port) */
    external?: { url: string; modelName: string; protocol?: BaseProtocol };
    image?: string;
    replicas?: number;
    provider?: 'cuda' | 'cpu';
    gpus?: number;
    maxBatchSize?: number;
    maxQueueDelayMs?: number;
    resources?: Resources;
  };
  router?: {
    confidence?: 'max-prob' | 'margin';
    auditRate?: number;
    auditConcurrency?: number;
    failurePolicy?: 'fallback' | 'error';
    baseTimeoutMs?: number;
    resources?: Resources;
    /** router decision log (JSON Lines); absent: no log */
    decisionLog?: DecisionLogSpec;
  };
  threshold?: { initial?: number; min?: number; max?: number; mode?: 'fixed' | 'adaptive' | 'observe'; calibration?: ThresholdCalibration };
  budget?: { maxAccuracyLoss?: number; confidence?: number };
  control?: {
    interval?: string;
    window?: string;
    maxStep?: number;
    minAudits?: number;
    maxAuditRate?: number;
    maxWindow?: string;
    falseAlarmRate?: number;
  };
  autoscaling?: { saver?: AutoscalingTarget; base?: AutoscalingTarget };
  /** when the routers' view makes the cascade Degraded (crds/modelcascade.yaml documents each field) */
  health?: HealthSpec;
  /** optional prices and capacities: the threshold controller reports live savings (operator/cost) */
  cost?: CostSpec;
}

/** spec.cost: one pod's capacity and price per Deployment (no defaults: the prices are the user's). */
export interface CostSpec {
  currency?: string;
  saver: { rowsPerSecond: number; pricePerHour: number };
  base: { rowsPerSecond: number; pricePerHour: number };
}

/** spec.health: the routers' view of the base in the Degraded condition (operator/telemetry/router-health.ts). */
export interface HealthSpec {
  /** span of the fallback share and base failure counts (Go duration; at least one control interval) */
  window?: string;
  /** Degraded (FallbackServing) above this share of rows answered by fallback; default spec.budget.maxAccuracyLoss */
  maxFallbackShare?: number;
  /** rows the window needs before the fallback share is judged */
  minRows?: number;
}

/** status.savings, written by the threshold controller when spec.cost is set (operator/cost/savings.ts). */
export interface SavingsStatus {
  windowSeconds: number;
  rows: number;
  baseRowsAvoided: number;
  baseReplicaSecondsAvoided: number;
  baseCostAvoidedPerHour: number;
  saverCostPerHour: number;
  costSavedPerHour: number;
  currency?: string;
}

/**
 * Offline certification evidence for the threshold controller's warm start (spec.threshold.calibration):
 * per bucket of the shared confidence grid (CONFIDENCE_BUCKETS, plus the +Inf bucket), the calibration
 * rows and the rows where saver and base disagreed. `tinysaver simulate` computes them.
 */
export interface ThresholdCalibration {
  rows: number[];
  disagreements: number[];
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

export interface ThresholdChange {
  from?: number;
  to?: number;
  reason?: string;
  time?: string;
}

export interface ModelCascadeStatus {
  observedGeneration?: number;
  threshold?: number;
  recommendedThreshold?: number;
  lossBound?: number;
  saverShare?: number;
  /** audit rate set by the threshold controller (mode adaptive) */
  auditRate?: number;
  auditsInWindow?: number;
  window?: string;
  savings?: SavingsStatus;
  /** the routers' view: fallback share, base state, thresholds in use (threshold controller) */
  routers?: RoutersStatus;
  lastChange?: ThresholdChange;
  history?: ThresholdChange[];
  conditions?: Condition[];
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  ownerReferences?: OwnerReference[];
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ModelCascade {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: ModelCascadeSpec;
  status?: ModelCascadeStatus;
}

/** Fully defaulted spec: every optional field the builders read is filled in. */
export type DefaultedSpec = ReturnType<typeof withDefaults>;

export function withDefaults(spec: ModelCascadeSpec) {
  const image = spec.image ?? DEFAULT_IMAGE;
  const budget = {
    maxAccuracyLoss: spec.budget?.maxAccuracyLoss ?? 0.01,
    confidence: spec.budget?.confidence ?? 0.95,
  };
  return {
    image,
    imagePullPolicy: spec.imagePullPolicy ?? 'IfNotPresent',
    serviceAccountName: spec.serviceAccountName,
    saver: {
      mode: spec.saver.mode ?? 'InRouter',
      model: spec.saver.model,
      modelSha256: spec.saver.modelSha256,
      image: spec.saver.image ?? image,
      replicas: spec.saver.replicas ?? 1,
      maxBatchSize: spec.saver.maxBatchSize ?? 32,
      maxQueueDelayMs: spec.saver.maxQueueDelayMs ?? 2,
      resources: spec.saver.resources ?? {},
    },
    base: {
      model: spec.base.model,
      modelSha256: spec.base.modelSha256,
      external: spec.base.external && { ...spec.base.external, protocol: spec.base.external.protocol ?? 'http' },
      image: spec.base.image ?? image,
      replicas: spec.base.replicas ?? 1,
      provider: spec.base.provider ?? 'cuda',
      gpus: spec.base.gpus ?? 1,
      maxBatchSize: spec.base.maxBatchSize ?? 64,
      maxQueueDelayMs: spec.base.maxQueueDelayMs ?? 5,
      resources: spec.base.resources ?? {},
    },
    router: {
      confidence: spec.router?.confidence ?? 'max-prob',
      auditRate: spec.router?.auditRate ?? 0.02,
      auditConcurrency: spec.router?.auditConcurrency ?? 4,
      failurePolicy: spec.router?.failurePolicy ?? 'fallback',
      baseTimeoutMs: spec.router?.baseTimeoutMs ?? 2000,
      resources: spec.router?.resources ?? {},
      decisionLog: decisionLogDefaults(spec.router?.decisionLog),
    },
    threshold: {
      initial: spec.threshold?.initial ?? 0.9,
      min: spec.threshold?.min ?? 0.5,
      max: spec.threshold?.max ?? 1,
      mode: spec.threshold?.mode ?? 'adaptive',
    },
    budget,
    control: {
      interval: spec.control?.interval ?? '30s',
      window: spec.control?.window ?? '10m',
      maxStep: spec.control?.maxStep ?? 0.02,
      minAudits: spec.control?.minAudits ?? 200,
      maxAuditRate: spec.control?.maxAuditRate ?? 0.25,
      maxWindow: spec.control?.maxWindow ?? '1h',
      falseAlarmRate: spec.control?.falseAlarmRate ?? 0.01,
    },
    health: {
      // 1m: two scrapes at the default 30 s interval, so Degraded follows an outage within one interval
      // and clears within a minute of the recovery
      window: spec.health?.window ?? '1m',
      // Each fallback row is a saver answer below the certified threshold: once they are more than the
      // accuracy-loss budget of all rows, they alone can break the budget, whatever the controller certifies.
      maxFallbackShare: spec.health?.maxFallbackShare ?? budget.maxAccuracyLoss,
      // one stray fallback row among fewer rows would already pass a 1% limit
      minRows: spec.health?.minRows ?? 100,
    },
    autoscaling: {
      saver: autoscalingDefaults(spec.autoscaling?.saver),
      base: autoscalingDefaults(spec.autoscaling?.base),
    },
  };
}

/**
 * The defaults of a spec that sets nothing optional: the one place code outside a reconcile reads a default
 * from (a fallback for a field that does not parse, a CLI flag that mirrors a spec field).
 */
export const SPEC_DEFAULTS: DefaultedSpec = withDefaults({ saver: { model: '' }, base: {} });

function autoscalingDefaults(t: AutoscalingTarget | undefined): Required<AutoscalingTarget> | undefined {
  if (!t) return undefined;
  return { minReplicas: t.minReplicas ?? 1, maxReplicas: t.maxReplicas, targetCPUUtilization: t.targetCPUUtilization ?? 70 };
}
