// gRPC v2 (inference.GRPCInferenceService) on the model server and the router, driven by grpcurl (a
// client this project did not write) with the spec's .proto: health, metadata, infer with raw and typed
// contents, the same answers as the REST edge, and bad input answered with a status naming the problem
// while the server keeps serving. The router calling its base over gRPC (--base-protocol grpc) too.

import { execFile, spawn } from 'node:child_process';
import http2 from 'node:http2';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zooModelPath } from '../../models/zoo.js';
import { V2Client } from '../../runtime/oip/client.js';
import { FLOW_CONTROL_WINDOW, GrpcV2Client, PROTO_PATH } from '../../runtime/oip/grpc.js';
import { parseRoutes } from '../../runtime/router/row-params.js';
import { startRouter, type RunningRouter } from '../../runtime/router/server.js';
import { startModelServer, type RunningModelServer } from '../../runtime/server/model-server.js';
import { goTool } from '../support/go-tools.js';
import { BASE, QUIET_LOG, SAVER, imageBatch, metricsText, sample, testImages } from './router-helpers.js';

const exec = promisify(execFile);
const BIN = fileURLToPath(new URL('../../bin/tinysaver.js', import.meta.url));
let grpcurl: string;
let saver: RunningModelServer;
let base: RunningModelServer;
let router: RunningRouter;
let images: Float32Array;

beforeAll(async () => {
  grpcurl = await goTool('grpcurl');
  [saver, base] = await Promise.all(
    [SAVER, BASE].map((m) => startModelServer({ modelPath: zooModelPath(m), name: m, port: 0, grpcPort: 0, maxQueueDelayMs: 0 })),
  );
  router = await startRouter({
    ...QUIET_LOG,
    port: 0,
    grpcPort: 0,
    saverUrl: saver.url,
    saverModel: SAVER,
    baseUrl: base.url,
    baseModel: BASE,
    threshold: 0.7,
  });
  images = (await testImages(16)).images;
}, 1_800_000);

afterAll(async () => {
  await router?.close();
  await Promise.all([saver?.close(), base?.close()]);
});

interface GrpcurlResult {
  ok: boolean;
  json?: Record<string, unknown>;
  stderr: string;
}

/** One grpcurl call with the spec's .proto; `data` is the request message as JSON. */
async function call(address: string, method: string, data: unknown = {}): Promise<GrpcurlResult> {
  const args = [
    '-plaintext',
    '-import-path',
    dirname(PROTO_PATH),
    '-proto',
    'grpc_predict_v2.proto',
    '-max-msg-sz',
    String(256 << 20),
    '-d',
    '@',
    address,
    `inference.GRPCInferenceService/${method}`,
  ];
  try {
    const child = exec(grpcurl, args, { maxBuffer: 64 << 20 });
    child.child.stdin!.end(JSON.stringify(data));
    const { stdout, stderr } = await child;
    return { ok: true, json: JSON.parse(stdout) as Record<string, unknown>, stderr };
  } catch (e) {
    return { ok: false, stderr: String((e as { stderr?: string }).stderr ?? e) };
  }
}

/** Field of a grpcurl JSON answer under its proto name or its JSON (lowerCamel) name. */
function field<T>(obj: Record<string, unknown> | undefined, protoName: string): T {
  const camel = protoName.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  return (obj?.[protoName] ?? obj?.[camel]) as T;
}

function rawImages(rows: number): string {
  const data = images.subarray(0, rows * 784);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
}

function inferMessage(model: string, rows: number, extra: Record<string, unknown> = {}) {
  return {
    model_name: model,
    inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, 1, 28, 28] }],
    raw_input_contents: [rawImages(rows)],
    ...extra,
  };
}

