// A lean HTTP/1.1 load generator for the model-server benchmark (wrk-like): each keep-alive
// connection sends the same pre-encoded request bytes and only frames the reply (status line,
// Content-Length, body bytes). node:http's client and the v2 codec cost the client as much CPU per
// request as the server spends; on a small machine that CPU comes out of the server's share, so the
// benchmark would measure its own load generator. The reply is decoded once, at warm-up, to check it.

import net from 'node:net';

const HEADER_END = Buffer.from('\r\n\r\n');

export interface Reply {
  /** status line and headers */
  head: string;
  body: Buffer;
}

/** The full request (head + body) as bytes. */
export function httpRequestBytes(host: string, port: number, path: string, headers: Record<string, string>, body: Buffer): Buffer {
  const others = Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'content-length');
  const lines = [
    `POST ${path} HTTP/1.1`,
    `Host: ${host}:${port}`,
    ...others.map(([k, v]) => `${k}: ${v}`),
    `Content-Length: ${body.length}`,
  ];
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n'), body]);
}

/** One keep-alive connection that sends `request` and waits for the whole reply, one at a time. */
export class LeanConnection {
  private buf: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void } | undefined;

  private constructor(
    private readonly socket: net.Socket,
    private readonly request: Buffer,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (c: Buffer) => {
      this.buf = this.buf.length === 0 ? c : Buffer.concat([this.buf, c]);
      this.tryFrame();
    });
    const fail = (e: Error): void => {
      this.waiting?.reject(e);
      this.waiting = undefined;
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed by the server')));
  }

  static open(host: string, port: number, request: Buffer): Promise<LeanConnection> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, host, () => {
        s.off('error', reject);
        resolve(new LeanConnection(s, request));
      });
      s.once('error', reject);
    });
  }

  /** Sends the request; resolves with the reply (rejects on a non-200 status). */
  roundTrip(): Promise<Reply> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(this.request);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private tryFrame(): void {
    const end = this.buf.indexOf(HEADER_END);
    if (end < 0 || !this.waiting) return;
    const head = this.buf.toString('latin1', 0, end);
    const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!m) {
      this.waiting.reject(new Error(`reply without Content-Length: ${head.split('\r\n')[0]}`));
      this.waiting = undefined;
      return;
    }
    const total = end + 4 + Number(m[1]);
    if (this.buf.length < total) return;
    const body = this.buf.subarray(end + 4, total);
    this.buf = this.buf.subarray(total);
    const w = this.waiting;
    this.waiting = undefined;
    if (!head.startsWith('HTTP/1.1 200')) w.reject(new Error(`${head.split('\r\n')[0]}: ${body.toString()}`));
    else w.resolve({ head, body });
  }
}

/** Deterministic pseudo-random pixels in [0, 1) for `rows` images of 1x28x28 (the same on both sides). */
export function images(rows: number): Float32Array {
  const out = new Float32Array(rows * 784);
  let s = 12345;
  for (let i = 0; i < out.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = (s >>> 8) / 16777216;
  }
  return out;
}
