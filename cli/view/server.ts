// The live view's HTTP server (`tinysaver up`, its own port, default 8003): read-only, GET/HEAD only.
//   GET /                the page (cli/view/static/: hand-written HTML + SVG charts, no build step, no CDN)
//   GET /view.js, /view.css, /ticks.js (core/plot/ticks.ts compiled: the axes' round ticks)
//   GET /api/live        the Timeline as JSON (schema tinysaver.live/v1; `?since=MS` returns only newer
//                        samples and the decisions updated after MS)
//   GET /api/cascade     the ModelCascade-like object: spec + the controller's status (threshold history)
// The router's v2 port is untouched: the view lives on this port only.

import http from 'node:http';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../models/zoo.js';
import { listen } from '../../runtime/oip/http.js';
import type { Timeline } from './timeline.js';

export const VIEW_STATIC_DIR = path.join(PACKAGE_ROOT, 'cli', 'view', 'static');
/** The project's round-tick helper (core/plot/ticks.ts) as compiled ESM, served to the page as /ticks.js: one implementation of axis ticks. */
const TICKS_JS = [
  fileURLToPath(new URL('../../core/plot/ticks.js', import.meta.url)),
  path.join(PACKAGE_ROOT, 'dist', 'core', 'plot', 'ticks.js'),
];

const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/view.js': { file: 'view.js', type: 'text/javascript; charset=utf-8' },
  '/view.css': { file: 'view.css', type: 'text/css; charset=utf-8' },
  '/ticks.js': { file: 'ticks.js', type: 'text/javascript; charset=utf-8' },
};

export interface ViewServerOptions {
  host: string;
  port: number;
  timeline: Timeline;
  /** the ModelCascade-like object (spec + status) */
  cascade: () => unknown;
  now?: () => number;
}

export interface RunningView {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startViewServer(opts: ViewServerOptions): Promise<RunningView> {
  const now = opts.now ?? Date.now;
  const files = new Map<string, Buffer>();
  for (const { file } of Object.values(STATIC))
    if (!files.has(file) && file !== 'ticks.js') files.set(file, await readFile(path.join(VIEW_STATIC_DIR, file)));
  const ticks = TICKS_JS.find((f) => existsSync(f));
  if (!ticks) throw new Error(`the view needs the compiled core/plot/ticks.js (npm run build); looked at ${TICKS_JS.join(', ')}`);
  files.set('ticks.js', Buffer.from((await readFile(ticks, 'utf8')).replace(/^\/\/# sourceMappingURL=.*$/m, '')));
  const server = http.createServer((req, res) => {
    const send = (status: number, type: string, body: string | Buffer) => {
      res.writeHead(status, {
        'content-type': type,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        // everything comes from this server; nothing is fetched from elsewhere
        'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'",
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const json = (status: number, body: unknown) => send(status, 'application/json; charset=utf-8', JSON.stringify(body));
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return json(405, { error: `${req.method} not allowed: the view is read-only` });
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://view.invalid');
    } catch {
      return json(400, { error: 'bad request URL' });
    }
    const st = STATIC[url.pathname];
    if (st) return send(200, st.type, files.get(st.file)!);
    if (url.pathname === '/api/live') {
      const raw = url.searchParams.get('since');
      let since: number | undefined;
      if (raw !== null) {
        since = Number(raw);
        if (raw.trim() === '' || !Number.isFinite(since))
          return json(400, { error: `since: "${raw}" is not a time in ms since the epoch` });
      }
      return json(200, opts.timeline.state(now(), since));
    }
    if (url.pathname === '/api/cascade') return json(200, opts.cascade());
    return json(404, { error: `no such page: ${url.pathname} (the view serves /, /api/live and /api/cascade)` });
  });
  await listen(server, opts.port, opts.host);
  const port = (server.address() as AddressInfo).port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
