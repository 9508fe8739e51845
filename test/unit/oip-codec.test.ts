import { describe, expect, test } from 'vitest';
import {
  binaryOutputSelector,
  decodeInferRequest,
  decodeInferResponse,
  encodeInferRequest,
  encodeInferResponse,
  parseHeaderLength,
  type EncodedMessage,
} from '../../runtime/oip/codec.js';
import { floatToHalf, halfToFloat } from '../../runtime/oip/fp16.js';
import { OipError, type Datatype, type InferRequest, type Tensor } from '../../runtime/oip/types.js';

function headerLength(enc: EncodedMessage): number | undefined {
  const v = enc.headers['Inference-Header-Content-Length'];
  return v === undefined ? undefined : Number(v);
}

/** A [2,3] tensor of each datatype with values that exercise its range. */
function sample(datatype: Datatype): Tensor {
  const shape = [2, 3];
  const data = (() => {
    switch (datatype) {
      case 'BOOL':
        return new Uint8Array([1, 0, 1, 1, 0, 0]);
      case 'UINT8':
        return new Uint8Array([0, 1, 127, 128, 254, 255]);
      case 'UINT16':
        return new Uint16Array([0, 1, 300, 40000, 65534, 65535]);
      case 'UINT32':
        return new Uint32Array([0, 1, 70000, 2 ** 31, 2 ** 32 - 2, 2 ** 32 - 1]);
      case 'UINT64':
        return new BigUint64Array([0n, 1n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 2n, 2n ** 64n - 1n]);
      case 'INT8':
        return new Int8Array([-128, -1, 0, 1, 100, 127]);
      case 'INT16':
        return new Int16Array([-32768, -1, 0, 1, 1000, 32767]);
      case 'INT32':
        return new Int32Array([-(2 ** 31), -1, 0, 1, 123456, 2 ** 31 - 1]);
      case 'INT64':
        return new BigInt64Array([-(2n ** 63n), -1n, 0n, 1n, 2n ** 53n + 1n, 2n ** 63n - 1n]);
      case 'FP16':
        return Uint16Array.from([0, 1, -2, 0.5, 65504, -0.000061035156].map(floatToHalf));
      case 'FP32':
        return new Float32Array([0, -1.5, 3.4e38, 1e-30, Math.PI, -0.1]);
      case 'FP64':
        return new Float64Array([0, -1.5, 1.7e308, 5e-324, Math.PI, -0.1]);
      case 'BYTES':
        return [Buffer.from('a'), Buffer.from(''), Buffer.from('héllo'), Buffer.from('x,y'), Buffer.from('"q"'), Buffer.from('z')];
    }
  })();
  return { name: `t_${datatype.toLowerCase()}`, datatype, shape, data };
}

const ALL: Datatype[] = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'];

function plain(t: Tensor): unknown {
  return { ...t, data: Array.isArray(t.data) ? t.data.map((b) => b.toString('hex')) : Array.from(t.data as ArrayLike<unknown>) };
}

function expect400(fn: () => unknown, pattern: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected an OipError').toBeInstanceOf(OipError);
  expect((caught as OipError).status).toBe(400);
  expect((caught as OipError).message).toMatch(pattern);
}

describe('request round trips', () => {
  for (const binary of [false, true]) {
    test.each(ALL)(`%s (${binary ? 'binary' : 'JSON'})`, (dt) => {
      const req: InferRequest = { id: 'req-1', parameters: { p: 1 }, inputs: [sample(dt)], outputs: [{ name: 'out' }] };
      const enc = encodeInferRequest(req, { binaryInputs: binary, binaryOutputs: binary });
      expect(enc.headers['Content-Type']).toBe(binary ? 'application/octet-stream' : 'application/json');
      const dec = decodeInferRequest(enc.body, headerLength(enc));
      expect(dec.id).toBe('req-1');
      expect(dec.inputs.map(plain)).toEqual(req.inputs.map(plain));
      expect(dec.inputs[0].data.constructor).toBe(req.inputs[0].data.constructor);
      expect(dec.inputs[0].parameters).toBeUndefined(); // binary_data_size is a wire detail
      if (binary) {
        expect(dec.parameters).toEqual({ p: 1, binary_data_output: true });
        expect(dec.outputs).toEqual([{ name: 'out', parameters: { binary_data: true } }]);
      } else {
        expect(dec.parameters).toEqual({ p: 1 });
      }
    });
  }

  test('several binary inputs keep their order and offsets', () => {
    const req: InferRequest = { inputs: [sample('INT8'), sample('FP64'), sample('BYTES'), sample('FP32')] };
    const enc = encodeInferRequest(req, { binaryInputs: true });
    const dec = decodeInferRequest(enc.body, headerLength(enc));
    expect(dec.inputs.map(plain)).toEqual(req.inputs.map(plain));
  });

  test('non-finite floats travel in JSON as strings and come back', () => {
    const t: Tensor = { name: 'x', datatype: 'FP32', shape: [4], data: new Float32Array([NaN, Infinity, -Infinity, 1]) };
    const enc = encodeInferRequest({ inputs: [t] });
    expect(enc.body.toString()).toContain('["NaN","Infinity","-Infinity",1]');
    const back = decodeInferRequest(enc.body).inputs[0].data as Float32Array;
    expect(Array.from(back)).toEqual([NaN, Infinity, -Infinity, 1]);
  });

  test('64-bit integers are exact in JSON (numbers up to 2^53, digit strings beyond)', () => {
    const enc = encodeInferRequest({ inputs: [sample('INT64')] });
    expect(enc.body.toString()).toContain('-1,0,1,"9007199254740993","9223372036854775807"]');
    const dec = decodeInferRequest(
      Buffer.from('{"inputs":[{"name":"a","datatype":"INT64","shape":[2],"data":["9007199254740993","-9223372036854775808"]}]}'),
    );
    expect(Array.from(dec.inputs[0].data as BigInt64Array)).toEqual([9007199254740993n, -9223372036854775808n]);
  });
});

