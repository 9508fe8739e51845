// Reconciles one ModelCascade: server-side apply of every owned object, removal of owned objects the
// spec no longer asks for, then status (conditions from the owned Deployments) and Events on transitions.
// Idempotent: running it twice in a row changes nothing the second time.
import { API_VERSION, KIND, PLURAL, withDefaults, type Condition, type DefaultedSpec, type ModelCascade } from '../api/model-cascade.js';
import { ApiError, FIELD_MANAGER, resourcePath, type KubeClient } from '../kube/client.js';
import type { Informer, KubeObject } from '../kube/informer.js';
import { buildOwnedObjects, OWNED_KINDS, type OwnedObject } from './builders/index.js';
import { CASCADE_LABEL } from './builders/labels.js';
import { ModelUriError } from './builders/model-source.js';
import { effectiveThreshold } from './builders/router-config.js';
import { ROUTER_HEALTH_REASONS, computeConditions, conditionsEqual, mergeConditions, type DeploymentLike, type PodLike } from './status.js';
import type { EventRecorder } from './events.js';
import { stableStringify, type JsonObject } from './builders/json.js';
import { nudgeRouterPods } from './router-nudge.js';
import { AppliedRecords, desiredHash, type LiveObject } from './applied.js';

export interface ReconcilerDeps {
  client: KubeClient;
  cascades: Informer<ModelCascade & KubeObject>;
  /** Owned-object caches by kind (ConfigMap, Deployment, Service, HorizontalPodAutoscaler). */
  owned: Map<string, Informer<KubeObject>>;
  events: EventRecorder;
  log: (msg: string, extra?: object) => void;
  /** The cascades' pods (label tinysaver.io/cascade): their failures are named in Degraded. */
  pods?: Informer<KubeObject>;
  /** Image for cascades whose spec.image is absent (operator --default-image); DEFAULT_IMAGE when unset. */
  defaultImage?: string;
  /** counts each owned object per reconcile: applied (sent) or skipped (unchanged, nothing sent) */
  onApply?: (result: 'applied' | 'skipped') => void;
}

/**
 * applied: objects and status are current. gone: the cascade no longer exists (or is being deleted).
 * invalid: the spec cannot be turned into pods (said in status). stale: our cached copy was older than the
 * object (status write answered 409); the caller requeues shortly, the informer is about to deliver it.
 */
export type ReconcileResult = 'applied' | 'gone' | 'invalid' | 'stale';

const CONFLICT_RETRIES = 5;

async function retryOnConflict<T>(fn: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 409) || i >= CONFLICT_RETRIES) throw err;
      await new Promise((r) => setTimeout(r, 20 * 2 ** i + Math.random() * 20));
    }
  }
}

function pluralOf(kind: string): { apiVersion: string; plural: string } {
  const k = OWNED_KINDS.find((o) => o.kind === kind);
  if (!k) throw new Error(`no REST mapping for ${kind}`);
  return k;
}

/** An object with the name we need exists but another owner (or nobody) controls it: never adopt or clobber it. */
export class NameConflictError extends Error {
  readonly reason = 'NameConflict';
}

function controlledBy(obj: { metadata?: unknown }, mc: ModelCascade): boolean {
  const refs = (obj.metadata as { ownerReferences?: { uid: string; controller?: boolean }[] } | undefined)?.ownerReferences ?? [];
  return refs.some((r) => r.controller && r.uid === mc.metadata.uid);
}

export class Reconciler {
  /** what was last applied per owned object: unchanged objects are not sent again (applied.ts) */
  private readonly records = new AppliedRecords();
  /** our last status write per cascade: its resourceVersion and what it said (conditions without times) */
  private readonly statusWritten = new Map<string, { uid?: string; rv: number; said: string }>();

  constructor(private readonly d: ReconcilerDeps) {}

