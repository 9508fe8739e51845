// Collects an HTTP body into one Buffer placed so that the binary tensors after the JSON header
// start on an 8-byte boundary: typed-array views over them then need no copy. With a known
// Content-Length the chunks are copied straight into their final place (no concat).

export class BodyCollector {
  private buf: Buffer | undefined;
  private chunks: Buffer[] = [];
  private size = 0;

  /**
   * @param expectedLength the declared Content-Length, if any (must already be checked against limits)
   * @param alignOffset byte offset (the JSON header length) that should land 8-byte aligned
   */
  constructor(
    private readonly expectedLength: number | undefined,
    private readonly alignOffset = 0,
  ) {
    if (expectedLength !== undefined) this.buf = alignedBuffer(expectedLength, alignOffset);
  }

  get length(): number {
    return this.size;
  }

  push(chunk: Buffer): void {
    if (this.buf && this.size + chunk.length <= this.buf.length) {
      chunk.copy(this.buf, this.size);
    } else {
      if (this.buf) {
        // more bytes than declared (cannot happen under node's HTTP parser); fall back to chunks
        this.chunks.push(this.buf.subarray(0, this.size));
        this.buf = undefined;
      }
      this.chunks.push(chunk);
    }
    this.size += chunk.length;
  }

  finish(): Buffer {
    if (this.buf) return this.buf.subarray(0, this.size);
    const out = alignedBuffer(this.size, this.alignOffset);
    let off = 0;
    for (const c of this.chunks) off += c.copy(out, off);
    this.chunks = [];
    return out;
  }
}

/** An uninitialised Buffer of `length` bytes whose byte `alignOffset` sits on an 8-byte boundary. */
export function alignedBuffer(length: number, alignOffset: number): Buffer {
  const pad = (8 - (alignOffset % 8)) % 8;
  return Buffer.allocUnsafeSlow(length + pad).subarray(pad, pad + length);
}
