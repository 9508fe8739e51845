// Coalescing of escalations: at most `maxInFlight` base calls run at once; escalated sub-batches that
// arrive meanwhile wait and leave together as one call, then each gets its own rows back. At batch 1
// and high concurrency most base calls would otherwise carry a single row, and a base call costs an
// HTTP round trip on both ends (measured: an escalated row cost more base CPU than a base-only row).
// A lone escalation goes out at once, so low load adds no delay. Same-key rule as the saver's
// coalescing (coalesce.ts): only sub-batches with the same input layout and outputs are merged.

import type { InferRequest, InferResponse } from '../oip/types.js';
import { takeGroup } from './coalesce.js';
import { concatRows, sliceRowRange } from './split.js';

export interface RowBatcherOptions {
  /** calls in flight at most */
  maxInFlight: number;
  /** most rows merged into one call */
  maxRows: number;
}

interface Waiting {
  req: InferRequest;
  rows: number;
  key: string;
  resolve: (r: InferResponse) => void;
  reject: (e: unknown) => void;
}

/** Requests may share a call when their inputs (names, datatypes, row shapes) and requested outputs match. */
export function layoutKey(req: InferRequest): string {
  let key = '';
  for (const t of req.inputs) key += `${t.name}\u0000${t.datatype}\u0000${t.shape.slice(1).join(',')}\u0001`;
  key += req.outputs ? req.outputs.map((r) => r.name).join('\u0000') : '*';
  return key;
}

export class RowBatcher {
  private readonly queue: Waiting[] = [];
  private inFlight = 0;
  /** calls made and rows sent (tests and benchmarks read them) */
  calls = 0;
  rowsSent = 0;

  /** `call` gets the merged request and its row count; its rejection reaches every merged caller. */
  constructor(
    private readonly call: (req: InferRequest, rows: number) => Promise<InferResponse>,
    private readonly opts: RowBatcherOptions,
  ) {}

  /** One sub-batch of `rows` rows; resolves with a response holding exactly those rows. */
  submit(req: InferRequest, rows: number): Promise<InferResponse> {
    return new Promise<InferResponse>((resolve, reject) => {
      this.queue.push({ req, rows, key: layoutKey(req), resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.opts.maxInFlight && this.queue.length > 0) {
      const group = takeGroup(this.queue, this.opts.maxRows);
      this.inFlight++;
      void this.run(group).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async run(group: Waiting[]): Promise<void> {
    const rows = group.reduce((n, w) => n + w.rows, 0);
    const merged: InferRequest =
      group.length === 1
        ? group[0].req
        : { inputs: group[0].req.inputs.map((_, k) => concatRows(group.map((w) => w.req.inputs[k]))), outputs: group[0].req.outputs };
    this.calls++;
    this.rowsSent += rows;
    let res: InferResponse;
    try {
      res = await this.call(merged, rows);
    } catch (e) {
      for (const w of group) w.reject(e);
      return;
    }
    if (group.length === 1) return group[0].resolve(res);
    let offset = 0;
    for (const w of group) {
      const from = offset;
      offset += w.rows;
      w.resolve({ ...res, outputs: res.outputs.map((t) => sliceRowRange(t, from, w.rows)) });
    }
  }
}