  async reconcile(key: string): Promise<ReconcileResult> {
    const mc = this.d.cascades.get(key);
    // deleted: owner references let the garbage collector remove what we created
    if (!mc || mc.metadata.deletionTimestamp) {
      this.records.forget(key);
      this.statusWritten.delete(key);
      return 'gone';
    }
    // defaults applied once per reconcile, shared by the builders and the status; spec.image absent ->
    // the operator's --default-image
    const d = withDefaults(withDefaultImage(mc, this.d.defaultImage).spec);

    let desired: OwnedObject[];
    try {
      desired = buildOwnedObjects(mc, d);
    } catch (err) {
      if (!(err instanceof ModelUriError)) throw err;
      // The spec passed the CRD schema but cannot be turned into pods: say so in status; retrying won't help.
      return (await this.writeStatus(mc, d, [], { reason: 'InvalidSpec', message: err.message })) ? 'invalid' : 'stale';
    }

    const applied: JsonObject[] = [];
    const created: string[] = [];
    try {
      // The ConfigMap first (the pods mount it), then the rest side by side: one round trip per step, not per object.
      const first = desired.filter((o) => o.kind === 'ConfigMap');
      const rest = desired.filter((o) => o.kind !== 'ConfigMap');
      for (const group of [first, rest]) {
        const results = await Promise.allSettled(group.map((obj) => this.applyOne(mc, key, obj)));
        // a changed router ConfigMap (not a new one: no pod mounts that yet): nudge the kubelets (router-nudge.ts)
        for (const [i, r] of results.entries()) {
          if (group === first && r.status === 'fulfilled' && r.value.sent && !r.value.created) {
            const data = (group[i] as { data?: Record<string, string> }).data ?? {};
            await nudgeRouterPods(this.d.client, this.d.pods?.byIndex(key) ?? [], mc.metadata.name, data);
          }
        }
        for (const r of results) if (r.status === 'fulfilled' && r.value) applied.push(r.value.object);
        for (const [i, r] of results.entries()) if (r.status === 'fulfilled' && r.value?.created) created.push(describe(group[i]!));
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
      }
      await this.prune(mc, desired);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const reason = err instanceof NameConflictError ? err.reason : 'ApplyFailed';
      this.createdEvent(mc, created);
      await this.writeStatus(mc, d, applied.filter((o) => o.kind === 'Deployment') as unknown as DeploymentLike[], {
        reason,
        message,
      }).catch(() => {});
      throw err;
    }
    this.createdEvent(mc, created);
    const written = await this.writeStatus(mc, d, applied.filter((o) => o.kind === 'Deployment') as unknown as DeploymentLike[]);
    return written ? 'applied' : 'stale';
  }

  /**
   * One owned object: nothing to send when the last apply is still what the live object shows (applied.ts),
   * else a server-side apply. Answers the object as it now is (for status) and whether the apply created it.
   */
  private async applyOne(
    mc: ModelCascade,
    key: string,
    obj: OwnedObject,
  ): Promise<{ object: JsonObject; created: boolean; sent: boolean }> {
    const ns = mc.metadata.namespace ?? 'default';
    const meta = obj.metadata as { name: string };
    const { apiVersion, plural } = pluralOf(obj.kind!);
    const path = resourcePath(apiVersion, plural, ns, meta.name);
    const objectId = `${obj.kind}/${meta.name}`;
    const cached = this.d.owned.get(obj.kind as string)?.get(`${ns}/${meta.name}`);
    const hash = desiredHash(obj);
    if (cached && controlledBy(cached, mc) && this.records.upToDate(key, objectId, hash, obj, cached)) {
      this.d.onApply?.('skipped');
      return { object: cached as unknown as JsonObject, created: false, sent: false };
    }
    // Our caches hold only labelled objects; anything else with this name needs a look before we apply.
    // A list with a name field selector, not a GET: the operator's RBAC grants list/watch, not get.
    // resourceVersion=0: served from the apiserver's watch cache (no etcd read); a stale answer is caught
    // by the next reconcile, and the apply itself is the same race either way.
    const current =
      cached ??
      (
        await this.d.client.get<{ items: JsonObject[] }>(resourcePath(apiVersion, plural, ns), {
          query: { fieldSelector: `metadata.name=${meta.name}`, resourceVersion: '0' },
        })
      ).items[0];
    if (current && !controlledBy(current, mc)) {
      throw new NameConflictError(
        `${obj.kind} ${meta.name} already exists and is not controlled by this ModelCascade; delete or rename it`,
      );
    }
    const res = await retryOnConflict(() => this.d.client.applyReportingCreation<JsonObject>(path, obj));
    this.d.onApply?.('applied');
    this.records.record(key, objectId, hash, obj, res.object as unknown as LiveObject);
    return { ...res, sent: true };
  }

