// Leader election on a coordination.k8s.io/v1 Lease, so that of several operator replicas exactly one
// reconciles. Expiry is judged by when *this* process last saw the lease record change (not by the
// holder's clock), like client-go. Optimistic concurrency (resourceVersion) makes takeover races safe:
// the loser gets 409 and stays a follower. A graceful stop releases the lease for a fast handover.
import { ApiError, type KubeClient } from './client.js';
import { sleep } from './backoff.js';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds: number;
  retryPeriodMs: number;
  onStartedLeading: () => void;
  /** May return a promise: on a graceful stop the lease is released only after it settles (no overlap). */
  onStoppedLeading: () => void | Promise<void>;
  onError?: (err: unknown) => void;
}

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** metav1.MicroTime wants exactly six fractional digits. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private leading = false;
  private observedRecord = '';
  private observedAt = 0;
  private lastRenew = 0;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: LeaderElectionOptions,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.opts.namespace)}/leases`;
  }

  /** Runs until the signal aborts; then releases the lease if held. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let ok = false;
      try {
        ok = await this.tryAcquireOrRenew();
      } catch (err) {
        this.opts.onError?.(err);
      }
      const now = Date.now();
      if (ok) {
        this.lastRenew = now;
        if (!this.leading) {
          this.leading = true;
          this.opts.onStartedLeading();
        }
      } else if (this.leading && now - this.lastRenew > this.opts.leaseDurationSeconds * 1000 * 0.8) {
        // Could not renew in time: another replica may take over any moment, so stop acting as leader.
        this.leading = false;
        void this.opts.onStoppedLeading();
      }
      await sleep(this.opts.retryPeriodMs, signal);
    }
    if (this.leading) {
      this.leading = false;
      // Finish our in-flight work before handing over, so two leaders never reconcile at once.
      await this.opts.onStoppedLeading();
      await this.release().catch((err) => this.opts.onError?.(err));
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const existing = await this.client.getOrNull<Lease>(`${this.path}/${encodeURIComponent(this.opts.name)}`);
    if (!existing) {
      const lease: Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.opts.name, namespace: this.opts.namespace },
        spec: {
          holderIdentity: this.opts.identity,
          leaseDurationSeconds: this.opts.leaseDurationSeconds,
          acquireTime: microTime(now),
          renewTime: microTime(now),
          leaseTransitions: 0,
        },
      };
      try {
        await this.client.request('POST', this.path, { body: lease });
        return true;
      } catch (err) {
        if (err instanceof ApiError && err.status === 409) return false;
        throw err;
      }
    }
    const record = JSON.stringify(existing.spec);
    if (record !== this.observedRecord) {
      this.observedRecord = record;
      this.observedAt = Date.now();
    }
    const holder = existing.spec.holderIdentity ?? '';
    const duration = (existing.spec.leaseDurationSeconds ?? this.opts.leaseDurationSeconds) * 1000;
    const mine = holder === this.opts.identity;
    if (holder && !mine && this.observedAt + duration > Date.now()) return false;
    const spec: Lease['spec'] = {
      ...existing.spec,
      holderIdentity: this.opts.identity,
      leaseDurationSeconds: this.opts.leaseDurationSeconds,
      renewTime: microTime(now),
    };
    if (!mine) {
      spec.acquireTime = microTime(now);
      spec.leaseTransitions = (existing.spec.leaseTransitions ?? 0) + 1;
    }
    try {
      await this.client.request('PUT', `${this.path}/${encodeURIComponent(this.opts.name)}`, {
        body: { ...existing, spec },
      });
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) return false;
      throw err;
    }
  }

  /** Gives the lease up so a standby replica takes over without waiting for expiry. */
  private async release(): Promise<void> {
    const existing = await this.client.getOrNull<Lease>(`${this.path}/${encodeURIComponent(this.opts.name)}`);
    if (!existing || existing.spec.holderIdentity !== this.opts.identity) return;
    await this.client.request('PUT', `${this.path}/${encodeURIComponent(this.opts.name)}`, {
      body: { ...existing, spec: { ...existing.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime(new Date()) } },
    });
  }
}
