// Audit sampling: a seeded random fraction of the saver-answered rows is also sent to the base,
// after the response has gone out, so the controller can estimate saver/base disagreement above the
// threshold. Seeded so tests (and replays) see the same sample; bounded so audits can never pile up
// behind a slow base: when every slot is busy the audit is dropped and counted instead.

/** Picks which of the given saver-answered rows to audit; one random draw per row. */
export function sampleAuditRows(saverRows: ArrayLike<number>, rate: number, random: () => number): number[] {
  const picked: number[] = [];
  if (rate <= 0) return picked;
  for (let i = 0; i < saverRows.length; i++) {
    if (random() < rate) picked.push(saverRows[i]);
  }
  return picked;
}

/** At most `limit` concurrent jobs; tryRun() refuses (returns false) instead of queueing. */
export class BoundedRunner {
  private active = 0;
  private readonly idleWaiters: Array<() => void> = [];

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`limit must be an integer >= 0, got ${limit}`);
  }

  get inFlight(): number {
    return this.active;
  }

  tryRun(job: () => Promise<void>): boolean {
    if (this.active >= this.limit) return false;
    this.active++;
    void job()
      .catch(() => undefined)
      .finally(() => {
        this.active--;
        if (this.active === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
    return true;
  }

  /** Resolves when no job is running (used on shutdown and by tests). */
  idle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
