/** A reply of the Redis protocol (RESP2): bulk strings as Buffers, nil as null, errors as RespError. */
export type RespValue = Buffer | string | number | null | RespError | RespValue[];

/** An error reply (`-ERR ...`). */
export class RespError extends Error {
  override readonly name = 'RespError';
}

/**
 * Where bulk strings go: a Buffer of exactly `bytes` bytes that the parser fills and hands over. `head`
 * is the start of the string as far as it has arrived (possibly empty), for an allocator that places
 * the string by its content (the stream source aligns a payload's tensor data).
 */
export type BulkAllocator = (bytes: number, head: Uint8Array) => Buffer;

/** Bulk strings with at least this many bytes still to come are read by the socket straight into place. */
const DIRECT_MIN_BYTES = 4096;

interface Frame {
  readonly items: RespValue[];
  remaining: number;
}

const EMPTY = new Uint8Array(0);
const CR = 13;
const LF = 10;

/**
 * An incremental RESP2 reply parser that copies every byte it keeps, so it can be fed from one reused
 * socket buffer (`net.connect`'s `onread`), and puts bulk strings into buffers from `allocate`.
 *
 * Hand-written because the reason it exists is allocation: ioredis's decoder keeps the socket's chunks
 * (a fresh ArrayBuffer per read) and concatenates them into a new Buffer per bulk string, which for
 * streams of large tensors is most of a TaskManager's garbage-collection time. Only the stream source's
 * read connection uses it; every other command goes through ioredis.
 */
export class RespParser {
  private readonly stack: Frame[] = [];
  /** The start of a header line whose end has not arrived yet. */
  private partialLine: Buffer | undefined;
  /** A bulk string being filled. */
  private bulk: { readonly into: Buffer; filled: number } | undefined;
  /** Bytes of a bulk string's trailing CRLF still to skip. */
  private skip = 0;
  /** While a header line is handled: the bytes of the chunk after it. */
  private rest: Uint8Array = EMPTY;

  constructor(
    private readonly onReply: (reply: RespValue) => void,
    private readonly allocate: BulkAllocator = (n) => Buffer.allocUnsafe(n),
  ) {}

  /** Parses `chunk`; nothing of it is referenced afterwards. Throws on bytes that are not RESP2. */
  feed(chunk: Uint8Array): void {
    let i = 0;
    const end = chunk.length;
    while (i < end) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, end - i);
        this.skip -= n;
        i += n;
        continue;
      }
      const bulk = this.bulk;
      if (bulk) {
        const n = Math.min(bulk.into.length - bulk.filled, end - i);
        bulk.into.set(chunk.subarray(i, i + n), bulk.filled);
        bulk.filled += n;
        i += n;
        if (bulk.filled === bulk.into.length) {
          this.bulk = undefined;
          this.skip = 2;
          this.push(bulk.into);
        }
        continue;
      }
      const lf = chunk.indexOf(LF, i);
      if (lf < 0) {
        const rest = chunk.subarray(i);
        this.partialLine = this.partialLine ? Buffer.concat([this.partialLine, rest]) : Buffer.from(rest);
        return;
      }
      let line: Uint8Array = chunk.subarray(i, lf);
      if (this.partialLine) {
        line = Buffer.concat([this.partialLine, line]);
        this.partialLine = undefined;
      }
      i = lf + 1;
      this.rest = chunk.subarray(i);
      this.header(line[line.length - 1] === CR ? line.subarray(0, line.length - 1) : line);
      this.rest = EMPTY;
    }
  }

  /**
   * Where the socket may read next so that the bytes land in place: the unfilled rest of a large bulk
   * string being received (no copy out of a read buffer), else undefined. After such a read, call
   * {@link filledDirectly} instead of {@link feed}.
   */
  directTarget(): Uint8Array | undefined {
    const bulk = this.bulk;
    if (!bulk || this.skip > 0 || bulk.into.length - bulk.filled < DIRECT_MIN_BYTES) return undefined;
    return bulk.into.subarray(bulk.filled);
  }

  /** `bytes` bytes were read into {@link directTarget}'s view. */
  filledDirectly(bytes: number): void {
    const bulk = this.bulk;
    if (!bulk || bulk.filled + bytes > bulk.into.length) throw new RespError('a direct read overran its bulk string');
    bulk.filled += bytes;
    if (bulk.filled === bulk.into.length) {
      this.bulk = undefined;
      this.skip = 2;
      this.push(bulk.into);
    }
  }

  private header(line: Uint8Array): void {
    const type = line[0];
    const text = Buffer.from(line.buffer, line.byteOffset + 1, line.length - 1).toString('latin1');
    switch (type) {
      case 0x2b: // '+'
        return this.push(text);
      case 0x2d: // '-'
        return this.push(new RespError(text));
      case 0x3a: // ':'
        return this.push(this.integer(text));
      case 0x24: {
        // '$'
        const n = this.integer(text);
        if (n < 0) return this.push(null);
        const into = this.allocate(n, this.rest);
        if (n === 0) {
          this.skip = 2;
          return this.push(into);
        }
        this.bulk = { into, filled: 0 };
        return;
      }
      case 0x2a: {
        // '*'
        const n = this.integer(text);
        if (n < 0) return this.push(null);
        if (n === 0) return this.push([]);
        this.stack.push({ items: [], remaining: n });
        return;
      }
      default:
        throw new RespError(`not a RESP2 reply: type byte ${type === undefined ? 'missing' : `0x${type.toString(16)}`}`);
    }
  }

  private integer(text: string): number {
    const n = Number(text);
    if (!Number.isSafeInteger(n)) throw new RespError(`not a RESP2 integer: ${JSON.stringify(text.slice(0, 40))}`);
    return n;
  }

  private push(value: RespValue): void {
    for (;;) {
      const top = this.stack[this.stack.length - 1];
      if (!top) return this.onReply(value);
      top.items.push(value);
      if (--top.remaining > 0) return;
      this.stack.pop();
      value = top.items;
    }
  }
}
