import { describe, expect, it } from 'vitest';
import { ProtobufError } from '../../runtime/profile/protobuf.js';
import { formatProfile, profileOnnxBytes } from '../../runtime/profile/profile.js';
import { onnxModel } from './profile-fixtures.js';

// Expected MACs below are worked out by hand from the ONNX operator definitions:
// conv MACs = N * Cout * Hout * Wout * (Cin / group) * kh * kw,  Hout = floor((H + pads - d(k-1) - 1) / s) + 1.

describe('profile: Conv', () => {
  it('groups, dilation, pads and strides', () => {
    // x [1, 8, 32, 32]; w [16, 4, 3, 3], group 2, stride 2, dilation 2, pads 1 all round
    // Hout = floor((32 + 2 - 2*2 - 1) / 2) + 1 = floor(29 / 2) + 1 = 15
    const bytes = onnxModel({
      inputs: [{ name: 'x', dims: ['N', 8, 32, 32] }],
      outputs: [{ name: 'y', dims: ['N', 16, 15, 15] }],
      initializers: [
        { name: 'w', dims: [16, 4, 3, 3] },
        { name: 'b', dims: [16] },
      ],
      nodes: [
        {
          op: 'Conv',
          inputs: ['x', 'w', 'b'],
          outputs: ['y'],
          attrs: [
            { name: 'group', i: 2 },
            { name: 'strides', ints: [2, 2] },
            { name: 'dilations', ints: [2, 2] },
            { name: 'pads', ints: [1, 1, 1, 1] },
          ],
        },
      ],
    });
    const p = profileOnnxBytes(bytes);
    expect(p.ops[0].outputShape).toEqual([1, 16, 15, 15]);
    expect(p.macs).toBe(16 * 15 * 15 * 4 * 9);
    expect(p.params).toBe(16 * 4 * 9 + 16);
    expect(p.flops).toBe(2 * p.macs);
    expect(p.complete).toBe(true);
    expect(p.inputs).toEqual([{ name: 'x', shape: [1, 8, 32, 32] }]);
  });

  it('depthwise with asymmetric pads and SAME_UPPER auto_pad', () => {
    const bytes = onnxModel({
      inputs: [{ name: 'x', dims: [1, 6, 10, 9] }],
      outputs: [{ name: 'z', dims: [] }],
      initializers: [
        { name: 'w', dims: [6, 1, 3, 3] },
        { name: 'w2', dims: [4, 6, 1, 1] },
      ],
      nodes: [
        // Hout = floor((10 + 0 + 2 - 3) / 1) + 1 = 10, Wout = floor((9 + 1 + 0 - 3)/1) + 1 = 8
        {
          op: 'Conv',
          inputs: ['x', 'w'],
          outputs: ['y'],
          attrs: [
            { name: 'group', i: 6 },
            { name: 'pads', ints: [0, 1, 2, 0] },
          ],
        },
        // SAME_UPPER, stride 3: ceil(10/3) = 4, ceil(8/3) = 3
        {
          op: 'Conv',
          inputs: ['y', 'w2'],
          outputs: ['z'],
          attrs: [
            { name: 'auto_pad', s: 'SAME_UPPER' },
            { name: 'strides', ints: [3, 3] },
          ],
        },
      ],
    });
    const p = profileOnnxBytes(bytes);
    expect(p.ops[0].outputShape).toEqual([1, 6, 10, 8]);
    expect(p.ops[0].macs).toBe(6 * 10 * 8 * 1 * 9);
    expect(p.ops[1].outputShape).toEqual([1, 4, 4, 3]);
    expect(p.ops[1].macs).toBe(4 * 4 * 3 * 6);
  });

  it('names the node when channels do not match the weight', () => {
    const bytes = onnxModel({
      inputs: [{ name: 'x', dims: [1, 3, 8, 8] }],
      outputs: [{ name: 'y', dims: [] }],
      initializers: [{ name: 'w', dims: [4, 2, 3, 3] }],
      nodes: [{ op: 'Conv', name: 'bad_conv', inputs: ['x', 'w'], outputs: ['y'] }],
    });
    const p = profileOnnxBytes(bytes);
    expect(p.complete).toBe(false);
    expect(p.unresolved[0].reason).toMatch(/bad_conv.*3 channels/);
    expect(formatProfile(p, 'm')).toMatch(/LOWER BOUND/);
  });
});

