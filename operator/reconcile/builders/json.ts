// JSON helpers. The builders' output is typed with @kubernetes/client-node's V1*/V2* model types
// (type-only imports: nothing of client-node is loaded at run time by the builders); JsonObject stays
// for objects read back from the apiserver whose kind is not known statically.
export type JsonObject = Record<string, unknown>;

/** Stable JSON: object keys sorted, so equal objects hash equally regardless of key order. */
export function stableStringify(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  const entries = Object.entries(v as Record<string, unknown>)
    .filter(([, x]) => x !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stableStringify(x)}`).join(',')}}`;
}
