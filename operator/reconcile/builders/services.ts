// Services: <name> -> router sidecar (the cascade's endpoint); <name>-base -> in-cluster base.
import type { V1Service } from '@kubernetes/client-node';
import { withDefaults, type DefaultedSpec, type ModelCascade } from '../../api/model-cascade.js';
import { objectMeta, names, selectorLabels } from './labels.js';
import { BASE_GRPC_PORT, BASE_PORT, ROUTER_GRPC_PORT, ROUTER_PORT } from './workloads.js';

export function buildRouterService(mc: ModelCascade): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: objectMeta(mc, names.service(mc), 'saver'),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(mc, 'saver'),
      ports: [
        { name: 'http', port: ROUTER_PORT, targetPort: 'http', protocol: 'TCP' },
        { name: 'grpc', port: ROUTER_GRPC_PORT, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'grpc' },
      ],
    },
  };
}

export function buildBaseService(mc: ModelCascade, s: DefaultedSpec = withDefaults(mc.spec)): V1Service | null {
  if (s.base.external || !s.base.model) return null;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: objectMeta(mc, names.baseService(mc), 'base'),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(mc, 'base'),
      ports: [
        { name: 'http', port: BASE_PORT, targetPort: 'http', protocol: 'TCP' },
        { name: 'grpc', port: BASE_GRPC_PORT, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'grpc' },
      ],
    },
  };
}
