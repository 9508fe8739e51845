// Kubernetes Events on a ModelCascade (best effort: a failed Event never fails a reconcile).
import { randomBytes } from 'node:crypto';
import type { KubeClient } from '../kube/client.js';
import type { ModelCascade } from '../api/model-cascade.js';
import { microTime } from '../kube/leader.js';

export type EventType = 'Normal' | 'Warning';

export class EventRecorder {
  constructor(
    private readonly client: KubeClient,
    private readonly instance: string,
    private readonly log: (msg: string, extra?: object) => void,
  ) {}

  async record(mc: ModelCascade, type: EventType, reason: string, message: string): Promise<void> {
    const ns = mc.metadata.namespace ?? 'default';
    const now = new Date();
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${mc.metadata.name}.${randomBytes(8).toString('hex')}`, namespace: ns },
      involvedObject: {
        apiVersion: mc.apiVersion,
        kind: mc.kind,
        name: mc.metadata.name,
        namespace: ns,
        uid: mc.metadata.uid,
        resourceVersion: mc.metadata.resourceVersion,
      },
      reason,
      message: message.slice(0, 1024),
      type,
      source: { component: 'tinysaver-operator' },
      reportingComponent: 'tinysaver.io/operator',
      reportingInstance: this.instance.slice(0, 128),
      action: reason,
      firstTimestamp: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      lastTimestamp: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      eventTime: microTime(now),
      count: 1,
    };
    try {
      await this.client.request('POST', `/api/v1/namespaces/${encodeURIComponent(ns)}/events`, { body });
    } catch (err) {
      this.log('event not recorded', { reason, error: (err as Error).message });
    }
  }
}
