// The saver run inside the router process (`tinysaver route --saver-onnx PATH`) instead of behind a
// model server on localhost. It saves the router -> saver HTTP round trip, which on a small node costs
// more than a tiny saver's inference (measured: a bare node:http forwarder adds ~0.3 ms p50; bench/router.ts).
// Requests are validated with the model server's own checks, so a bad request gets the same 400 as in
// sidecar mode; the router's coalescing (--max-coalesce-rows) does the batching the model server would.
// onnxruntime-node runs inference on the calling thread, so this suits small CPU savers.

import { OipError, type InferRequest, type InferResponse } from '../oip/types.js';
import { loadOnnxModel, type OnnxModel } from '../onnx/session.js';
import { isBatchable, validateRequest } from '../server/validate.js';
import type { Upstream } from './cascade.js';
import type { ModelMeta } from './compat.js';

export interface LocalSaver {
  upstream: Upstream;
  metadata: ModelMeta;
  close(): Promise<void>;
}

export interface LocalSaverOptions {
  /** name reported in errors and metadata */
  name: string;
  /** onnxruntime intra-op threads (default 1: the saver shares the router's core budget) */
  intraOpThreads?: number;
}

/** Wrap an already loaded model (tinysaver up shares one session between the saver server and the router). */
export function localSaver(model: OnnxModel, name: string, ownsModel = false): LocalSaver {
  if (!isBatchable(model)) {
    const fixed = [...model.inputs, ...model.outputs].find((m) => !(m.shape.length >= 1 && m.shape[0] === -1));
    const what = fixed ? `tensor '${fixed.name}' has shape [${fixed.shape.join(',')}]` : 'it has no tensors';
    throw new Error(
      `saver ${model.path}: ${what}; running the saver in the router needs a dynamic batch dimension (dim 0) on every input and output`,
    );
  }
  const metadata: ModelMeta = {
    name,
    versions: ['1'],
    platform: 'onnxruntime_onnx',
    inputs: model.inputs.map((m) => ({ name: m.name, datatype: m.datatype, shape: [...m.shape] })),
    outputs: model.outputs.map((m) => ({ name: m.name, datatype: m.datatype, shape: [...m.shape] })),
  };
  return {
    metadata,
    upstream: {
      label: `"${name}" (${model.path}, in the router)`,
      // The timeout cannot apply: the run is synchronous in onnxruntime-node and cannot be abandoned.
      async infer(req: InferRequest): Promise<InferResponse> {
        const v = validateRequest(req, model.inputs, model.outputs, { batchable: true });
        let outputs;
        try {
          outputs = await model.run(v.inputs, v.outputNames);
        } catch (e) {
          throw new OipError(500, `saver inference failed: ${(e as Error).message.split('\n')[0]}`);
        }
        const res: InferResponse = {
          model_name: name,
          model_version: '1',
          outputs: v.outputNames.map((n) => ({ ...outputs[n], name: n })),
        };
        if (req.id !== undefined) res.id = req.id;
        return res;
      },
    },
    close: async () => {
      if (ownsModel) await model.release();
    },
  };
}

export async function loadLocalSaver(path: string, opts: LocalSaverOptions): Promise<LocalSaver> {
  const model = await loadOnnxModel(path, { intraOpThreads: opts.intraOpThreads ?? 1 });
  try {
    return localSaver(model, opts.name, true);
  } catch (e) {
    await model.release();
    throw e;
  }
}
