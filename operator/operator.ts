// The operator process: leader election; while leading, informers feed a work queue that runs the
// reconciler; an HTTP server for /metrics, /healthz, /readyz; graceful shutdown.
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { API_VERSION, PLURAL, type ModelCascade, withDefaults } from './api/model-cascade.js';
import { KubeClient, resourcePath } from './kube/client.js';
import { Informer, objectKey, type KubeObject } from './kube/informer.js';
import { LeaderElector } from './kube/leader.js';
import { WorkQueue } from './kube/workqueue.js';
import { OWNED_KINDS } from './reconcile/builders/index.js';
import { CASCADE_LABEL } from './reconcile/builders/labels.js';
import { EventRecorder } from './reconcile/events.js';
import { Reconciler, cascadeIndex, controllerKey } from './reconcile/reconciler.js';
import type { PodLike } from './telemetry/scrape.js';
import { createOperatorMetrics, type OperatorMetrics } from './metrics.js';
import { startOperatorHttp } from './http-server.js';
import type { ClusterAccess } from './kube/kubeconfig.js';
import { ThresholdController } from './threshold/controller.js';
import { routersVerdict } from './telemetry/router-health.js';
import { kubeControllerIO } from './threshold/kube.js';

export interface OperatorOptions {
  /** cluster access (kubeconfig.ts); the operator's client takes its credentials from it per request */
  cluster: ClusterAccess;
  /** Namespace to watch; undefined watches all namespaces. */
  watchNamespace?: string;
  identity: string;
  leaseNamespace: string;
  leaseName: string;
  leaseDurationSeconds: number;
  retryPeriodMs: number;
  workers: number;
  httpHost: string;
  httpPort: number;
  /** Image for cascades that name none (spec.image absent); ghcr.io/tinysaver/runtime:<version> when unset. */
  defaultImage?: string;
  /** Every key is re-reconciled this often even without events (drift repair). */
  resyncMs: number;
  log: (level: 'info' | 'warn' | 'error', msg: string, extra?: object) => void;
  /** threshold controller settings that are operator-wide (CLI flags), not per cascade */
  threshold?: {
    /** read router telemetry from this Prometheus server instead of scraping the router pods */
    prometheusUrl?: string;
    /** cap on every cascade's audit rate (spec.control.maxAuditRate is the per-cascade ceiling) */
    maxAuditRate?: number;
    /** strata of the certification bound */
    strata?: number;
  };
}

export class Operator {
  readonly metrics: OperatorMetrics;
  readonly client: KubeClient;
  /** drift-adaptive threshold controller (issue 5): runs only while this replica leads */
  readonly threshold: ThresholdController;
  private server?: http.Server;
  private elector?: LeaderElector;
  private electionAbort = new AbortController();
  private electionLoop?: Promise<void>;
  private controllers?: {
    abort: AbortController;
    queue: WorkQueue;
    thresholdQueue: WorkQueue;
    informers: Informer<KubeObject>[];
    resync: NodeJS.Timeout;
  };
  /** the ModelCascade informer's cache while controllers run (the threshold controller reads it) */
  private cascadeCache?: Informer<ModelCascade & KubeObject>;
  /** the cascades' pods while controllers run, indexed by "namespace/cascade" (the threshold controller reads it) */
  private podCache?: Informer<KubeObject>;
  private controllerTransition: Promise<void> = Promise.resolve();
  private started = false;
  /** Lets stop() interrupt a startControllers() still waiting for caches to sync. */
  private pendingAbort?: AbortController;

  constructor(private readonly opts: OperatorOptions) {
    this.metrics = createOperatorMetrics();
    this.client = new KubeClient(opts.cluster);
    const thresholdEvents = new EventRecorder(this.client, opts.identity, (msg, extra) => opts.log('warn', msg, extra));
    this.threshold = new ThresholdController({
      // router pods from the operator's pod informer while it runs (no pod list per cycle)
      io: kubeControllerIO(this.client, thresholdEvents, (mc) =>
        this.podCache?.hasSynced ? (this.podCache.byIndex(objectKey(mc)) as unknown as PodLike[]) : undefined,
      ),
      get: (key) => this.cascadeCache?.get(key),
      registry: this.metrics.registry,
      log: (line) => opts.log('info', line),
      ...(opts.threshold?.prometheusUrl ? { prometheus: { url: opts.threshold.prometheusUrl } } : {}),
      ...(opts.threshold?.maxAuditRate !== undefined ? { maxAuditRate: opts.threshold.maxAuditRate } : {}),
      ...(opts.threshold?.strata !== undefined ? { policyDefaults: { strata: opts.threshold.strata } } : {}),
    });
  }

  get isLeader(): boolean {
    return this.elector?.isLeader ?? false;
  }

