// HTTP edge helpers shared by the model server and the router: bounded body reading and the v2
// error/response conventions (`{"error": "..."}` with the OipError's status).

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { OipError } from './types.js';
import type { EncodedMessage } from './codec.js';
import { BodyCollector } from './body.js';

/**
 * Read a request body of at most `limitBytes`. Over the limit: rejects with OipError(413), stops
 * buffering and discards the rest (the 413 reply closes the connection), so memory stays bounded.
 * Byte `alignOffset` of the body (default: the request's Inference-Header-Content-Length, i.e. where
 * the binary tensors start) is placed on an 8-byte boundary so they decode as zero-copy views.
 */
export function readBody(req: IncomingMessage, limitBytes: number, alignOffset = declaredHeaderLength(req)): Promise<Buffer> {
  const declaredHeader = req.headers['content-length'];
  const declared = declaredHeader === undefined ? undefined : Number(declaredHeader);
  if (declared !== undefined && declared > limitBytes) {
    req.resume();
    return Promise.reject(tooLarge(declared, limitBytes));
  }
  return new Promise<Buffer>((resolve, reject) => {
    const body = new BodyCollector(Number.isSafeInteger(declared) ? declared : undefined, alignOffset);
    let settled = false;
    const onData = (chunk: Buffer): void => {
      if (body.length + chunk.length > limitBytes) {
        settled = true;
        req.removeListener('data', onData);
        req.resume(); // discard the remainder without buffering it
        reject(tooLarge(body.length + chunk.length, limitBytes, true));
        return;
      }
      body.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => {
      if (settled) return;
      settled = true;
      resolve(body.finish());
    });
    req.once('error', (e) => {
      if (settled) return;
      settled = true;
      reject(new OipError(400, `request body could not be read: ${e.message}`));
    });
    req.once('close', () => {
      if (settled) return;
      settled = true;
      reject(new OipError(400, 'request body incomplete: the client closed the connection'));
    });
  });
}

function declaredHeaderLength(req: IncomingMessage): number {
  const v = Number(req.headers['inference-header-content-length']);
  return Number.isSafeInteger(v) && v > 0 ? v : 0;
}

function tooLarge(size: number, limit: number, partial = false): OipError {
  const what = partial ? `request body exceeds` : `request body of ${size} bytes exceeds`;
  return new OipError(413, `${what} the limit of ${limit} bytes (--max-body-bytes)`);
}

export function sendJson(res: ServerResponse, status: number, obj: unknown): void {
  const body = Buffer.from(JSON.stringify(obj), 'utf8');
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(body.length) });
  res.end(body);
}

/**
 * Reply with an error: OipError -> its status and `{"error": message}`; anything else is a bug,
 * logged, and answered 500 with a generic message (no internals leak to the client).
 */
export function sendError(res: ServerResponse, err: unknown): void {
  let status = 500;
  let message = 'internal server error';
  if (err instanceof OipError) {
    status = err.status;
    message = err.message;
  } else {
    console.error('internal error:', err);
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (status === 429 || status === 503) res.setHeader('Retry-After', '1');
  const req = res.req as IncomingMessage | undefined;
  if (status === 413 && req && !req.complete) {
    // The rest of the body is unread. Answering now and closing would make the kernel reset the
    // connection while the client still sends, and the client would lose the 413 with it: read
    // (and drop) the rest first, for at most OVERSIZE_LINGER_MS, then answer and close.
    res.setHeader('Connection', 'close');
    lingerThen(req, () => {
      if (!res.writableEnded && !res.destroyed) sendJson(res, status, { error: message });
    });
    return;
  }
  // After a 413 the rest of the body is unread: close the connection rather than reuse it.
  if (status === 413) res.setHeader('Connection', 'close');
  sendJson(res, status, { error: message });
}

/** Longest time an oversize request body is read and dropped before its 413 is sent anyway. */
export const OVERSIZE_LINGER_MS = 10_000;

function lingerThen(req: IncomingMessage, then: () => void): void {
  let done = false;
  const once = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    then();
  };
  const timer = setTimeout(once, OVERSIZE_LINGER_MS);
  req.once('end', once);
  req.once('close', once);
  req.resume();
}

export function sendInferResponse(res: ServerResponse, encoded: EncodedMessage): void {
  res.writeHead(200, encoded.headers);
  res.end(encoded.body);
}

/** The address could not be bound (taken, forbidden or not local): the caller's flags are at fault. */
export class ListenError extends Error {}

/**
 * Starts listening; a taken or forbidden address becomes an error that says which one and why
 * (Node's bare `listen EADDRINUSE` names neither the fix nor, for port 0 races, the port asked for).
 */
export function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
      if (e.code === 'EADDRINUSE') reject(new ListenError(`${where} is already in use (another server on that port?); pick another port`));
      else if (e.code === 'EACCES') reject(new ListenError(`not allowed to listen on ${where} (ports below 1024 need privileges)`));
      else if (e.code === 'EADDRNOTAVAIL') reject(new ListenError(`${where}: no such local address`));
      else reject(e);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
