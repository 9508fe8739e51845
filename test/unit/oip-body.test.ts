import { expect, test } from 'vitest';
import { BodyCollector } from '../../runtime/oip/body.js';
import { decodeInferRequest, encodeInferRequest } from '../../runtime/oip/codec.js';

const enc = encodeInferRequest(
  { inputs: [{ name: 'x', datatype: 'FP64', shape: [3], data: new Float64Array([1.5, -2, 3]) }] },
  { binaryInputs: true },
);
const hl = Number(enc.headers['Inference-Header-Content-Length']);

for (const declared of [true, false]) {
  test(`collected bodies put the binary tensors on an 8-byte boundary (${declared ? 'Content-Length' : 'chunked'})`, () => {
    const c = new BodyCollector(declared ? enc.body.length : undefined, hl);
    for (let off = 0; off < enc.body.length; off += 7) c.push(enc.body.subarray(off, off + 7));
    const body = c.finish();
    expect(body.equals(enc.body)).toBe(true);
    expect((body.byteOffset + hl) % 8).toBe(0);
    const data = decodeInferRequest(body, hl).inputs[0].data as Float64Array;
    expect(Array.from(data)).toEqual([1.5, -2, 3]);
    expect(data.buffer).toBe(body.buffer); // a view, not a copy
  });
}

test('a body longer than declared is still collected whole', () => {
  const c = new BodyCollector(4, 0);
  c.push(Buffer.from('abc'));
  c.push(Buffer.from('defg'));
  expect(c.finish().toString()).toBe('abcdefg');
});