  get httpPort(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(): Promise<void> {
    this.server = await startOperatorHttp(this.opts.httpHost, this.opts.httpPort, this.metrics.registry, {
      healthy: () => this.started,
      ready: () => this.started && (!this.isLeader || (this.controllers?.informers.every((i) => i.hasSynced) ?? false)),
    });
    this.elector = new LeaderElector(this.client, {
      namespace: this.opts.leaseNamespace,
      name: this.opts.leaseName,
      identity: this.opts.identity,
      leaseDurationSeconds: this.opts.leaseDurationSeconds,
      retryPeriodMs: this.opts.retryPeriodMs,
      onStartedLeading: () => {
        this.metrics.isLeader.set(1);
        this.opts.log('info', 'became leader', { identity: this.opts.identity });
        void this.transition(() => this.startControllers(), 'start controllers'); // transition() logs its own failures
      },
      onStoppedLeading: () => {
        this.metrics.isLeader.set(0);
        this.pendingAbort?.abort();
        this.opts.log('warn', 'stopped leading', { identity: this.opts.identity });
        return this.transition(() => this.stopControllers(), 'stop controllers');
      },
      onError: (err) => this.opts.log('warn', 'leader election', { error: (err as Error).message }),
    });
    this.started = true;
    this.electionLoop = this.elector.run(this.electionAbort.signal);
  }

  /** Graceful: finish in-flight reconciles, release the lease, close the HTTP server. */
  async stop(): Promise<void> {
    this.electionAbort.abort();
    this.pendingAbort?.abort();
    await this.electionLoop;
    await this.controllerTransition;
    await this.stopControllers();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server?.closeAllConnections?.();
    this.client.close();
    this.started = false;
  }

  /** Serializes controller start/stop; a failure is logged and never poisons the chain. */
  private transition(step: () => Promise<void>, what: string): Promise<void> {
    this.controllerTransition = this.controllerTransition
      .then(step)
      .catch((err) => this.opts.log('error', `${what} failed`, { error: (err as Error).message }));
    return this.controllerTransition;
  }

  private async startControllers(): Promise<void> {
    if (this.controllers) return;
    const abort = new AbortController();
    const ns = this.opts.watchNamespace;
    const log = (msg: string, extra?: object) => this.opts.log('info', msg, extra);
    const informers: Informer<KubeObject>[] = [];
    const owned = new Map<string, Informer<KubeObject>>();
    let queue!: WorkQueue;
    let thresholdQueue!: WorkQueue;
    // spec generation last seen per key: a spec change runs a threshold cycle at once (our own status
    // writes do not change it: controller-runtime's GenerationChangedPredicate)
    const generations = new Map<string, number | undefined>();
    // A new cascade's first threshold cycle waits for its first reconcile: both write status, and the
    // reconciler's write is conditional on the cached resourceVersion, so a threshold write racing it cost
    // a 409 and a second reconcile (a third of 1,000 new cascades in bench/operator-scale).
    const startThreshold = (key: string) => {
      if (generations.has(key)) return;
      const mc = cascades.get(key);
      if (!mc || mc.metadata.deletionTimestamp) return;
      generations.set(key, mc.metadata.generation);
      thresholdQueue.add(key);
    };

    const cascades = new Informer<ModelCascade & KubeObject>(this.client, {
      name: 'modelcascades',
      path: resourcePath(API_VERSION, PLURAL, ns),
      onEvent: (type, obj, old) => {
        const key = objectKey(obj);
        // a status-only write (the threshold controller's numbers, our own conditions) changes nothing we
        // build: no reconcile (controller-runtime's GenerationChanged + label/annotation predicates)
        if (type === 'ADDED' || (type === 'MODIFIED' && (!old || reconcileInputsChanged(old, obj)))) queue.add(key);
        // The threshold controller: a second consumer of the same informer cache, on its own queue.
        if (type === 'DELETED') {
          generations.delete(key);
          this.threshold.forget(key);
        } else if (generations.has(key) && generations.get(key) !== obj.metadata.generation) {
          generations.set(key, obj.metadata.generation);
          thresholdQueue.add(key);
        }
      },
      onError: (err) => this.watchError('modelcascades', err),
      onRelist: (reason) => this.metrics.relists.inc({ resource: 'modelcascades', reason }),
    });
    informers.push(cascades as unknown as Informer<KubeObject>);
    for (const kind of OWNED_KINDS) {
      const inf = new Informer<KubeObject>(this.client, {
        name: kind.plural,
        path: resourcePath(kind.apiVersion, kind.plural, ns),
        labelSelector: CASCADE_LABEL,
        indexBy: cascadeIndex,
        onEvent: (_type, obj) => {
          const key = controllerKey(obj);
          if (key) queue.add(key);
        },
        onError: (err) => this.watchError(kind.plural, err),
        onRelist: (reason) => this.metrics.relists.inc({ resource: kind.plural, reason }),
      });
      owned.set(kind.kind, inf);
      informers.push(inf);
    }
    // The cascades' pods, so that a pod stuck in ImagePullBackOff, CrashLoopBackOff or Unschedulable is
    // named in the cascade's status (and an Event) on the reconcile its change triggers.
    const pods = new Informer<KubeObject>(this.client, {
      name: 'pods',
      path: resourcePath('v1', 'pods', ns),
      labelSelector: CASCADE_LABEL,
      indexBy: cascadeIndex,
      onEvent: (_type, obj) => {
        const key = cascadeIndex(obj);
        if (key) queue.add(key);
      },
      onError: (err) => this.watchError('pods', err),
      onRelist: (reason) => this.metrics.relists.inc({ resource: 'pods', reason }),
    });
    informers.push(pods);
    const reconciler = new Reconciler({
      client: this.client,
      cascades,
      owned,
      pods,
      events: new EventRecorder(this.client, this.opts.identity, log),
      log,
      defaultImage: this.opts.defaultImage,
      onApply: (result) => this.metrics.applies.inc({ result }),
    });
    queue = new WorkQueue(
      async (key) => {
        const end = this.metrics.reconcileDuration.startTimer();
        try {
          const result = await reconciler.reconcile(key);
          this.metrics.reconciles.inc({ result: result === 'applied' ? 'success' : result });
          if (result === 'stale') queue.addAfter(key, 50 + Math.random() * 100);
          else startThreshold(key);
        } catch (err) {
          this.metrics.reconciles.inc({ result: 'error' });
          startThreshold(key); // a failing reconcile has written its error to status; the controller may run
          throw err;
        } finally {
          end();
          this.metrics.queueDepth.set(queue.length);
        }
      },
      {
        workers: this.opts.workers,
        baseMs: 100,
        maxMs: 60_000,
        onError: (key, err, retryInMs) => this.opts.log('warn', 'reconcile failed', { key, retryInMs, error: (err as Error).message }),
      },
    );
    // The threshold controller's cycles: serialized per key by the queue, the next one requeued after the
    // cascade's spec.control.interval (RequeueAfter); a key whose object is gone is not requeued.
    thresholdQueue = new WorkQueue(
      async (key) => {
        const out = await this.threshold.reconcile(key);
        if (out) thresholdQueue.addAfter(key, out.requeueAfterMs);
      },
      {
        workers: this.opts.workers,
        baseMs: 1000,
        maxMs: 60_000,
        onError: (key, err, retryInMs) =>
          this.opts.log('warn', 'threshold cycle failed', { key, retryInMs, error: (err as Error).message }),
      },
    );
    // Owned caches first, so the first reconciles see what already exists (no spurious "Created" events).
    this.pendingAbort = abort;
    for (const inf of informers) inf.start(abort.signal);
    const aborted = new Promise<void>((r) => abort.signal.addEventListener('abort', () => r(), { once: true }));
    await Promise.race([Promise.all(informers.map((i) => i.waitForSync())), aborted]);
    if (abort.signal.aborted) {
      await Promise.all(informers.map((i) => i.stopped()));
      return;
    }
    queue.start();
    this.cascadeCache = cascades;
    this.podCache = pods;
    thresholdQueue.start();
    const resync = setInterval(() => {
      for (const mc of cascades.list()) queue.add(objectKey(mc));
    }, this.opts.resyncMs);
    resync.unref();
    this.controllers = { abort, queue, thresholdQueue, informers, resync };
    this.opts.log('info', 'controllers started', { cascades: cascades.list().length });
  }

  private async stopControllers(): Promise<void> {
    const c = this.controllers;
    if (!c) return;
    this.controllers = undefined;
    clearInterval(c.resync);
    // wait for threshold cycles in flight, then forget every cascade (a later term starts afresh)
    await c.thresholdQueue.stop();
    this.threshold.reset();
    this.cascadeCache = undefined;
    this.podCache = undefined;
    c.abort.abort();
    await c.queue.stop();
    await Promise.all(c.informers.map((i) => i.stopped()));
  }

  private watchError(resource: string, err: unknown): void {
    this.metrics.watchErrors.inc({ resource });
    this.opts.log('warn', 'list/watch error', { resource, error: (err as Error).message });
  }
}

/**
 * True when a ModelCascade update changes something the reconciler builds from: the spec (generation),
 * labels, annotations, owner references, deletion, or the status fields the router ConfigMap carries
 * (status.threshold, status.auditRate from the threshold controller). The periodic resync still
 * reconciles everything, and drift in owned objects arrives through their own informers.
 */
export function reconcileInputsChanged(old: KubeObject, obj: KubeObject): boolean {
  const a = old as unknown as ModelCascade;
  const b = obj as unknown as ModelCascade;
  const same = (x: unknown, y: unknown) => x === y || JSON.stringify(x) === JSON.stringify(y);
  return (
    a.metadata.uid !== b.metadata.uid ||
    a.metadata.generation !== b.metadata.generation ||
    a.metadata.deletionTimestamp !== b.metadata.deletionTimestamp ||
    !same(a.metadata.labels, b.metadata.labels) ||
    !same(a.metadata.annotations, b.metadata.annotations) ||
    !same(a.metadata.ownerReferences, b.metadata.ownerReferences) ||
    a.status?.threshold !== b.status?.threshold ||
    a.status?.auditRate !== b.status?.auditRate ||
    // the routers' view turned Degraded on or off (or its cause changed): status.routers, threshold controller
    routersVerdict(a.status?.routers, withDefaults(a.spec).health) !== routersVerdict(b.status?.routers, withDefaults(b.spec).health)
  );
}
