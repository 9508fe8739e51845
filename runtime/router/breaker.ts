// Circuit breaker for the base model: after `failureThreshold` consecutive failures the circuit opens
// and base calls are skipped (the failure policy answers at once) until `cooldownMs` has passed; then
// one probe call is let through (half-open). A successful probe closes the circuit, a failed one
// re-opens it for another cool-down. This is what keeps a dead base from stalling the saver path.

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  failureThreshold: number;
  cooldownMs: number;
  now?: () => number;
}

export class CircuitBreaker {
  private readonly failureThreshold: number;
  private readonly cooldownMs: number;
  private readonly now: () => number;
  private consecutiveFailures = 0;
  private openedAt = 0;
  private probeInFlight = false;
  private stateValue: BreakerState = 'closed';
  /** message of the most recent failure, for error answers and logs */
  lastError = '';

  constructor(opts: BreakerOptions) {
    if (!Number.isInteger(opts.failureThreshold) || opts.failureThreshold < 1) {
      throw new RangeError(`failureThreshold must be an integer >= 1, got ${opts.failureThreshold}`);
    }
    if (!(opts.cooldownMs >= 0)) throw new RangeError(`cooldownMs must be >= 0, got ${opts.cooldownMs}`);
    this.failureThreshold = opts.failureThreshold;
    this.cooldownMs = opts.cooldownMs;
    this.now = opts.now ?? Date.now;
  }

  get state(): BreakerState {
    return this.stateValue;
  }

  get failures(): number {
    return this.consecutiveFailures;
  }

  /**
   * Whether a call may go to the base now. In the open state, once the cool-down has passed, the
   * first caller gets `true` and becomes the half-open probe; everyone else keeps getting `false`
   * until that probe reports back.
   */
  tryAcquire(): boolean {
    if (this.stateValue === 'closed') return true;
    if (this.stateValue === 'open' && this.now() - this.openedAt >= this.cooldownMs) {
      this.stateValue = 'half-open';
      this.probeInFlight = true;
      return true;
    }
    if (this.stateValue === 'half-open' && !this.probeInFlight) {
      this.probeInFlight = true;
      return true;
    }
    return false;
  }

  onSuccess(): void {
    this.consecutiveFailures = 0;
    this.probeInFlight = false;
    this.stateValue = 'closed';
    this.lastError = '';
  }

  onFailure(message: string): void {
    this.lastError = message;
    this.consecutiveFailures++;
    this.probeInFlight = false;
    if (this.stateValue === 'half-open' || this.consecutiveFailures >= this.failureThreshold) {
      this.stateValue = 'open';
      this.openedAt = this.now();
    }
  }

  /** A call admitted by tryAcquire() that ended without telling success or failure (e.g. aborted). */
  release(): void {
    this.probeInFlight = false;
  }
}
