import type * as avro from 'avsc';

/**
 * Checks that Avro bytes are structurally within bounds before avsc decodes them. avsc trusts an
 * array's or map's declared item count and loops over it even past the end of the buffer, so a forged
 * count of a few bytes kept a decode busy for 20 s; here every count must fit in the bytes left (each
 * item takes at least one byte), and every length-prefixed value must fit too. Returns a problem, or
 * undefined when the bytes are safe to hand to avsc (which still validates them fully).
 */
export function avroBoundsProblem(type: avro.Type, buf: Uint8Array): string | undefined {
  let pos = 0;
  const varint = (): number => {
    let shift = 0;
    let result = 0;
    for (;;) {
      if (pos >= buf.length) throw new Error('truncated varint');
      const b = buf[pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
      if (shift > 63) throw new Error('varint too long');
    }
    // zigzag
    return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
  };
  const skip = (n: number, what: string): void => {
    if (n < 0 || pos + n > buf.length) throw new Error(`${what} of ${n} bytes runs past the end`);
    pos += n;
  };
  const blocks = (what: string, item: () => void): void => {
    for (;;) {
      let count = varint();
      if (count === 0) return;
      if (count < 0) {
        count = -count;
        varint(); // block size in bytes
      }
      if (count > buf.length - pos) throw new Error(`${what} declares ${count} items with ${buf.length - pos} bytes left`);
      for (let i = 0; i < count; i++) item();
    }
  };
  const walk = (t: avro.Type): void => {
    const name = t.typeName;
    switch (name) {
      case 'null':
        return;
      case 'boolean':
        return skip(1, 'boolean');
      case 'int':
      case 'long':
      case 'enum':
        varint();
        return;
      case 'float':
        return skip(4, 'float');
      case 'double':
        return skip(8, 'double');
      case 'string':
      case 'bytes':
        return skip(varint(), name);
      case 'fixed':
        return skip((t as unknown as { size: number }).size, 'fixed');
      case 'array':
        return blocks('array', () => walk((t as unknown as { itemsType: avro.Type }).itemsType));
      case 'map':
        return blocks('map', () => {
          skip(varint(), 'map key');
          walk((t as unknown as { valuesType: avro.Type }).valuesType);
        });
      case 'record':
      case 'error':
        for (const f of (t as unknown as { fields: { type: avro.Type }[] }).fields) walk(f.type);
        return;
      default:
        if (name.startsWith('union')) {
          const types = (t as unknown as { types: avro.Type[] }).types;
          const branch = types[varint()];
          if (!branch) throw new Error('union branch out of range');
          return walk(branch);
        }
        // Logical or unknown types: leave it to avsc.
        return;
    }
  };
  try {
    walk(type);
    if (pos !== buf.length) return `${buf.length - pos} trailing bytes`;
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
