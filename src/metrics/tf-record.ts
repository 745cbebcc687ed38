import { buf as crc32c } from 'crc-32/crc32c';

/*
 * TFRecord framing, as TensorFlow writes event files (tensorflow/core/lib/io/record_writer.cc):
 *
 *   uint64  length               (little-endian)
 *   uint32  masked crc32c(length bytes)
 *   byte    data[length]
 *   uint32  masked crc32c(data)
 *
 * CRC32C (Castagnoli) comes from SheetJS's crc-32 package (`crc-32/crc32c`, no dependencies); it answers a
 * signed 32-bit integer, turned unsigned here. TensorBoard's reader drops a record whose checksum is wrong
 * without a word, so only reading the values back proves a writer right (test/metrics/).
 */

/** Size of a record's header: the length and its checksum. */
const HEADER_BYTES = 12;
/** Size of a record's footer: the data's checksum. */
const FOOTER_BYTES = 4;
const MASK_DELTA = 0xa282ead8;

/** CRC32C of `bytes`, as an unsigned 32-bit number. @example crc32cOf(Buffer.from('123456789')) === 0xe3069283 */
export function crc32cOf(bytes: Uint8Array): number {
  return crc32c(bytes) >>> 0;
}

/** TensorFlow's masked CRC32C: rotated right by 15 bits plus a constant (so a CRC of CRCs is not trivial). */
export function maskedCrc32c(bytes: Uint8Array): number {
  const crc = crc32cOf(bytes);
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + MASK_DELTA) >>> 0;
}

/** One record: header, `data`, footer. */
export function frameRecord(data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + data.length + FOOTER_BYTES);
  out.writeBigUInt64LE(BigInt(data.length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  out.set(data, HEADER_BYTES);
  out.writeUInt32LE(maskedCrc32c(data), HEADER_BYTES + data.length);
  return out;
}

/** What {@link readRecords} found in a byte sequence. */
export interface ReadRecords {
  /** The data of every complete record whose checksums match, in order. */
  readonly records: readonly Buffer[];
  /** Bytes after the last good record: a record cut short (a writer stopped mid-write) or a bad checksum stops the read there. */
  readonly trailingBytes: number;
}

/** Reads the records of an event file's bytes, up to the first incomplete or corrupt one. */
export function readRecords(bytes: Buffer): ReadRecords {
  const records: Buffer[] = [];
  let offset = 0;
  while (offset + HEADER_BYTES <= bytes.length) {
    const lengthBytes = bytes.subarray(offset, offset + 8);
    if (bytes.readUInt32LE(offset + 8) !== maskedCrc32c(lengthBytes)) break;
    const length = bytes.readBigUInt64LE(offset);
    const end = offset + HEADER_BYTES + Number(length) + FOOTER_BYTES;
    if (length > BigInt(bytes.length) || end > bytes.length) break;
    const data = bytes.subarray(offset + HEADER_BYTES, end - FOOTER_BYTES);
    if (bytes.readUInt32LE(end - FOOTER_BYTES) !== maskedCrc32c(data)) break;
    records.push(data);
    offset = end;
  }
  return { records, trailingBytes: bytes.length - offset };
}