  /** One Event per reconcile naming every object its applies created (not one per object). */
  private createdEvent(mc: ModelCascade, created: string[]): void {
    if (created.length) void this.d.events.record(mc, 'Normal', 'Created', `created ${created.join(', ')}`);
  }

  /** Deletes objects this cascade controls that the current spec no longer produces (e.g. base -> external). */
  private async prune(mc: ModelCascade, desired: OwnedObject[]): Promise<void> {
    const ns = mc.metadata.namespace ?? 'default';
    const want = new Set(desired.map((o) => `${o.kind}/${(o.metadata as { name: string }).name}`));
    const key = `${ns}/${mc.metadata.name}`;
    for (const kind of OWNED_KINDS) {
      const cache = this.d.owned.get(kind.kind);
      if (!cache) continue;
      for (const obj of cache.byIndex(key)) {
        if (obj.metadata.namespace !== ns) continue;
        const labels = (obj.metadata as { labels?: Record<string, string> }).labels;
        if (labels?.[CASCADE_LABEL] !== mc.metadata.name) continue;
        const refs = (obj.metadata as { ownerReferences?: { uid: string; controller?: boolean }[] }).ownerReferences ?? [];
        if (!refs.some((r) => r.controller && r.uid === mc.metadata.uid)) continue;
        if (want.has(`${kind.kind}/${obj.metadata.name}`)) continue;
        try {
          await this.d.client.request('DELETE', resourcePath(kind.apiVersion, kind.plural, ns, obj.metadata.name), {
            body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background', preconditions: { uid: obj.metadata.uid } },
          });
          this.records.forget(key, `${kind.kind}/${obj.metadata.name}`);
          void this.d.events.record(mc, 'Normal', 'Deleted', `deleted ${kind.kind} ${obj.metadata.name} (no longer in spec)`);
        } catch (err) {
          if (!(err instanceof ApiError && (err.status === 404 || err.status === 409))) throw err;
        }
      }
    }
  }

  /** false when the cached object was stale (409): nothing written, reconcile again on fresh data. */
  private async writeStatus(
    mc: ModelCascade,
    d: DefaultedSpec,
    deployments: DeploymentLike[],
    reconcileError?: { reason: string; message: string },
  ): Promise<boolean> {
    const generation = mc.metadata.generation ?? 1;
    const ns = mc.metadata.namespace ?? 'default';
    const pods = (this.d.pods?.byIndex(`${ns}/${mc.metadata.name}`) ?? []).filter(
      (p) =>
        p.metadata.namespace === ns && (p.metadata as { labels?: Record<string, string> }).labels?.[CASCADE_LABEL] === mc.metadata.name,
    ) as unknown as PodLike[];
    // status.routers: the routers' view of the base, written by the threshold controller
    const computed = computeConditions({ generation, deployments, reconcileError, pods, routers: mc.status?.routers, health: d.health });
    const old = mc.status ?? {};
    // The threshold controller (issue 5) owns status.threshold in mode adaptive; reconcile only fills it in
    // when unset and keeps it equal to the ConfigMap's value otherwise.
    const threshold = effectiveThreshold(mc, d);
    const unchanged = old.observedGeneration === generation && conditionsEqual(old.conditions, computed) && old.threshold === threshold;
    if (unchanged) return true;
    // The cache may not show our own last status write yet (the watch lags behind under load): when that
    // write already said exactly this, there is nothing to send (a conditional write would only answer 409).
    const key = `${ns}/${mc.metadata.name}`;
    const said = stableStringify({ generation, threshold, computed });
    const w = this.statusWritten.get(key);
    const rv = Number(mc.metadata.resourceVersion);
    if (w && w.uid === mc.metadata.uid && w.said === said && Number.isSafeInteger(rv) && rv < w.rv) return true;
    const conditions: Condition[] = mergeConditions(old.conditions, computed, new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'));
    const body = {
      apiVersion: API_VERSION,
      kind: KIND,
      // resourceVersion makes this apply conditional: if the object changed since our cache saw it (e.g. the
      // threshold controller just wrote status.threshold), the apiserver answers 409 and we retry on fresh data
      // instead of overwriting newer values.
      metadata: { name: mc.metadata.name, namespace: mc.metadata.namespace, resourceVersion: mc.metadata.resourceVersion },
      status: { observedGeneration: generation, threshold, conditions },
    };
    try {
      const out = await this.d.client.apply<ModelCascade>(
        resourcePath(API_VERSION, PLURAL, mc.metadata.namespace, mc.metadata.name, 'status'),
        body,
        { fieldManager: FIELD_MANAGER },
      );
      const outRv = Number(out?.metadata?.resourceVersion);
      if (Number.isSafeInteger(outRv)) this.statusWritten.set(key, { uid: mc.metadata.uid, rv: outRv, said });
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) return false;
      throw err;
    }
    this.transitionEvents(mc, old.conditions, conditions);
    return true;
  }

