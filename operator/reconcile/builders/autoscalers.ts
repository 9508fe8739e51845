// Optional autoscaling/v2 HorizontalPodAutoscalers on CPU utilization for the saver and base Deployments.
import type { V2HorizontalPodAutoscaler } from '@kubernetes/client-node';
import { withDefaults, type DefaultedSpec, type ModelCascade } from '../../api/model-cascade.js';
import { objectMeta, names } from './labels.js';

type Target = NonNullable<DefaultedSpec['autoscaling']['saver']>;

function hpa(mc: ModelCascade, component: 'saver' | 'base', target: Target): V2HorizontalPodAutoscaler {
  const name = component === 'saver' ? names.saver(mc) : names.base(mc);
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: objectMeta(mc, name, component),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      minReplicas: target.minReplicas,
      maxReplicas: target.maxReplicas,
      metrics: [
        { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: target.targetCPUUtilization } } },
      ],
    },
  };
}

export function buildSaverAutoscaler(mc: ModelCascade, s: DefaultedSpec = withDefaults(mc.spec)): V2HorizontalPodAutoscaler | null {
  const t = s.autoscaling.saver;
  return t ? hpa(mc, 'saver', t) : null;
}

export function buildBaseAutoscaler(mc: ModelCascade, s: DefaultedSpec = withDefaults(mc.spec)): V2HorizontalPodAutoscaler | null {
  if (!s.autoscaling.base || s.base.external || !s.base.model) return null;
  return hpa(mc, 'base', s.autoscaling.base);
}
