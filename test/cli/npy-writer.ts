/**
 * Writes a `.npy` file's bytes the way `numpy.save` does (format 1.0: magic, version, header length,
 * the dict literal padded with spaces to a multiple of 64 bytes and ended by a newline), for tests that
 * have no numpy at hand.
 */
export function npyBytes(descr: string, shape: readonly number[], data: Uint8Array, options: { fortranOrder?: boolean; version?: 1 | 2 } = {}): Buffer {
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${descr}', 'fortran_order': ${options.fortranOrder ? 'True' : 'False'}, 'shape': ${tuple}, }`;
  const version = options.version ?? 1;
  const prefix = version === 1 ? 10 : 12;
  const total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  const header = `${dict}${' '.repeat(total - prefix - dict.length - 1)}\n`;
  const head = Buffer.alloc(prefix);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = version;
  head[7] = 0;
  if (version === 1) head.writeUInt16LE(header.length, 8);
  else head.writeUInt32LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}
