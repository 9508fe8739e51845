// The smallest client that can talk to the e2e apiserver: one keep-alive agent, a fixed bearer token, JSON
// in and out. It is the reference the operator's client (per-request credentials from ClusterAccess) is
// measured against, and the "floor" client of bench/operator-scale.ts. Benchmarks only.
import https from 'node:https';

export class MinimalKube {
  readonly agent: https.Agent;
  private readonly url: URL;

  constructor(
    server: string,
    private readonly token: string,
    private readonly ca: Buffer,
    maxSockets = 64,
    private readonly freshAgentPerRequest = false,
  ) {
    this.url = new URL(server);
    this.agent = new https.Agent({ keepAlive: true, maxSockets, ca });
  }

  request(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: any }> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { Accept: 'application/json', Authorization: `Bearer ${this.token}` };
    if (payload) {
      headers['Content-Type'] = contentType;
      headers['Content-Length'] = String(payload.length);
    }
    // freshAgentPerRequest: what a client gets from @kubernetes/client-node 1.4's applyToHTTPSOptions used
    // per call (a new https.Agent each time: no connection reuse, a TLS handshake per request).
    const agent = this.freshAgentPerRequest ? new https.Agent({ ca: this.ca }) : this.agent;
    return new Promise((resolve, reject) => {
      const req = https.request({ hostname: this.url.hostname, port: this.url.port, path, method, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: any;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = text;
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve({ status, body: parsed });
          else reject(new Error(`${method} ${path}: ${status} ${parsed?.message ?? text.slice(0, 200)}`));
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Runs tasks with at most `concurrency` in flight; resolves with their results in order. */
export async function pool<T>(tasks: (() => Promise<T>)[], concurrency: number): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        out[i] = await tasks[i]!();
      }
    }),
  );
  return out;
}
