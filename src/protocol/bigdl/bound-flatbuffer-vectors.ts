import { ByteBuffer } from 'flatbuffers';

let installed = false;

/**
 * Makes every FlatBuffers vector length that Arrow reads from IPC metadata fit its buffer; a forged one
 * throws a RangeError instead of being trusted.
 *
 * Arrow's IPC reader walks the schema and record-batch metadata (FlatBuffers) with lengths read from the
 * message itself, and FlatBuffers reads past the end of its bytes as zeros rather than failing: one
 * flipped byte in a BigDL request's schema made `fields` 2^32 long, and decoding it allocated until the
 * TaskManager ran out of memory (found by the fuzz suite, test/fuzz). A vector's elements take at least
 * one byte each and lie inside the buffer in any valid FlatBuffer, so the check refuses nothing valid.
 * Installed once per process, for every user of the `flatbuffers` package (Arrow is the only one).
 */
export function boundFlatbufferVectors(): void {
  if (installed) return;
  installed = true;
  const vectorLength = ByteBuffer.prototype.__vector_len;
  ByteBuffer.prototype.__vector_len = function (this: ByteBuffer, offset: number): number {
    const length = vectorLength.call(this, offset);
    const start = offset + this.readInt32(offset) + 4;
    if (length < 0 || start < 0 || start + length > this.capacity()) {
      throw new RangeError(`FlatBuffers vector of ${length} elements at byte ${start} overruns its ${this.capacity()}-byte message`);
    }
    return length;
  };
}
