/**
 * Reusable SharedArrayBuffers for batch inputs. A batch is concatenated into one of these and the
 * inference worker reads it in place (postMessage neither copies nor moves shared memory); it returns
 * to the pool when the run ends. Fresh or transferred multi-megabyte ArrayBuffers per batch count as new
 * external memory in the isolate that receives them, and made V8 run a full mark-compact for it several
 * times a second (measured: a fifth of the event loop's time on the CNN bench).
 * Hand-written: a free list per power-of-two size class.
 */
export class BufferPool {
  private readonly free = new Map<number, SharedArrayBuffer[]>();

  /** @param maxPerClass buffers kept per size class; more are dropped on release. */
  constructor(private readonly maxPerClass = 8) {}

  /** A view of exactly `bytes` bytes over a pooled SharedArrayBuffer. */
  acquire(bytes: number): Uint8Array {
    const size = sizeClass(bytes);
    const buffer = this.free.get(size)?.pop() ?? new SharedArrayBuffer(size);
    return new Uint8Array(buffer, 0, bytes);
  }

  /** Takes a buffer back once nothing reads it any more. */
  release(buffer: SharedArrayBuffer): void {
    const size = buffer.byteLength;
    if (size !== sizeClass(size)) return;
    const list = this.free.get(size) ?? [];
    if (list.length < this.maxPerClass) list.push(buffer);
    this.free.set(size, list);
  }
}

function sizeClass(bytes: number): number {
  return Math.max(4096, 2 ** Math.ceil(Math.log2(Math.max(1, bytes))));
}
