// Where decision-log lines go: a file descriptor (stdout: the pod's log, the cluster's log stack) or a file
// with size-based rotation and a total size cap. Written by hand, not with a logging library: the log's
// contract is a bounded queue that drops (and counts) instead of ever blocking the request path, and the
// libraries at hand either block the event loop on a full pipe (process.stdout is synchronous on pipes on
// Linux; pino's sonic-boom in sync mode) or buffer without bound. Both sinks here write through libuv's
// thread pool (fs.write), one write at a time, so a stalled reader parks one pool thread and nothing else;
// the queue in front (writer.ts) fills and drops.

import { close, fstat, open, rename, unlink, write } from 'node:fs';
import { promisify } from 'node:util';

const fsOpen = promisify(open);
const fsClose = promisify(close);
const fsFstat = promisify(fstat);
const fsRename = promisify(rename);
const fsUnlink = promisify(unlink);

export interface DecisionSink {
  /** write whole lines (each ends with "\n"); resolves when the bytes are handed to the kernel */
  write(lines: string[]): Promise<void>;
  close(): Promise<void>;
  /** one line saying where the log goes (startup message) */
  readonly describe: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Write all of buf to fd: loops on short writes; EAGAIN (a non-blocking fd whose reader is slow) waits and retries. */
function writeAll(fd: number, buf: Buffer): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let off = 0;
    const step = (): void => {
      write(fd, buf, off, buf.length - off, null, (err, n) => {
        if (err) {
          if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
            void sleep(5).then(step);
            return;
          }
          reject(err);
          return;
        }
        off += n;
        if (off < buf.length) step();
        else resolve();
      });
    };
    step();
  });
}

/** Lines to an already open descriptor (1 = stdout). The descriptor is not closed. */
export class FdSink implements DecisionSink {
  readonly describe: string;
  constructor(
    private readonly fd: number,
    name = fd === 1 ? 'stdout' : `fd ${fd}`,
  ) {
    this.describe = name;
  }
  write(lines: string[]): Promise<void> {
    return writeAll(this.fd, Buffer.from(lines.join(''), 'utf8'));
  }
  async close(): Promise<void> {}
}

export interface RotatingFileOptions {
  path: string;
  /** a file is rotated before it would grow past this many bytes (a single longer line still gets a file of its own) */
  maxFileBytes: number;
  /** the current file plus the rotated ones (path.1 is the newest) stay within this many bytes */
  maxTotalBytes: number;
}

/**
 * Append to `path`; when the next line would make it larger than maxFileBytes, path.(k) -> path.(k+1),
 * path -> path.1, and a fresh path. Keeps floor(maxTotalBytes / maxFileBytes) files in all (at least 1:
 * then the file is truncated and started over), deleting the oldest.
 */
export class RotatingFileSink implements DecisionSink {
  readonly describe: string;
  private fd: number | undefined;
  private size = 0;
  private readonly keep: number;
  rotations = 0;

  constructor(private readonly o: RotatingFileOptions) {
    if (!(o.maxFileBytes >= 1024)) throw new RangeError(`decision log: max file bytes must be >= 1024, got ${o.maxFileBytes}`);
    if (!(o.maxTotalBytes >= o.maxFileBytes))
      throw new RangeError(`decision log: max total bytes (${o.maxTotalBytes}) must be >= max file bytes (${o.maxFileBytes})`);
    this.keep = Math.max(1, Math.floor(o.maxTotalBytes / o.maxFileBytes));
    this.describe = `${o.path} (rotated at ${o.maxFileBytes} bytes, ${this.keep} file(s), at most ${this.keep * o.maxFileBytes} bytes)`;
  }

  /** Opens (creates) the file now, so a bad path is an error at startup rather than at the first line. */
  async open(): Promise<void> {
    if (this.fd !== undefined) return;
    this.fd = await fsOpen(this.o.path, 'a', 0o644);
    this.size = (await fsFstat(this.fd)).size;
  }

  async write(lines: string[]): Promise<void> {
    await this.open();
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async () => {
      if (pendingBytes === 0) return;
      await writeAll(this.fd!, pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes));
      this.size += pendingBytes;
      pending = [];
      pendingBytes = 0;
    };
    for (const line of lines) {
      const b = Buffer.from(line, 'utf8');
      if (this.size + pendingBytes > 0 && this.size + pendingBytes + b.length > this.o.maxFileBytes) {
        await flush();
        await this.rotate();
      }
      pending.push(b);
      pendingBytes += b.length;
    }
    await flush();
  }

  private async rotate(): Promise<void> {
    const p = this.o.path;
    await fsClose(this.fd!);
    this.fd = undefined;
    const ignoreMissing = (e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    };
    if (this.keep === 1) {
      await fsUnlink(p).catch(ignoreMissing);
    } else {
      await fsUnlink(`${p}.${this.keep - 1}`).catch(ignoreMissing);
      for (let k = this.keep - 2; k >= 1; k--) await fsRename(`${p}.${k}`, `${p}.${k + 1}`).catch(ignoreMissing);
      await fsRename(p, `${p}.1`);
    }
    this.rotations++;
    this.fd = await fsOpen(p, 'a', 0o644);
    this.size = 0;
  }

  async close(): Promise<void> {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    await fsClose(fd);
  }
}
