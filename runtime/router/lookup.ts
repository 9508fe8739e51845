// Name resolution for the router's upstream clients that never strands the process on a dead resolver.
//
// node's dns.lookup() runs getaddrinfo in libuv's thread pool (4 threads). A lookup cannot be cancelled and
// runs until glibc gives up (resolv.conf timeout 5 s x attempts 2, for A and AAAA and each search domain), and
// libuv joins the pool when the process exits. With the cluster DNS unreachable, every base call, re-probe
// and audit started its own lookup, the pool filled (threshold-file reads and decision-log writes queued
// behind them), and the router exited 20 s after a sub-second drain on SIGTERM (issue 10).
//
// So: (1) one lookup in flight per name and options, shared by every caller; (2) before getaddrinfo, one
// c-ares query for the name (event loop, not the pool; cancelled by close()) checks that a DNS server
// answers at all. Any answer (an address, NXDOMAIN, no data: search domains are getaddrinfo's business)
// goes on to dns.lookup, which then resolves as usual (/etc/hosts, search domains, nsswitch). Only a
// resolver that does not answer (ETIMEOUT) fails the lookup without calling getaddrinfo. localhost names
// skip the probe (/etc/hosts answers them).

import dns from 'node:dns';
import type { LookupFunction } from 'node:net';

export interface UpstreamLookup {
  lookup: LookupFunction;
  /** cancel the probes in flight and fail later lookups at once (shutdown) */
  close(): void;
}

export interface UpstreamLookupOptions {
  /** getaddrinfo (default dns.lookup) */
  lookup?: typeof dns.lookup;
  /** the probe: a c-ares query for the name (default: a dns.Resolver's resolve4); undefined: no probe */
  probe?: ((hostname: string) => Promise<unknown>) | null;
  /** c-ares timeout per try (ms) and tries for the default probe */
  probeTimeoutMs?: number;
  probeTries?: number;
}

const isLocal = (host: string) => host === 'localhost' || host.endsWith('.localhost');

export function upstreamLookup(opts: UpstreamLookupOptions = {}): UpstreamLookup {
  const getaddrinfo = opts.lookup ?? dns.lookup;
  let resolver: dns.Resolver | undefined;
  let probe = opts.probe;
  if (probe === undefined) {
    resolver = new dns.Resolver({ timeout: opts.probeTimeoutMs ?? 2000, tries: opts.probeTries ?? 2 });
    const r = resolver;
    probe = (hostname) => new Promise((resolve, reject) => r.resolve4(hostname, (err) => (err ? reject(err) : resolve(undefined))));
  }
  let closed = false;
  const inFlight = new Map<string, Array<(...args: unknown[]) => void>>();
  const lookup = ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
    if (closed) {
      callback(Object.assign(new Error(`lookup ${hostname}: client closed`), { code: 'ECANCELLED' }));
      return;
    }
    const key = JSON.stringify([hostname, options.family ?? 0, options.hints ?? 0, !!options.all, options.verbatim ?? null]);
    const waiting = inFlight.get(key);
    if (waiting) {
      waiting.push(callback);
      return;
    }
    inFlight.set(key, [callback]);
    const done = (...args: unknown[]) => {
      const callbacks = inFlight.get(key) ?? [];
      inFlight.delete(key);
      for (const cb of callbacks) cb(...args);
    };
    const resolve = () => getaddrinfo(hostname, options as dns.LookupAllOptions, done as never);
    if (!probe || isLocal(hostname)) return resolve();
    probe(hostname).then(resolve, (e: NodeJS.ErrnoException) => {
      if (e.code === dns.TIMEOUT || e.code === dns.CANCELLED) {
        done(Object.assign(new Error(`lookup ${hostname}: DNS server did not answer (${e.code})`), { code: 'EAI_AGAIN', hostname }));
      } else resolve();
    });
  }) as LookupFunction;
  return {
    lookup,
    close: () => {
      closed = true;
      resolver?.cancel();
    },
  };
}
