// What the reconciler last applied, per owned object, so an unchanged cascade costs no API request.
//
// A server-side apply whose result would be the same object still costs the apiserver a full apply (decode,
// structured merge, admission, an etcd read) and the operator a request and a response parse; at 1,000
// idle cascades re-applying every owned object on every wake-up was most of the operator's CPU (bench/
// operator-scale). So, like controller-runtime controllers that keep a hash of the last applied object,
// the reconciler skips an apply when both hold:
//   1. the desired object hashes to what was last applied (the spec, status.threshold, ... did not move), and
//   2. the live object in the informer cache still shows, in every field the desired object sets, what our
//      apply answered with (its "fingerprint"): a hand edit of any field we own (kubectl scale/edit, a label
//      removed, our owner reference dropped) changes the fingerprint, and a deleted object is a cache miss,
//      so drift is still repaired on the event that reports it.
// The fingerprint is taken from the apiserver's answer, not from the desired object, so defaulting and
// normalization (quantities, int-or-string ports) never make an unchanged object look drifted. Fields the
// desired object does not set (status, other managers' fields, annotations the Deployment controller adds)
// are outside it, as they are outside our server-side apply.
// Memory only: a restarted operator (or a new leader) applies everything once, then skips again.
import { createHash } from 'node:crypto';

interface Record_ {
  uid?: string;
  /** sha1 of the desired object's JSON */
  hash: string;
  /** sha1 of the apply answer projected onto the desired object's fields */
  fingerprint: string;
  /** the answer's resourceVersion: a cache older than it has not seen our write yet */
  rv: number;
}

export interface LiveObject {
  metadata: { uid?: string; resourceVersion?: string };
}

const sha1 = (s: string) => createHash('sha1').update(s).digest('base64');

/** The desired object's hash (builders produce objects with a fixed key order, so JSON is stable). */
export function desiredHash(desired: unknown): string {
  return sha1(JSON.stringify(desired));
}

/**
 * `live` restricted to the fields `shape` sets: objects keep only shape's keys, arrays are projected item
 * by item (and keep their live length, so an item added or removed shows), scalars are live's value.
 */
export function project(shape: unknown, live: unknown): unknown {
  if (Array.isArray(shape)) {
    if (!Array.isArray(live)) return live ?? null;
    return [live.length, ...shape.map((s, i) => project(s, live[i]))];
  }
  if (shape !== null && typeof shape === 'object') {
    if (live === null || typeof live !== 'object' || Array.isArray(live)) return live ?? null;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(shape)) out[k] = project((shape as Record<string, unknown>)[k], (live as Record<string, unknown>)[k]);
    return out;
  }
  return live ?? null;
}

export function fingerprint(desired: unknown, live: unknown): string {
  return sha1(JSON.stringify(project(desired, live)));
}

const rvOf = (o: LiveObject) => Number(o.metadata.resourceVersion);

/** Per cascade key ("namespace/name"), per owned object ("Kind/name"): what was last applied. */
export class AppliedRecords {
  private readonly byCascade = new Map<string, Map<string, Record_>>();

  /**
   * True when applying `desired` (hash `hash`) would change nothing: the last apply of this object had the
   * same hash, and the cached live object shows the same fields (or is older than that apply: the watch
   * has not delivered our write yet, and its event will reconcile again).
   */
  upToDate(cascade: string, object: string, hash: string, desired: unknown, live: LiveObject | undefined): boolean {
    const rec = this.byCascade.get(cascade)?.get(object);
    if (!rec || !live || rec.hash !== hash || rec.uid !== live.metadata.uid) return false;
    const rv = rvOf(live);
    if (Number.isSafeInteger(rv) && Number.isSafeInteger(rec.rv) && rv < rec.rv) return true;
    return rec.fingerprint === fingerprint(desired, live);
  }

  /** Remember an apply of `desired` (hash `hash`) and the apiserver's answer. */
  record(cascade: string, object: string, hash: string, desired: unknown, answer: LiveObject): void {
    let m = this.byCascade.get(cascade);
    if (!m) this.byCascade.set(cascade, (m = new Map()));
    m.set(object, { uid: answer.metadata?.uid, hash, fingerprint: fingerprint(desired, answer), rv: rvOf(answer) });
  }

  /** Forget one object (deleted) or, without `object`, a whole cascade (gone). */
  forget(cascade: string, object?: string): void {
    if (object === undefined) this.byCascade.delete(cascade);
    else this.byCascade.get(cascade)?.delete(object);
  }

  get size(): number {
    let n = 0;
    for (const m of this.byCascade.values()) n += m.size;
    return n;
  }
}