describe('response round trips', () => {
  test('mixed binary and JSON outputs, chosen per output', () => {
    const outputs = [sample('FP32'), sample('INT64'), sample('BYTES'), sample('UINT8')];
    const req: InferRequest = {
      inputs: [sample('FP32')],
      parameters: { binary_data_output: true },
      outputs: [{ name: 't_int64', parameters: { binary_data_output: false } }, { name: 't_bytes' }],
    };
    const select = binaryOutputSelector(req);
    expect(outputs.map((o) => select(o.name))).toEqual([true, false, true, true]);
    const enc = encodeInferResponse({ model_name: 'm', model_version: '1', id: 'x', parameters: { route: ['saver'] }, outputs }, select);
    const hl = headerLength(enc)!;
    const header = JSON.parse(enc.body.subarray(0, hl).toString());
    expect(header.outputs.map((o: { data?: unknown }) => o.data === undefined)).toEqual([true, false, true, true]);
    const dec = decodeInferResponse(enc.body, hl);
    expect(dec).toMatchObject({ model_name: 'm', model_version: '1', id: 'x', parameters: { route: ['saver'] } });
    expect(dec.outputs.map(plain)).toEqual(outputs.map(plain));
  });

  test('all-JSON response has no header length and is plain JSON', () => {
    const enc = encodeInferResponse({ model_name: 'm', outputs: [sample('FP64')] }, () => false);
    expect(enc.headers['Inference-Header-Content-Length']).toBeUndefined();
    expect(JSON.parse(enc.body.toString()).outputs[0].data).toHaveLength(6);
    expect(decodeInferResponse(enc.body).outputs.map(plain)).toEqual([plain(sample('FP64'))]);
  });

  test('binaryOutputSelector defaults to JSON', () => {
    expect(binaryOutputSelector({ inputs: [] })('any')).toBe(false);
    expect(binaryOutputSelector({ inputs: [], outputs: [{ name: 'a', parameters: { binary_data_output: true } }] })('a')).toBe(true);
    expect(binaryOutputSelector({ inputs: [], outputs: [{ name: 'a', parameters: { binary_data_output: true } }] })('b')).toBe(false);
  });

  test('response without model_name is rejected', () => {
    expect400(() => decodeInferResponse(Buffer.from('{"outputs":[]}')), /model_name/);
  });

  test('encoding refuses data that does not fit the shape or the datatype', () => {
    expect(() =>
      encodeInferResponse(
        { model_name: 'm', outputs: [{ name: 'o', datatype: 'FP32', shape: [3], data: new Float32Array(2) }] },
        () => true,
      ),
    ).toThrow(/2 elements for shape \[3\]/);
    expect(() =>
      encodeInferResponse(
        { model_name: 'm', outputs: [{ name: 'o', datatype: 'FP32', shape: [2], data: new Float64Array(2) }] },
        () => true,
      ),
    ).toThrow(/does not match datatype FP32/);
  });
});

describe('binary views', () => {
  test('aligned payloads are zero-copy views of the body; misaligned ones are copied correctly', () => {
    const t: Tensor = { name: 'x', datatype: 'FP32', shape: [3], data: new Float32Array([1, 2, 3]) };
    const enc = encodeInferRequest({ inputs: [t] }, { binaryInputs: true });
    const hl = headerLength(enc)!;
    // place the header so the payload lands on a 4-byte boundary of a fresh ArrayBuffer
    for (const pad of [0, 1, 2, 3]) {
      const ab = new ArrayBuffer(enc.body.length + 8);
      const start = (4 - (hl % 4) + pad) % 4;
      const body = Buffer.from(ab, start, enc.body.length);
      enc.body.copy(body);
      const data = decodeInferRequest(body, hl).inputs[0].data as Float32Array;
      expect(Array.from(data)).toEqual([1, 2, 3]);
      expect(data.buffer === ab).toBe(pad === 0);
    }
  });
});

