// Name resolution of the router's upstream clients (runtime/router/lookup.ts, issue 10): one lookup in flight
// per name, and no getaddrinfo into a resolver that does not answer.
import type dns from 'node:dns';
import { expect, it } from 'vitest';
import { upstreamLookup } from '../../runtime/router/lookup.js';

type Done = (err: Error | null, address?: string, family?: number) => void;

function fakeGetaddrinfo() {
  const calls: { host: string; done: Done }[] = [];
  const fn = ((host: string, _opts: unknown, cb: Done) => {
    calls.push({ host, done: cb });
  }) as unknown as typeof dns.lookup;
  return { calls, fn };
}
const tick = () => new Promise((r) => setImmediate(r));

it('shares one lookup among concurrent callers of the same name, and looks up again once it ended', async () => {
  const g = fakeGetaddrinfo();
  const { lookup } = upstreamLookup({ lookup: g.fn, probe: null });
  const got: unknown[][] = [];
  for (let i = 0; i < 3; i++) lookup('base', { family: 0 }, (...args: unknown[]) => got.push(args));
  lookup('saver', { family: 0 }, (...args: unknown[]) => got.push(['saver', ...args]));
  lookup('base', { family: 4 }, (...args: unknown[]) => got.push(['v4', ...args])); // other options: its own lookup
  await tick();
  expect(g.calls.map((c) => c.host)).toEqual(['base', 'saver', 'base']);
  const err = Object.assign(new Error('getaddrinfo EAI_AGAIN base'), { code: 'EAI_AGAIN' });
  g.calls[0].done(err);
  expect(got).toEqual([[err], [err], [err]]);
  g.calls[1].done(null, '10.0.0.2', 4);
  expect(got[3]).toEqual(['saver', null, '10.0.0.2', 4]);
  lookup('base', { family: 0 }, () => undefined);
  await tick();
  expect(g.calls.length).toBe(4); // the earlier one ended: a new lookup
});

it('a resolver that does not answer fails the lookup without getaddrinfo; any answer goes on to getaddrinfo', async () => {
  const g = fakeGetaddrinfo();
  const answers: Record<string, string | undefined> = { dead: 'ETIMEOUT', missing: 'ENOTFOUND', ok: undefined };
  const probed: string[] = [];
  const { lookup, close } = upstreamLookup({
    lookup: g.fn,
    probe: async (host) => {
      probed.push(host);
      const code = answers[host];
      if (code) throw Object.assign(new Error(code), { code });
    },
  });
  const result = (host: string) => new Promise<unknown[]>((r) => lookup(host, {}, (...args: unknown[]) => r(args)));
  const dead = await result('dead');
  expect((dead[0] as NodeJS.ErrnoException).code).toBe('EAI_AGAIN');
  expect(String(dead[0])).toMatch(/DNS server did not answer/);
  expect(g.calls).toEqual([]);
  // NXDOMAIN for the bare name still goes to getaddrinfo (search domains, /etc/hosts)
  void result('missing');
  void result('ok');
  void result('localhost'); // /etc/hosts: no probe
  await tick();
  expect(g.calls.map((c) => c.host).sort()).toEqual(['localhost', 'missing', 'ok']);
  expect(probed).toEqual(['dead', 'missing', 'ok']);
  close();
  expect(((await result('ok'))[0] as NodeJS.ErrnoException).code).toBe('ECANCELLED');
});
