// Micro-benchmark of the v2 codec on the router's hot path (no HTTP): microseconds per call to
// encode/decode a request of B Fashion-MNIST rows and a response of B x 10 logits, binary and JSON.
//
//   npm run build && node dist/bench/model-server-codec.js [--batches 1,32]

import {
  decodeInferRequest,
  decodeInferResponse,
  encodeInferRequest,
  encodeInferResponse,
  type EncodedMessage,
} from '../runtime/oip/codec.js';
import { alignedBuffer } from '../runtime/oip/body.js';
import type { InferRequest, InferResponse } from '../runtime/oip/types.js';
import { formatTable } from '../core/text/table.js';
import { benchFlags } from './flags.js';

function perCallMicros(fn: () => unknown): number {
  for (let i = 0; i < 50; i++) fn();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 300) {
    fn();
    n++;
  }
  return ((performance.now() - t0) * 1000) / n;
}

/** The body as the server reads it: header at an offset that puts the binary part 8-byte aligned. */
function asReceived(enc: EncodedMessage): { body: Buffer; hl?: number } {
  const h = enc.headers['Inference-Header-Content-Length'];
  const hl = h === undefined ? undefined : Number(h);
  const body = alignedBuffer(enc.body.length, hl ?? 0);
  enc.body.copy(body);
  return { body, hl };
}

function main(): void {
  const values = benchFlags('node dist/bench/model-server-codec.js [flags]', 'v2 codec cost per call, binary vs JSON.', {
    batches: { kind: 'string', default: '1,32', help: 'comma-separated batch sizes' },
  }) as Record<string, string>;
  const rows: string[][] = [];
  for (const b of values.batches!.split(',').map(Number)) {
    const data = new Float32Array(b * 784).map((_, i) => (i % 255) / 255);
    const req: InferRequest = { id: 'r', inputs: [{ name: 'input', datatype: 'FP32', shape: [b, 1, 28, 28], data }] };
    const logits = new Float32Array(b * 10).map((_, i) => Math.sin(i));
    const res: InferResponse = { model_name: 'cascade', outputs: [{ name: 'logits', datatype: 'FP32', shape: [b, 10], data: logits }] };
    for (const binary of [true, false]) {
      const reqEnc = encodeInferRequest(req, { binaryInputs: binary, binaryOutputs: binary });
      const resEnc = encodeInferResponse(res, () => binary);
      const rq = asReceived(reqEnc);
      const rs = asReceived(resEnc);
      rows.push([
        String(b),
        binary ? 'binary' : 'JSON',
        perCallMicros(() => encodeInferRequest(req, { binaryInputs: binary, binaryOutputs: binary })).toFixed(1),
        perCallMicros(() => decodeInferRequest(rq.body, rq.hl)).toFixed(1),
        perCallMicros(() => encodeInferResponse(res, () => binary)).toFixed(1),
        perCallMicros(() => decodeInferResponse(rs.body, rs.hl)).toFixed(1),
      ]);
    }
  }
  const header = ['batch', 'format', 'enc req us', 'dec req us', 'enc res us', 'dec res us'];
  console.log('v2 codec, microseconds per call (FP32 [B,1,28,28] request, FP32 [B,10] response)');
  console.log(formatTable(header, rows));
}

main();