describe('JSON nested data', () => {
  const body = (data: unknown, shape: number[], dt = 'INT32') =>
    Buffer.from(JSON.stringify({ inputs: [{ name: 'x', datatype: dt, shape, data }] }));

  test('fully nested, partially nested and flat data flatten row-major', () => {
    const want = [1, 2, 3, 4, 5, 6];
    for (const data of [
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
      [1, 2, 3, 4, 5, 6],
    ]) {
      expect(Array.from(decodeInferRequest(body(data, [2, 3])).inputs[0].data as Int32Array)).toEqual(want);
    }
    expect(
      Array.from(
        decodeInferRequest(
          body(
            [
              [1, 2, 3],
              [4, 5, 6],
            ],
            [2, 1, 3],
          ),
        ).inputs[0].data as Int32Array,
      ),
    ).toEqual(want);
    expect(Array.from(decodeInferRequest(body([[[1, 2, 3]], [[4, 5, 6]]], [2, 1, 3])).inputs[0].data as Int32Array)).toEqual(want);
  });

  test('nesting that disagrees with the shape is rejected', () => {
    expect400(
      () =>
        decodeInferRequest(
          body(
            [
              [1, 2],
              [3, 4],
              [5, 6],
            ],
            [2, 3],
          ),
        ),
      /nested data has 3 entries where shape \[2,3\] has 2/,
    );
    expect400(
      () =>
        decodeInferRequest(
          body(
            [
              [1, 2, 3],
              [4, 5],
            ],
            [2, 3],
          ),
        ),
      /nested data\[1\] has 2 elements/,
    );
    expect400(() => decodeInferRequest(body([[1, 2, 3], 4], [2, 3])), /not an array like its siblings/);
  });
});