function floats(b64: string): Float32Array {
  const b = Buffer.from(b64, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

describe.each([
  ['model server', () => ({ address: saver.grpcAddress!, model: SAVER, http: saver.url })],
  ['router', () => ({ address: router.grpcAddress!, model: 'cascade', http: router.url })],
])('%s over gRPC (grpcurl)', (_label, target) => {
  it('health and metadata', async () => {
    const t = target();
    expect((await call(t.address, 'ServerLive')).json).toEqual({ live: true });
    expect((await call(t.address, 'ServerReady')).json).toEqual({ ready: true });
    expect((await call(t.address, 'ModelReady', { name: t.model })).json).toEqual({ ready: true });
    expect(field<string>((await call(t.address, 'ServerMetadata')).json, 'name')).toMatch(/^tinysaver/);
    const meta = (await call(t.address, 'ModelMetadata', { name: t.model })).json!;
    const rest = (await (await fetch(`${t.http}/v2/models/${t.model}`)).json()) as {
      name: string;
      inputs: Array<{ name: string; datatype: string; shape: number[] }>;
    };
    expect(meta.name).toBe(rest.name);
    const inputs = meta.inputs as Array<{ name: string; datatype: string; shape: string[] }>;
    expect(inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: i.shape.map(Number) }))).toEqual(rest.inputs);
  });

  it('infer with raw contents answers what the REST edge answers', async () => {
    const t = target();
    const r = await call(t.address, 'ModelInfer', inferMessage(t.model, 4));
    expect(r.ok, r.stderr).toBe(true);
    const outputs = r.json!.outputs as Array<{ name: string; datatype: string; shape: string[] }>;
    expect(outputs[0]).toMatchObject({ name: 'logits', datatype: 'FP32' });
    expect(outputs[0].shape.map(Number)).toEqual([4, 10]);
    const raw = field<string[]>(r.json, 'raw_output_contents');
    const viaGrpc = floats(raw[0]);
    const rest = await new V2Client(t.http).infer(t.model, imageBatch(images, 4));
    const viaRest = rest.outputs[0].data as Float32Array;
    expect(viaGrpc.length).toBe(40);
    viaGrpc.forEach((v, i) => expect(v).toBeCloseTo(viaRest[i], 5));
    if (t.model === 'cascade') {
      const params = r.json!.parameters as Record<string, { string_param?: string; stringParam?: string }>;
      const routes = field<string>(params.tinysaver_routes as Record<string, unknown>, 'string_param');
      expect(routes.split(',')).toEqual(parseRoutes(rest.parameters));
    }
  });

  it('infer with typed contents (fp32_contents)', async () => {
    const t = target();
    const data = Array.from(images.subarray(0, 784));
    const r = await call(t.address, 'ModelInfer', {
      model_name: t.model,
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 1, 28, 28], contents: { fp32_contents: data } }],
    });
    expect(r.ok, r.stderr).toBe(true);
    expect(floats(field<string[]>(r.json, 'raw_output_contents')[0])).toHaveLength(10);
  });

  it.each([
    ['unknown model', (m: string) => ({ ...inferMessage(m, 1), model_name: 'nope' }), /Code: NotFound[\s\S]*nope/],
    [
      'wrong raw_input_contents size',
      (m: string) => ({ ...inferMessage(m, 2), inputs: [{ name: 'input', datatype: 'FP32', shape: [3, 1, 28, 28] }] }),
      /Code: InvalidArgument[\s\S]*'input'.*does not match/,
    ],
    [
      'raw_input_contents count',
      (m: string) => ({ ...inferMessage(m, 1), raw_input_contents: [rawImages(1), rawImages(1)] }),
      /Code: InvalidArgument[\s\S]*2 entries for 1 inputs/,
    ],
    [
      'contents for the wrong datatype',
      (m: string) => ({ model_name: m, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 2], contents: { int_contents: [1, 2] } }] }),
      /Code: InvalidArgument[\s\S]*FP32 takes fp32_contents, got int_contents/,
    ],
    [
      'typed and raw contents together',
      (m: string) => ({
        ...inferMessage(m, 1),
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 1, 28, 28], contents: { fp32_contents: [1] } }],
      }),
      /Code: InvalidArgument[\s\S]*both typed contents \(fp32_contents\) and raw_input_contents/,
    ],
    [
      'unknown datatype',
      (m: string) => ({ ...inferMessage(m, 1), inputs: [{ name: 'input', datatype: 'FLOAT', shape: [1, 1, 28, 28] }] }),
      /Code: InvalidArgument[\s\S]*unknown datatype "FLOAT"/,
    ],
    [
      'wrong shape for the model',
      (m: string) => ({ ...inferMessage(m, 1), inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 784] }] }),
      /Code: InvalidArgument[\s\S]*input/,
    ],
  ])('bad input: %s -> a status naming the problem; the server keeps serving', async (_what, msg, expected) => {
    const t = target();
    const r = await call(t.address, 'ModelInfer', msg(t.model));
    expect(r.ok).toBe(false);
    expect(r.stderr).toMatch(expected);
    expect((await call(t.address, 'ModelInfer', inferMessage(t.model, 1))).ok).toBe(true);
  });
});