describe('profile: a small CNN classifier end to end', () => {
  // The dynamic-batch flatten chain torch emits (Shape -> Gather -> Unsqueeze -> Concat -> Reshape),
  // BatchNorm (buffers excluded from params), pooling with ceil_mode, Slice with Constant inputs,
  // Gemm with transB, MatMul, Softmax.
  const bytes = onnxModel({
    opset: 13,
    inputs: [{ name: 'x', dims: ['batch', 1, 28, 28] }],
    outputs: [{ name: 'prob', dims: ['batch', 10] }],
    initializers: [
      { name: 'cw', dims: [8, 1, 3, 3] },
      { name: 'cb', dims: [8] },
      { name: 'g', dims: [8] },
      { name: 'beta', dims: [8] },
      { name: 'mean', dims: [8] },
      { name: 'var', dims: [8] },
      { name: 'fw', dims: [10, 200] },
      { name: 'fb', dims: [10] },
      { name: 'idx0', dims: [], int64: [0] },
      { name: 'minus1', dims: [1], int64: [-1] },
      { name: 'ax0', dims: [1], int64: [0] },
      { name: 'm', dims: [10, 10] },
    ],
    nodes: [
      { op: 'Constant', inputs: [], outputs: ['sl_start'], attrs: [{ name: 'value', t: { name: '', dims: [1], int64: [0] } }] },
      { op: 'Constant', inputs: [], outputs: ['sl_end'], attrs: [{ name: 'value', t: { name: '', dims: [1], int64: [200] } }] },
      { op: 'Constant', inputs: [], outputs: ['one'], attrs: [{ name: 'value', t: { name: '', dims: [1], int64: [1] } }] },
      { op: 'Conv', inputs: ['x', 'cw', 'cb'], outputs: ['c'], attrs: [{ name: 'pads', ints: [1, 1, 1, 1] }] }, // [1,8,28,28]
      { op: 'BatchNormalization', inputs: ['c', 'g', 'beta', 'mean', 'var'], outputs: ['bn'] },
      { op: 'Relu', inputs: ['bn'], outputs: ['r'] },
      {
        op: 'MaxPool',
        inputs: ['r'],
        outputs: ['p'],
        attrs: [
          { name: 'kernel_shape', ints: [2, 2] },
          { name: 'strides', ints: [2, 2] },
        ],
      }, // 14x14
      // ceil_mode: ceil((14 - 3) / 2) + 1 = 7 (floor would give 6)
      {
        op: 'AveragePool',
        inputs: ['p'],
        outputs: ['a'],
        attrs: [
          { name: 'kernel_shape', ints: [3, 3] },
          { name: 'strides', ints: [2, 2] },
          { name: 'ceil_mode', i: 1 },
        ],
      },
      { op: 'Shape', inputs: ['a'], outputs: ['s'] },
      { op: 'Gather', inputs: ['s', 'idx0'], outputs: ['n'] },
      { op: 'Unsqueeze', inputs: ['n', 'ax0'], outputs: ['n1'] },
      { op: 'Concat', inputs: ['n1', 'minus1'], outputs: ['shape'], attrs: [{ name: 'axis', i: 0 }] },
      { op: 'Reshape', inputs: ['a', 'shape'], outputs: ['flat'] }, // [1, 392]
      { op: 'Slice', inputs: ['flat', 'sl_start', 'sl_end', 'one', 'one'], outputs: ['cut'] }, // [1, 200]
      { op: 'Gemm', inputs: ['cut', 'fw', 'fb'], outputs: ['logits'], attrs: [{ name: 'transB', i: 1 }] },
      { op: 'MatMul', inputs: ['logits', 'm'], outputs: ['l2'] },
      { op: 'Softmax', inputs: ['l2'], outputs: ['prob'], attrs: [{ name: 'axis', i: 1 }] },
    ],
  });

  it('infers every shape and counts MACs and params', () => {
    const p = profileOnnxBytes(bytes);
    const shapeOf = (name: string) => p.ops.find((o) => o.name === name)?.outputShape;
    expect(p.unresolved).toEqual([]);
    expect(p.unknownOps).toEqual([]);
    expect(shapeOf('c')).toEqual([1, 8, 28, 28]);
    expect(shapeOf('a')).toEqual([1, 8, 7, 7]);
    expect(shapeOf('flat')).toEqual([1, 392]);
    expect(shapeOf('cut')).toEqual([1, 200]);
    expect(shapeOf('prob')).toEqual([1, 10]);
    expect(p.outputs).toEqual([{ name: 'prob', shape: [1, 10] }]);
    // conv 8*28*28*1*9 + gemm 200*10 + matmul 10*10
    expect(p.macs).toBe(8 * 28 * 28 * 9 + 2000 + 100);
    // float initializers minus BN running stats (mean, var: 16 buffer elements)
    expect(p.params).toBe(72 + 8 + 8 + 8 + 2000 + 10 + 100);
    expect(p.buffers).toBe(16);
    const text = formatProfile(p, 'small');
    expect(text).toMatch(/MACs:\s+58,548/);
    expect(text).not.toMatch(/LOWER BOUND/);
  });
});

