// Optional autoscaling/v2 HorizontalPodAutoscalers on CPU utilization for the saver and base Deployments.
import { withDefaults, type AutoscalingTarget, type ModelCascade } from '../../api/model-cascade.js';
import { objectMeta, names } from './labels.js';
import type { JsonObject } from './json.js';

function hpa(mc: ModelCascade, component: 'saver' | 'base', target: AutoscalingTarget): JsonObject {
  const name = component === 'saver' ? names.saver(mc) : names.base(mc);
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: objectMeta(mc, name, component),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      minReplicas: target.minReplicas ?? 1,
      maxReplicas: target.maxReplicas,
      metrics: [
        { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: target.targetCPUUtilization ?? 70 } } },
      ],
    },
  };
}

export function buildSaverAutoscaler(mc: ModelCascade): JsonObject | null {
  const t = withDefaults(mc.spec).autoscaling.saver;
  return t ? hpa(mc, 'saver', t) : null;
}

export function buildBaseAutoscaler(mc: ModelCascade): JsonObject | null {
  const s = withDefaults(mc.spec);
  if (!s.autoscaling.base || s.base.external || !s.base.model) return null;
  return hpa(mc, 'base', s.autoscaling.base);
}
