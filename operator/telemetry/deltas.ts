// Cumulative router counters -> per-interval deltas, per pod. Pure: state in, state out.
//
// Prometheus counters only grow while a process lives. A decrease in any counter, a new pod UID, or a new
// process start time means the router restarted (or its counters were reset): its current values are
// then the counts since the restart and are taken as the delta. A pod seen for the first time counts
// from zero only if it started after the previous scrape cycle (otherwise its history predates our
// window and it just sets the baseline). Pods that failed this scrape keep their state (their next
// successful delta covers both intervals); pods no longer listed are dropped.

import { type RouterCounters, addInto, cloneCounters, firstDecrease, subtract, zeroCounters } from './counters.js';
import type { RouterSnapshot } from './router-metrics.js';

export interface PodIdentity {
  /** stable key: namespace/name of the pod (or the address in local runs) */
  key: string;
  uid?: string;
  /** pod or container start time, ms since the epoch */
  startedAtMs?: number;
}

export interface PodObservation extends PodIdentity {
  snapshot: RouterSnapshot;
}

export interface PodState {
  uid?: string;
  startedAtMs?: number;
  processStartSeconds?: number;
  counters: RouterCounters;
}

export type PodDeltaKind = 'delta' | 'reset' | 'new' | 'baseline';

export interface PodDelta {
  key: string;
  kind: PodDeltaKind;
  /** why a reset was detected */
  reason?: string;
  rows: number;
}

export interface DeltaStep {
  /** the sum of all pods' deltas for this interval */
  delta: RouterCounters;
  perPod: PodDelta[];
  /** pods whose state was dropped because they are no longer listed */
  dropped: string[];
  /** next state */
  state: Map<string, PodState>;
}

export interface DeltaInput {
  observed: PodObservation[];
  /** pods that are still listed but whose scrape failed this cycle: state kept, no delta */
  failed?: string[];
  /** time of the previous scrape cycle (ms); undefined on the first cycle */
  previousCycleMs?: number;
}

function resetReason(prev: PodState, obs: PodObservation): string | undefined {
  if (prev.uid !== undefined && obs.uid !== undefined && prev.uid !== obs.uid) return `pod uid changed (${prev.uid} -> ${obs.uid})`;
  if (prev.startedAtMs !== undefined && obs.startedAtMs !== undefined && prev.startedAtMs !== obs.startedAtMs) {
    return 'pod start time changed';
  }
  const ps = obs.snapshot.processStartSeconds;
  if (prev.processStartSeconds !== undefined && ps !== undefined && ps !== prev.processStartSeconds) return 'router process restarted';
  const dec = firstDecrease(obs.snapshot.counters, prev.counters);
  if (dec) return `counter ${dec} decreased`;
  return undefined;
}

function startedAfter(obs: PodObservation, sinceMs: number): boolean {
  const starts = [obs.startedAtMs, obs.snapshot.processStartSeconds !== undefined ? obs.snapshot.processStartSeconds * 1000 : undefined];
  return starts.some((s) => s !== undefined && s >= sinceMs);
}

export function stepDeltas(prev: ReadonlyMap<string, PodState>, input: DeltaInput, edges?: readonly number[]): DeltaStep {
  const delta = zeroCounters(edges);
  const perPod: PodDelta[] = [];
  const state = new Map<string, PodState>();
  const seen = new Set<string>();
  for (const obs of input.observed) {
    if (seen.has(obs.key)) continue; // a pod listed twice counts once
    seen.add(obs.key);
    const cur = obs.snapshot.counters;
    const before = prev.get(obs.key);
    let d: RouterCounters | undefined;
    let kind: PodDeltaKind;
    let reason: string | undefined;
    if (before) {
      reason = resetReason(before, obs);
      if (reason) {
        kind = 'reset';
        d = cur;
      } else {
        kind = 'delta';
        d = subtract(cur, before.counters);
      }
    } else if (input.previousCycleMs !== undefined && startedAfter(obs, input.previousCycleMs)) {
      kind = 'new';
      d = cur;
    } else {
      kind = 'baseline';
    }
    let rows = 0;
    if (d) {
      addInto(delta, d);
      for (const v of d.all) rows += v;
    }
    perPod.push(reason ? { key: obs.key, kind, reason, rows } : { key: obs.key, kind, rows });
    const st: PodState = { counters: cloneCounters(cur) };
    if (obs.uid !== undefined) st.uid = obs.uid;
    if (obs.startedAtMs !== undefined) st.startedAtMs = obs.startedAtMs;
    if (obs.snapshot.processStartSeconds !== undefined) st.processStartSeconds = obs.snapshot.processStartSeconds;
    state.set(obs.key, st);
  }
  for (const key of input.failed ?? []) {
    const before = prev.get(key);
    if (before && !seen.has(key)) state.set(key, before);
  }
  const dropped = [...prev.keys()].filter((k) => !state.has(k));
  return { delta, perPod, dropped, state };
}