describe('profile: unknown ops and bad input', () => {
  it('lists unknown ops, keeps going with declared shapes, marks the total as a lower bound', () => {
    const bytes = onnxModel({
      inputs: [{ name: 'x', dims: [1, 4] }],
      outputs: [{ name: 'z', dims: [1, 3] }],
      initializers: [{ name: 'w', dims: [4, 3] }],
      nodes: [
        { op: 'FancyOp', domain: 'com.example', inputs: ['x'], outputs: ['y'] },
        { op: 'MatMul', inputs: ['y', 'w'], outputs: ['z'] },
      ],
    });
    const p = profileOnnxBytes(bytes);
    expect(p.unknownOps).toEqual([{ opType: 'FancyOp', count: 1 }]);
    expect(p.complete).toBe(false);
    // MatMul's input shape is unknown (FancyOp's output not declared) -> unresolved, listed with a reason
    expect(p.unresolved.map((u) => u.name)).toEqual(['z']);
    expect(p.unresolved[0].reason).toMatch(/input 0 \("y"\) is unknown/);
    expect(formatProfile(p, 'm')).toMatch(/unknown ops \(not counted\): FancyOp x1/);
  });

  it('MatMul batched broadcast and Flatten', () => {
    const bytes = onnxModel({
      inputs: [
        { name: 'a', dims: [2, 1, 5, 6] },
        { name: 'b', dims: [3, 6, 7] },
      ],
      outputs: [{ name: 'f', dims: [] }],
      nodes: [
        { op: 'MatMul', inputs: ['a', 'b'], outputs: ['c'] }, // [2,3,5,7]
        { op: 'Flatten', inputs: ['c'], outputs: ['f'], attrs: [{ name: 'axis', i: 2 }] }, // [6, 35]
      ],
    });
    const p = profileOnnxBytes(bytes);
    expect(p.ops[0].outputShape).toEqual([2, 3, 5, 7]);
    expect(p.macs).toBe(2 * 3 * 5 * 7 * 6);
    expect(p.ops[1].outputShape).toEqual([6, 35]);
  });

  it('rejects truncated and non-ONNX bytes with a clear error', () => {
    const good = onnxModel({ inputs: [{ name: 'x', dims: [1] }], outputs: [{ name: 'x', dims: [1] }], nodes: [] });
    expect(() => profileOnnxBytes(good.subarray(0, good.length - 3))).toThrow(ProtobufError);
    expect(() => profileOnnxBytes(Uint8Array.from([0x08, 0x01]))).toThrow(/no graph/);
    expect(() => profileOnnxBytes(Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0x0f]))).toThrow(/runs past the end/);
  });
});
