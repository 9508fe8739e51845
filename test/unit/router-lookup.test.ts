// One DNS lookup in flight per name for the router's upstream clients (runtime/router/lookup.ts, issue 10).
import type dns from 'node:dns';
import { expect, it } from 'vitest';
import { singleFlightLookup } from '../../runtime/router/lookup.js';

it('shares one lookup among concurrent callers of the same name, and looks up again once it ended', () => {
  const calls: { host: string; done: (err: Error | null, address?: string, family?: number) => void }[] = [];
  const fake = ((host: string, _opts: unknown, cb: (err: Error | null, address?: string, family?: number) => void) => {
    calls.push({ host, done: cb });
  }) as unknown as typeof dns.lookup;
  const lookup = singleFlightLookup(fake);
  const got: unknown[][] = [];
  for (let i = 0; i < 3; i++) lookup('base', { family: 0 }, (...args: unknown[]) => got.push(args));
  lookup('saver', { family: 0 }, (...args: unknown[]) => got.push(['saver', ...args]));
  lookup('base', { family: 4 }, (...args: unknown[]) => got.push(['v4', ...args])); // other options: its own lookup
  expect(calls.map((c) => c.host)).toEqual(['base', 'saver', 'base']);
  const err = Object.assign(new Error('getaddrinfo EAI_AGAIN base'), { code: 'EAI_AGAIN' });
  calls[0].done(err);
  expect(got).toEqual([[err], [err], [err]]);
  calls[1].done(null, '10.0.0.2', 4);
  expect(got[3]).toEqual(['saver', null, '10.0.0.2', 4]);
  lookup('base', { family: 0 }, () => undefined);
  expect(calls.length).toBe(4); // the earlier one ended: a new lookup
});