  private transitionEvents(mc: ModelCascade, before: Condition[] | undefined, after: Condition[]): void {
    const was = (t: string) => before?.find((c) => c.type === t);
    const now = (t: string) => after.find((c) => c.type === t)!;
    const ready = now('Ready');
    if (ready.status === 'True' && was('Ready')?.status !== 'True')
      void this.d.events.record(mc, 'Normal', 'Ready', ready.message ?? 'ready');
    if (ready.status !== 'True' && was('Ready')?.status === 'True')
      void this.d.events.record(mc, 'Warning', 'NotReady', ready.message ?? 'not ready');
    const deg = now('Degraded');
    const prev = was('Degraded');
    // a new cause, or a changed message of the same cause; the routers' messages carry live numbers (one
    // Event when the cause starts, not one per scrape)
    const changed =
      prev?.status !== 'True' ||
      prev.reason !== deg.reason ||
      (prev.message !== deg.message && !ROUTER_HEALTH_REASONS.has(deg.reason ?? ''));
    if (deg.status === 'True' && changed) {
      void this.d.events.record(mc, 'Warning', deg.reason ?? 'Degraded', deg.message ?? 'degraded');
    }
    if (deg.status !== 'True' && prev?.status === 'True')
      void this.d.events.record(mc, 'Normal', 'Recovered', `no longer degraded (was ${prev.reason ?? 'Degraded'}: ${prev.message ?? ''})`);
  }
}

/** The cascade with spec.image filled in from the operator's default when the user named none. */
export function withDefaultImage(mc: ModelCascade, defaultImage: string | undefined): ModelCascade {
  if (mc.spec.image || !defaultImage) return mc;
  return { ...mc, spec: { ...mc.spec, image: defaultImage } };
}

/** "Kind name" for Event messages. */
function describe(o: OwnedObject): string {
  return `${o.kind} ${(o.metadata as { name: string }).name}`;
}

/** "namespace/cascade" from an object's tinysaver.io/cascade label: the owned and pod caches' index. */
export function cascadeIndex(obj: KubeObject): string | undefined {
  const cascade = (obj.metadata as { labels?: Record<string, string> }).labels?.[CASCADE_LABEL];
  return cascade && obj.metadata.namespace ? `${obj.metadata.namespace}/${cascade}` : undefined;
}

/** Owner key (namespace/name) of an object a ModelCascade controls, or undefined. */
export function controllerKey(obj: KubeObject): string | undefined {
  const refs = (obj.metadata as { ownerReferences?: { kind: string; name: string; controller?: boolean; apiVersion: string }[] })
    .ownerReferences;
  const ref = refs?.find((r) => r.controller && r.kind === KIND && r.apiVersion.startsWith('tinysaver.io/'));
  return ref && obj.metadata.namespace ? `${obj.metadata.namespace}/${ref.name}` : undefined;
}
