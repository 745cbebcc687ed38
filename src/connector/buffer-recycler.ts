import { entryKey, type EntryRef } from '../tensor/records';

/**
 * Reusable buffers for request payloads a source reads (a Redis Stream entry's `data` field) or a client
 * encodes. A source copies each large payload from the socket into one of these and the owner of the graph gives
 * it back once the request's result is written, so a steady stream of big tensors allocates nothing:
 * fresh multi-hundred-kilobyte Buffers per request count as new external memory and made V8 run a full
 * mark-compact every 60–100 ms on the CNN tensor bench (176 in 12 s, half the event loop's time).
 * A source's recycler ({@link BufferRecycler.shared}) hands out SharedArrayBuffers, so that an inference
 * worker can gather a batch straight from the payloads (no copy on the event loop), and places a payload so
 * that a chosen byte of it is 8-byte aligned. Clients keep ordinary ArrayBuffers: V8 copies a tensor into
 * shared memory at an odd offset byte by byte (8–10 × slower).
 *
 * Hand-written, like the batch BufferPool: free lists by size rounded up to `granule`. Small payloads
 * are not pooled (Node's own 8 KB slab pool serves them); a buffer is only taken back if this recycler
 * made it and it is not already free, so a double give-back can never hand one buffer to two readers.
 */
export class BufferRecycler {
  private readonly free = new Map<number, ArrayBufferLike[]>();
  private readonly made = new WeakSet<ArrayBufferLike>();
  private readonly idle = new WeakSet<ArrayBufferLike>();
  /** Buffers lent to entries in flight, by entry (see {@link hold}). */
  private readonly held = new Map<string, Uint8Array>();
  private retained = 0;

  /**
   * @param minBytes payloads smaller than this get an ordinary Buffer (not recycled)
   * @param maxRetainedBytes free buffers kept at most, in bytes; more are left to the garbage collector
   * @param granule sizes are rounded up to a multiple of this, so payloads of one tensor shape share a list
   * @param memory `shared` for SharedArrayBuffers (see {@link BufferRecycler.shared})
   */
  constructor(
    readonly minBytes = 16 * 1024,
    private readonly maxRetainedBytes = 128 * 1024 * 1024,
    private readonly granule = 16 * 1024,
    private readonly memory: 'shared' | 'private' = 'private',
  ) {}

  /** A recycler of SharedArrayBuffers with the default sizes: a source's, whose payloads workers read. */
  static shared(): BufferRecycler {
    return new BufferRecycler(undefined, undefined, undefined, 'shared');
  }

  /**
   * A Buffer of exactly `bytes` bytes, over a recycled buffer when `bytes >= minBytes`, placed
   * so that its byte `alignAt` lies on an 8-byte boundary.
   */
  take(bytes: number, alignAt = 0): Buffer {
    if (bytes < this.minBytes) return Buffer.allocUnsafe(bytes);
    const pad = (8 - (alignAt & 7)) & 7;
    const size = Math.ceil((bytes + pad) / this.granule) * this.granule;
    let buffer = this.free.get(size)?.pop();
    if (buffer) {
      this.idle.delete(buffer);
      this.retained -= size;
    } else {
      buffer = this.memory === 'shared' ? new SharedArrayBuffer(size) : new ArrayBuffer(size);
      this.made.add(buffer);
    }
    return Buffer.from(buffer, pad, bytes);
  }

  /** Whether `view` lies over a buffer this recycler made (and so may be given back). */
  owns(view: Uint8Array): boolean {
    return this.made.has(view.buffer);
  }

  /** Takes back the buffer under `view`: nothing may read or write it afterwards. */
  give(view: Uint8Array): void {
    const buffer = view.buffer;
    if (!this.made.has(buffer) || this.idle.has(buffer)) return;
    if (this.retained + buffer.byteLength > this.maxRetainedBytes) return;
    const list = this.free.get(buffer.byteLength) ?? [];
    list.push(buffer);
    this.free.set(buffer.byteLength, list);
    this.idle.add(buffer);
    this.retained += buffer.byteLength;
  }

  /**
   * Records that the entry `ref` reads `view` (a buffer of this recycler's, else nothing is recorded)
   * until {@link release}. An entry held twice (read again while still in flight: the two copies cannot
   * be told apart) leaves both buffers to the garbage collector.
   */
  hold(ref: EntryRef, view: Uint8Array): void {
    if (!this.owns(view)) return;
    const key = entryKey(ref);
    if (this.held.has(key)) this.held.delete(key);
    else this.held.set(key, view);
  }

  /** The entry `ref` is done with its bytes: its buffer takes a later payload of that size. */
  release(ref: EntryRef): void {
    const key = entryKey(ref);
    const view = this.held.get(key);
    if (!view) return;
    this.held.delete(key);
    this.give(view);
  }

  /** Bytes held in free lists, for tests. */
  get retainedBytes(): number {
    return this.retained;
  }
}
