// Plain-text tables for CLI reports and benchmarks: text columns left-aligned (by default only the
// first), the rest right-aligned so numbers line up, a dashed rule under the header.

export function formatTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  left: (column: number) => boolean = (i) => i === 0,
): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => (left(i) ? c.padEnd(w[i]) : c.padStart(w[i])))
      .join('  ')
      .trimEnd();
  return [line(header), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n');
}
