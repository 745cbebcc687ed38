import type * as avro from 'avsc';

/**
 * Reads Avro binary into plain values, driven by an avsc Type (so the `.avsc` file stays the one
 * definition), with two differences from avsc's own `fromBuffer` that matter on the request path:
 * - `bytes` values are views of the input, not copies (avsc copies each one: a 600 KB tensor was copied
 *   and allocated again per request, and the garbage collector paid for it);
 * - every array/map item count and every length is checked against the bytes left before use (avsc
 *   trusts a declared count and loops over it: a forged 6-byte request kept a decode busy for 20 s).
 * Covers the types our schemas use: null, boolean, int, long, float, double, string, bytes, fixed, enum,
 * array, map, record and unions (unwrapped). Throws an Error naming the problem on malformed input.
 */
export function readAvroView(type: avro.Type, buf: Uint8Array): unknown {
  let pos = 0;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const long = (): number => {
    let shift = 0;
    let result = 0;
    for (;;) {
      if (pos >= buf.length) throw new Error('truncated number');
      const b = buf[pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
      if (shift > 63) throw new Error('number too long');
    }
    const value = result % 2 === 0 ? result / 2 : -(result + 1) / 2; // zigzag
    if (!Number.isSafeInteger(value)) throw new Error('number too large');
    return value;
  };
  const take = (n: number, what: string): Uint8Array => {
    if (n < 0 || pos + n > buf.length) throw new Error(`${what} of ${n} bytes runs past the end`);
    const out = buf.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const blocks = (what: string, item: () => void): void => {
    for (;;) {
      let count = long();
      if (count === 0) return;
      if (count < 0) {
        count = -count;
        long(); // block size in bytes
      }
      if (count > buf.length - pos) throw new Error(`${what} declares ${count} items with ${buf.length - pos} bytes left`);
      for (let i = 0; i < count; i++) item();
    }
  };
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const read = (t: avro.Type): unknown => {
    const name = t.typeName;
    switch (name) {
      case 'null':
        return null;
      case 'boolean':
        return take(1, 'boolean')[0] !== 0;
      case 'int':
      case 'long':
        return long();
      case 'float':
        take(4, 'float');
        return view.getFloat32(pos - 4, true);
      case 'double':
        take(8, 'double');
        return view.getFloat64(pos - 8, true);
      case 'string':
        return decoder.decode(take(long(), 'string'));
      case 'bytes': {
        const b = take(long(), 'bytes');
        return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
      }
      case 'fixed': {
        const b = take((t as unknown as { size: number }).size, 'fixed');
        return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
      }
      case 'enum': {
        const symbols = (t as unknown as { symbols: string[] }).symbols;
        const i = long();
        const symbol = symbols[i];
        if (symbol === undefined) throw new Error(`invalid ${t.name ?? 'enum'} index ${i}`);
        return symbol;
      }
      case 'array': {
        const items: unknown[] = [];
        const itemType = (t as unknown as { itemsType: avro.Type }).itemsType;
        blocks('array', () => items.push(read(itemType)));
        return items;
      }
      case 'map': {
        const out: Record<string, unknown> = {};
        const valuesType = (t as unknown as { valuesType: avro.Type }).valuesType;
        blocks('map', () => {
          const key = decoder.decode(take(long(), 'map key'));
          out[key] = read(valuesType);
        });
        return out;
      }
      case 'record':
      case 'error': {
        const out: Record<string, unknown> = {};
        for (const f of (t as unknown as { fields: { name: string; type: avro.Type }[] }).fields) out[f.name] = read(f.type);
        return out;
      }
      default: {
        if (!name.startsWith('union')) throw new Error(`unsupported Avro type ${name}`);
        const types = (t as unknown as { types: avro.Type[] }).types;
        const i = long();
        const branch = types[i];
        if (!branch) throw new Error(`union branch ${i} out of range`);
        return read(branch);
      }
    }
  };
  const value = read(type);
  if (pos !== buf.length) throw new Error(`${buf.length - pos} trailing bytes`);
  return value;
}