describe('malformed requests: 400 naming the problem', () => {
  const one = (t: Record<string, unknown>) =>
    Buffer.from(JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2], data: [1, 2], ...t }] }));

  test('malformed JSON', () => expect400(() => decodeInferRequest(Buffer.from('{"inputs": [')), /malformed JSON/));
  test('JSON that is not an object', () => expect400(() => decodeInferRequest(Buffer.from('[1]')), /must be an object/));
  test('missing inputs', () => expect400(() => decodeInferRequest(Buffer.from('{}')), /missing "inputs"/));
  test('empty inputs', () => expect400(() => decodeInferRequest(Buffer.from('{"inputs":[]}')), /"inputs" is empty/));
  test('inputs not an array', () => expect400(() => decodeInferRequest(Buffer.from('{"inputs":{}}')), /"inputs" must be an array/));
  test('tensor without name', () => expect400(() => decodeInferRequest(one({ name: 3 })), /inputs\[0\]: "name"/));
  test('duplicate tensor names', () =>
    expect400(
      () =>
        decodeInferRequest(
          Buffer.from(
            '{"inputs":[{"name":"a","datatype":"FP32","shape":[1],"data":[1]},{"name":"a","datatype":"FP32","shape":[1],"data":[1]}]}',
          ),
        ),
      /'a' appears twice/,
    ));
  test('unknown datatype', () =>
    expect400(() => decodeInferRequest(one({ datatype: 'FLOAT32' })), /tensor 'x': unknown datatype "FLOAT32"/));
  test('shape not an array', () => expect400(() => decodeInferRequest(one({ shape: 2 })), /tensor 'x': "shape" must be an array/));
  test('negative dimension', () => expect400(() => decodeInferRequest(one({ shape: [-1] })), /tensor 'x': shape dimension -1/));
  test('fractional dimension', () => expect400(() => decodeInferRequest(one({ shape: [1.5] })), /shape dimension 1.5/));
  test('element count mismatch', () =>
    expect400(() => decodeInferRequest(one({ shape: [3] })), /tensor 'x': shape \[3\] needs 3 elements, data has 2/));
  test('data not an array', () => expect400(() => decodeInferRequest(one({ data: 'abc' })), /tensor 'x': "data" must be an array/));
  test('no data at all', () => expect400(() => decodeInferRequest(one({ data: undefined })), /neither "data" nor binary_data_size/));
  test('non-numeric value', () =>
    expect400(() => decodeInferRequest(one({ data: [1, 'abc'] })), /tensor 'x': element 1 "abc" is not a number/));
  test('null value', () => expect400(() => decodeInferRequest(one({ data: [null, 1] })), /element 0 null is not a number/));
  test('fractional integer', () =>
    expect400(() => decodeInferRequest(one({ datatype: 'INT32', data: [1, 2.5] })), /element 1 2.5 is not an integer/));
  test('integer out of range', () =>
    expect400(() => decodeInferRequest(one({ datatype: 'UINT8', data: [1, 256] })), /element 1 256 is out of range for UINT8/));
  test('negative unsigned 64-bit', () =>
    expect400(() => decodeInferRequest(one({ datatype: 'UINT64', data: [1, -1] })), /out of range for UINT64/));
  test('bad boolean', () =>
    expect400(() => decodeInferRequest(one({ datatype: 'BOOL', data: [true, 'yes'] })), /element 1 "yes" is not a boolean/));
  test('BYTES element not a string', () =>
    expect400(() => decodeInferRequest(one({ datatype: 'BYTES', data: ['a', 1] })), /element 1 1 is not a string/));
  test('parameters not an object', () =>
    expect400(() => decodeInferRequest(one({ parameters: [1] })), /tensor 'x': "parameters" must be an object/));
  test('id not a string', () =>
    expect400(
      () => decodeInferRequest(Buffer.from('{"id":5,"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]}')),
      /"id" must be a string/,
    ));
  test('requested outputs malformed', () =>
    expect400(
      () => decodeInferRequest(Buffer.from('{"outputs":[{}],"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]}')),
      /outputs\[0\] must be an object with a string "name"/,
    ));

  describe('binary extension', () => {
    const bin = (declared: number, payload: Buffer, extra: Record<string, unknown> = {}) => {
      const header = Buffer.from(
        JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2], parameters: { binary_data_size: declared }, ...extra }] }),
      );
      return { body: Buffer.concat([header, payload]), hl: header.length };
    };
    test('truncated binary payload', () => {
      const { body, hl } = bin(8, Buffer.alloc(5));
      expect400(() => decodeInferRequest(body, hl), /tensor 'x': binary payload truncated: needs 8 bytes at offset \d+, body has 5/);
    });
    test('binary_data_size disagreeing with the shape', () => {
      const { body, hl } = bin(4, Buffer.alloc(4));
      expect400(() => decodeInferRequest(body, hl), /tensor 'x': binary_data_size 4 does not match 2 FP32 elements \(8 bytes\)/);
    });
    test('bytes left over after the tensors', () => {
      const { body, hl } = bin(8, Buffer.alloc(12));
      expect400(() => decodeInferRequest(body, hl), /4 bytes after the JSON header are not claimed/);
    });
    test('binary_data_size without a header length (whole body parsed as JSON)', () => {
      const { body } = bin(8, Buffer.alloc(8));
      expect400(() => decodeInferRequest(body), /malformed JSON/);
    });
    test('binary_data_size not a byte count', () => {
      const { body, hl } = bin(-8, Buffer.alloc(8));
      expect400(() => decodeInferRequest(body, hl), /binary_data_size -8 is not a byte count/);
    });
    test('both data and binary_data_size', () => {
      const { body, hl } = bin(8, Buffer.alloc(8), { data: [1, 2] });
      expect400(() => decodeInferRequest(body, hl), /both "data" and binary_data_size/);
    });
    test('header length beyond the body', () => {
      const { body } = bin(8, Buffer.alloc(8));
      expect400(() => decodeInferRequest(body, body.length + 1), /Inference-Header-Content-Length \d+ is not a byte count within the body/);
    });
    test('header length header that is not a number', () => {
      expect400(() => parseHeaderLength('12abc'), /Inference-Header-Content-Length "12abc"/);
      expect(parseHeaderLength(' 42 ')).toBe(42);
      expect(parseHeaderLength(undefined)).toBeUndefined();
    });
    test('BYTES element length beyond the payload', () => {
      const payload = Buffer.alloc(6);
      payload.writeUInt32LE(100, 0);
      const header = Buffer.from(
        JSON.stringify({ inputs: [{ name: 's', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 6 } }] }),
      );
      expect400(
        () => decodeInferRequest(Buffer.concat([header, payload]), header.length),
        /tensor 's': BYTES element 0 declares 100 bytes/,
      );
    });
  });
});

describe('fp16', () => {
  test('known values', () => {
    expect(floatToHalf(1)).toBe(0x3c00);
    expect(floatToHalf(-2)).toBe(0xc000);
    expect(floatToHalf(65504)).toBe(0x7bff);
    expect(floatToHalf(1e6)).toBe(0x7c00);
    expect(floatToHalf(2 ** -24)).toBe(0x0001);
    expect(halfToFloat(0x3555)).toBeCloseTo(0.333251953125, 12);
    expect(Number.isNaN(halfToFloat(floatToHalf(NaN)))).toBe(true);
  });
  test('every finite half survives half -> float -> half', () => {
    const wrong: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00) continue;
      if (floatToHalf(halfToFloat(h)) !== h) wrong.push(h);
    }
    expect(wrong).toEqual([]);
  });
});