describe('limits and malformed messages', () => {
  let small: RunningModelServer;
  beforeAll(async () => {
    small = await startModelServer({ modelPath: zooModelPath(SAVER), name: SAVER, port: 0, grpcPort: 0, maxBodyBytes: 100_000 });
  });
  afterAll(async () => {
    await small?.close();
  });

  it('a message over the max receive size is RESOURCE_EXHAUSTED naming the limit; the next call is served', async () => {
    const big = { ...inferMessage(SAVER, 40), raw_input_contents: [Buffer.alloc(40 * 3136).toString('base64')] }; // 125440 bytes > 100000
    const r = await call(small.grpcAddress!, 'ModelInfer', big);
    expect(r.ok).toBe(false);
    expect(r.stderr).toMatch(/Code: ResourceExhausted[\s\S]*(larger than max|100000)/);
    expect((await call(small.grpcAddress!, 'ModelInfer', inferMessage(SAVER, 1))).ok).toBe(true);
  });

  it('the server opens a large HTTP/2 receive window (stream and connection), so a 100 KiB request does not stall', async () => {
    const session = http2.connect(`http://${small.grpcAddress}`);
    try {
      const settings = await new Promise<http2.Settings>((resolve) => session.once('remoteSettings', resolve));
      expect(settings.initialWindowSize).toBe(FLOW_CONTROL_WINDOW);
      // the connection window is raised by a WINDOW_UPDATE right after the SETTINGS
      const deadline = Date.now() + 10_000;
      while ((session.state.remoteWindowSize ?? 0) < FLOW_CONTROL_WINDOW && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(session.state.remoteWindowSize).toBe(FLOW_CONTROL_WINDOW);
    } finally {
      session.close();
    }
    const r = await call(small.grpcAddress!, 'ModelInfer', {
      ...inferMessage(SAVER, 30),
      raw_input_contents: [Buffer.alloc(30 * 3136).toString('base64')],
    });
    expect(r.stderr).toBe('');
    expect(r.ok).toBe(true); // 94 KiB: over HTTP/2's initial 64 KiB window, under the 100000-byte limit
  });

  it('malformed protobuf bytes get an error status, not a crash; the next call is served', async () => {
    const session = http2.connect(`http://${small.grpcAddress}`);
    const status = await new Promise<{ code: string; message: string }>((resolve, reject) => {
      const s = session.request({
        ':method': 'POST',
        ':path': '/inference.GRPCInferenceService/ModelInfer',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      const junk = Buffer.from([0x7f, 0x01]); // field 15 with wire type 7, which protobuf does not have
      const frame = Buffer.alloc(5 + junk.length);
      frame.writeUInt32BE(junk.length, 1);
      junk.copy(frame, 5);
      let headers: Record<string, unknown> = {};
      s.on('response', (h) => (headers = h));
      s.on('trailers', (t) => resolve({ code: String(t['grpc-status']), message: decodeURIComponent(String(t['grpc-message'] ?? '')) }));
      s.on('end', () =>
        resolve({ code: String(headers['grpc-status']), message: decodeURIComponent(String(headers['grpc-message'] ?? '')) }),
      );
      s.on('error', reject);
      s.resume();
      s.end(frame);
    });
    session.close();
    expect(status.code).not.toBe('0');
    expect(status.message).toMatch(/deseriali|parse|invalid|index out of range/i);
    expect((await call(small.grpcAddress!, 'ServerLive')).json).toEqual({ live: true });
    expect((await call(small.grpcAddress!, 'ModelInfer', inferMessage(SAVER, 1))).ok).toBe(true);
  });
});

describe('router metrics and routing over gRPC', () => {
  it('gRPC requests count in the same metrics as REST ones', async () => {
    const before = sample(await metricsText(router.url), 'tinysaver_requests_total', { model: 'cascade' });
    for (let i = 0; i < 3; i++) expect((await call(router.grpcAddress!, 'ModelInfer', inferMessage('cascade', 2))).ok).toBe(true);
    const after = sample(await metricsText(router.url), 'tinysaver_requests_total', { model: 'cascade' });
    expect(after - before).toBe(3);
  });

  it('--base-protocol grpc: the router calls its base over gRPC and answers as with REST', async () => {
    const viaGrpc = await startRouter({
      ...QUIET_LOG,
      port: 0,
      saverUrl: saver.url,
      saverModel: SAVER,
      baseUrl: `grpc://${base.grpcAddress}`,
      baseProtocol: 'grpc',
      baseModel: BASE,
      threshold: 0.99, // most rows escalate
    });
    const viaHttp = await startRouter({
      ...QUIET_LOG,
      port: 0,
      saverUrl: saver.url,
      saverModel: SAVER,
      baseUrl: base.url,
      baseModel: BASE,
      threshold: 0.99,
    });
    try {
      const req = imageBatch(images, 8);
      const [a, b] = await Promise.all([new V2Client(viaGrpc.url).infer('cascade', req), new V2Client(viaHttp.url).infer('cascade', req)]);
      expect(parseRoutes(a.parameters)).toEqual(parseRoutes(b.parameters));
      expect(parseRoutes(a.parameters)).toContain('base');
      const x = a.outputs[0].data as Float32Array;
      const y = b.outputs[0].data as Float32Array;
      x.forEach((v, i) => expect(v).toBeCloseTo(y[i], 5));
      const baseRequests = sample(await metricsText(base.url), 'tinysaver_server_requests_total', { model: BASE, code: '200' });
      expect(baseRequests).toBeGreaterThan(0);
    } finally {
      await Promise.all([viaGrpc.close(), viaHttp.close()]);
    }
  });

  it('tinysaver route --base-protocol grpc: gRPC in, base called over gRPC (serve-model), gRPC out', async () => {
    const served = async () => sample(await metricsText(base.url), 'tinysaver_server_requests_total', { model: BASE, code: '200' }) || 0; // NaN: none yet
    const before = await served();
    const child = spawn(
      process.execPath,
      [
        BIN,
        'route',
        '--port',
        '0',
        '--grpc-port',
        '0',
        '--saver-onnx',
        zooModelPath(SAVER),
        '--saver-model',
        SAVER,
        '--base-protocol',
        'grpc',
        '--base-url',
        `grpc://${base.grpcAddress}`,
        '--base-model',
        BASE,
        '--threshold',
        '0.99',
        '--audit-rate',
        '0',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    try {
      const address = await new Promise<string>((resolve, reject) => {
        const t = setInterval(() => {
          const m = / and gRPC (\S+) /.exec(err);
          if (m || child.exitCode !== null) clearInterval(t);
          if (m) resolve(m[1]);
          else if (child.exitCode !== null) reject(new Error(`route exited: ${err}`));
        }, 50);
      });
      const r = await call(address, 'ModelInfer', inferMessage('cascade', 8));
      expect(r.ok, r.stderr).toBe(true);
      const routes = String((r.json!.parameters as Record<string, { stringParam: string }>).tinysaver_routes.stringParam).split(',');
      expect(routes).toHaveLength(8);
      expect(routes).toContain('base');
      expect(routes).not.toContain('fallback');
      expect(await served()).toBeGreaterThan(before);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });

  it('tinysaver route refuses a --base-url that does not fit --base-protocol, naming both', async () => {
    const r = (await exec(process.execPath, [BIN, 'route', '--base-protocol', 'grpc', '--base-url', base.url]).catch((e) => e)) as {
      code?: number;
      stderr: string;
    };
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--base-url http:\/\/\S+ does not fit --base-protocol grpc/);
  });

  it('the GrpcV2Client reads health and metadata', async () => {
    const c = new GrpcV2Client(base.grpcAddress!);
    try {
      expect(await c.live()).toBe(true);
      expect(await c.ready(BASE)).toBe(true);
      expect(await c.ready('nope')).toBe(false);
      expect((await c.metadata(BASE)).inputs[0].shape).toEqual([-1, 1, 28, 28]);
    } finally {
      c.close();
    }
  });
});
