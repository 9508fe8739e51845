import { describe, expect, it } from 'vitest';
import { formatTable } from '../../core/text/table.js';

describe('formatTable', () => {
  it('left-aligns text columns, right-aligns the rest, rules the header, trims trailing blanks', () => {
    expect(
      formatTable(
        ['model', 'MACs'],
        [
          ['base', '8186240'],
          ['saver-linear', '7840'],
        ],
      ),
    ).toBe(['model            MACs', '------------  -------', 'base          8186240', 'saver-linear     7840'].join('\n'));
    expect(formatTable(['#', 'name', 'note'], [['1', 'a', '']], (i) => i >= 1)).toBe(['#  name  note', '-  ----  ----', '1  a'].join('\n'));
  });
});
