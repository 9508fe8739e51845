// Adaptive request coalescing in front of the saver. At most `maxInFlight` saver calls run at once;
// requests that arrive while they run wait and leave together as one merged call. A lone request
// goes out at once (no added delay at low load); under load, HTTP hops are shared by many requests.
// Only requests with the same input layout and requested outputs (the same key) are merged.

export interface Queued {
  key: string;
  rows: number;
}

/** Takes the first queued item and every later one with its key, within maxRows (FIFO); removes them. */
export function takeGroup<T extends Queued>(queue: T[], maxRows: number): T[] {
  const first = queue[0];
  const group: T[] = [first];
  let rows = first.rows;
  let w = 0;
  for (let i = 1; i < queue.length; i++) {
    const item = queue[i];
    if (item.key === first.key && rows + item.rows <= maxRows) {
      group.push(item);
      rows += item.rows;
    } else {
      queue[w++] = item;
    }
  }
  queue.length = w;
  return group;
}
