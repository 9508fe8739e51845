import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../runtime/router/breaker.js';

describe('CircuitBreaker', () => {
  it('opens after N consecutive failures, probes once after the cool-down, closes on success', () => {
    let now = 0;
    const b = new CircuitBreaker({ failureThreshold: 3, cooldownMs: 1000, now: () => now });
    b.onFailure('e1');
    b.onFailure('e2');
    expect(b.state).toBe('closed');
    b.onSuccess(); // success resets the streak
    b.onFailure('e1');
    b.onFailure('e2');
    expect(b.tryAcquire()).toBe(true);
    b.onFailure('e3');
    expect(b.state).toBe('open');
    expect(b.lastError).toBe('e3');
    expect(b.tryAcquire()).toBe(false);
    now = 999;
    expect(b.tryAcquire()).toBe(false);
    now = 1000;
    expect(b.tryAcquire()).toBe(true); // the probe
    expect(b.state).toBe('half-open');
    expect(b.tryAcquire()).toBe(false); // only one probe at a time
    b.onSuccess();
    expect(b.state).toBe('closed');
    expect(b.tryAcquire()).toBe(true);
  });

  it('a failed probe re-opens for a full cool-down', () => {
    let now = 0;
    const b = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 100, now: () => now });
    b.onFailure('down');
    now = 100;
    expect(b.tryAcquire()).toBe(true);
    b.onFailure('still down');
    expect(b.state).toBe('open');
    now = 150;
    expect(b.tryAcquire()).toBe(false);
    now = 200;
    expect(b.tryAcquire()).toBe(true);
  });

  it('an abandoned probe frees the half-open slot', () => {
    const now = 0;
    const b = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 0, now: () => now });
    b.onFailure('x');
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false);
    b.release();
    expect(b.tryAcquire()).toBe(true);
  });

  it('rejects nonsense settings', () => {
    expect(() => new CircuitBreaker({ failureThreshold: 0, cooldownMs: 1 })).toThrow(/failureThreshold/);
    expect(() => new CircuitBreaker({ failureThreshold: 1, cooldownMs: NaN })).toThrow(/cooldownMs/);
  });
});
