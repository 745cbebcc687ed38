/*
 * IEEE 754 half precision (binary16) ⇄ single precision. Node 20 has neither Float16Array nor
 * Math.f16round, so float16 tensors travel as their 16-bit patterns in a Uint16Array.
 *
 * Hand-written rather than taken from @petamoriken/float16: that package converts one value per call
 * through a DataView or a Proxy-backed Float16Array, and the server converts whole tensors (150,528
 * values per 224 × 224 image) on its event loop. Decoding is one lookup per value in a table of all
 * 65,536 patterns; encoding (clients) is bit arithmetic on the float32's bits with round-to-nearest-even.
 * Both are checked value by value against the format's definition in test/tensor/float16.test.ts.
 */

/** float32 bit patterns of every float16 pattern, indexed by the float16 bits; built on first use (256 KB). */
let decodeTable: Uint32Array | undefined;

function buildDecodeTable(): Uint32Array {
  const table = new Uint32Array(65536);
  const asFloat = new Float32Array(table.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const man = h & 0x3ff;
    if (exp === 0x1f) {
      table[h] = (sign | 0x7f800000 | (man << 13)) >>> 0; // ±Inf, or NaN with its payload kept
    } else if (exp !== 0) {
      table[h] = (sign | ((exp + 112) << 23) | (man << 13)) >>> 0; // rebias 15 → 127
    } else {
      asFloat[h] = man * 2 ** -24; // zero or subnormal: exact in float32, normal there
      table[h] = (table[h]! | sign) >>> 0;
    }
  }
  return table;
}

/**
 * The float32 bit pattern of every float16 pattern (index: the float16 bits). Converting through the
 * bits (a Uint32Array store) keeps NaN payloads and −0 exactly.
 */
export function float16DecodeTable(): Uint32Array {
  return (decodeTable ??= buildDecodeTable());
}

const scratchFloat = new Float32Array(1);
const scratchBits = new Uint32Array(scratchFloat.buffer);

/** The value of one float16 bit pattern. */
export function float16ToNumber(bits: number): number {
  scratchBits[0] = float16DecodeTable()[bits & 0xffff]!;
  return scratchFloat[0]!;
}

/** The float16 pattern nearest to the float32 with bits `x` (ties to even; overflow → ±Inf; NaN stays NaN). */
function float32BitsToFloat16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const man = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (man !== 0 ? 0x200 | (man >>> 13) : 0); // Inf; NaN made quiet
  if (exp > 142) return sign | 0x7c00; // ≥ 2^16: beyond the largest finite float16 even after rounding
  if (exp >= 113) {
    // A normal float16: 10 of the 23 mantissa bits stay. A carry out of the mantissa bumps the exponent,
    // and out of the largest exponent gives 0x7c00 (Inf): both right.
    let h = ((exp - 112) << 10) | (man >>> 13);
    const rest = man & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1) !== 0)) h++;
    return sign | h;
  }
  // Subnormal float16 (or zero): the value in units of 2^-24 is (1.man) · 2^(exp − 126).
  const shift = 126 - exp;
  if (shift > 24) return sign; // below half the smallest subnormal: rounds to ±0
  const m = man | 0x800000;
  let h = m >>> shift;
  const rest = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rest > half || (rest === half && (h & 1) !== 0)) h++;
  return sign | h;
}

/** The float16 pattern nearest to `value` (rounded to float32 first, then to float16, ties to even). */
export function numberToFloat16(value: number): number {
  scratchFloat[0] = value;
  return float32BitsToFloat16(scratchBits[0]!);
}

/**
 * Float32 values as float16 bit patterns (round to nearest, ties to even; beyond ±65504 → ±Infinity),
 * half the bytes on the wire. A float16 tensor input is `{ data: toFloat16(values), shape }`.
 *
 * @example
 * const image = new Float32Array(3 * 224 * 224); // normalised pixels
 * await q.predict({ input: { data: toFloat16(image), shape: [1, 3, 224, 224] } }); // 294 KB, not 588 KB
 */
export function toFloat16(values: Float32Array | readonly number[]): Uint16Array {
  const floats = values instanceof Float32Array ? values : Float32Array.from(values);
  const bits = new Uint32Array(floats.buffer, floats.byteOffset, floats.length);
  const out = new Uint16Array(floats.length);
  for (let i = 0; i < bits.length; i++) out[i] = float32BitsToFloat16(bits[i]!);
  return out;
}

/**
 * Float16 bit patterns as float32 values (exact: every float16 is a float32).
 *
 * @example
 * const scores = fromFloat16(toTypedArray(result.get('output')!) as Uint16Array);
 */
export function fromFloat16(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  float16ToFloat32Into(bits, new Uint32Array(out.buffer));
  return out;
}

/** Writes the float32 bit patterns of `bits` into `target` (same length or longer). */
export function float16ToFloat32Into(bits: Uint16Array, target: Uint32Array): void {
  const table = float16DecodeTable();
  const n = bits.length;
  for (let i = 0; i < n; i++) target[i] = table[bits[i]!]!;
}
