// spec.saver.mode InRouter: the router container does the saver's work too, so it gets the sum of what
// spec.router.resources and spec.saver.resources would have given the two containers in mode Sidecar
// (the pod's total request, and so its scheduling, stays the same in both modes).
import type { Quantity, Resources } from '../../api/model-cascade.js';
import { addQuantities, maxQuantity } from './quantity.js';

function sum(values: (Quantity | undefined)[]): Quantity | undefined {
  const set = values.filter((v): v is Quantity => v !== undefined);
  if (set.length < 2) return set[0];
  // The CRD's quantity pattern admits a few forms parseQuantity cannot add exactly (a fractional exponent);
  // then the saver's figure (the second) wins: it is the one sized for the model.
  return addQuantities(set[0]!, set[1]!) ?? set[1];
}

/**
 * Per resource name: requests add up (a container without a request for it counts its limit, as Kubernetes
 * defaults it); limits add up where both set one, else the one set applies to the whole process; a limit
 * is never left below the summed request (the apiserver would reject the pod).
 */
export function combinedResources(router: Resources, saver: Resources): Resources {
  const keys = new Set([router, saver].flatMap((r) => [...Object.keys(r.requests ?? {}), ...Object.keys(r.limits ?? {})]));
  const requests: Record<string, Quantity> = {};
  const limits: Record<string, Quantity> = {};
  for (const k of [...keys].sort()) {
    const side = (r: Resources) => ({
      request: r.requests?.[k] ?? r.limits?.[k],
      limit: r.limits?.[k],
      explicit: r.requests?.[k] !== undefined,
    });
    const a = side(router);
    const b = side(saver);
    const request = a.explicit || b.explicit ? sum([a.request, b.request]) : undefined;
    if (request !== undefined) requests[k] = request;
    const limit = sum([a.limit, b.limit]);
    if (limit !== undefined) limits[k] = request !== undefined ? maxQuantity(limit, request) : limit;
  }
  const out: Resources = {};
  if (Object.keys(requests).length) out.requests = requests;
  if (Object.keys(limits).length) out.limits = limits;
  return out;
}
