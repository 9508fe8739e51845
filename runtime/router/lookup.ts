// One DNS lookup in flight per upstream name. node's dns.lookup() runs getaddrinfo in libuv's thread pool
// (4 threads): a lookup cannot be cancelled and runs until the resolver gives up (resolv.conf timeout x
// attempts per search domain: 10-40 s), so while the base's name does not resolve (cluster DNS down) every
// base call, re-probe and audit started its own lookup, the pool filled up (the threshold file reads and the
// decision log's writes queue behind it), and the process could only exit once all of them had ended: the
// router took 16-20 s to exit on SIGTERM after a sub-second drain (issue 10). Callers asking while a lookup
// of the same name is in flight share its answer.

import dns from 'node:dns';
import type { LookupFunction } from 'node:net';

export function singleFlightLookup(lookup: typeof dns.lookup = dns.lookup): LookupFunction {
  const inFlight = new Map<string, Array<(...args: unknown[]) => void>>();
  return ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
    const key = JSON.stringify([hostname, options.family ?? 0, options.hints ?? 0, !!options.all, options.verbatim ?? null]);
    const waiting = inFlight.get(key);
    if (waiting) {
      waiting.push(callback);
      return;
    }
    inFlight.set(key, [callback]);
    lookup(
      hostname,
      options as dns.LookupAllOptions,
      ((...args: unknown[]) => {
        const callbacks = inFlight.get(key) ?? [];
        inFlight.delete(key);
        for (const cb of callbacks) cb(...args);
      }) as never,
    );
  }) as LookupFunction;
}
