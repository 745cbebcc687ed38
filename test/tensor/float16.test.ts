import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { float16DecodeTable, float16ToNumber, fromFloat16, numberToFloat16, toFloat16 } from '../../src/tensor/float16';

/*
 * The reference is the format's definition, evaluated in float64 (exact for every float16):
 * (−1)^s · 2^(e−15) · (1 + m/1024) for 1 ≤ e ≤ 30, (−1)^s · 2^−14 · m/1024 for e = 0, ±∞ or NaN for e = 31.
 */
function reference(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 31) return m === 0 ? s * Infinity : NaN;
  if (e === 0) return s * 2 ** -14 * (m / 1024);
  return s * 2 ** (e - 15) * (1 + m / 1024);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function bitsOf(x: number): number {
  f32[0] = x;
  return u32[0]!;
}
function fromBits(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0]!;
}
/** The float32 next to `x` away from zero (x finite, non-zero) or towards zero. */
const nextAway = (x: number): number => fromBits(bitsOf(x) + 1);
const nextToward = (x: number): number => fromBits(bitsOf(x) - 1);

describe('float16', () => {
  test('decodes all 65,536 patterns to the value the format defines (zeros, subnormals, normals, ±∞), bit for bit', () => {
    const table = float16DecodeTable();
    for (let h = 0; h < 65536; h++) {
      const want = reference(h);
      if (Number.isNaN(want)) continue;
      assert.equal(table[h], bitsOf(want), `pattern 0x${h.toString(16)}: ${fromBits(table[h]!)} vs ${want}`);
      assert.ok(Object.is(float16ToNumber(h), want), `float16ToNumber(0x${h.toString(16)})`);
    }
    assert.equal(table[0x8000], 0x80000000, '−0 keeps its sign');
    assert.equal(float16ToNumber(0x0001), 2 ** -24, 'smallest subnormal');
    assert.equal(float16ToNumber(0x03ff), 2 ** -14 * (1023 / 1024), 'largest subnormal');
    assert.equal(float16ToNumber(0x7bff), 65504, 'largest finite');
    assert.equal(float16ToNumber(0xfc00), -Infinity);
  });

  test('decodes every NaN pattern to a NaN with its payload and sign kept', () => {
    const table = float16DecodeTable();
    let nans = 0;
    for (let h = 0; h < 65536; h++) {
      if (((h >>> 10) & 0x1f) !== 31 || (h & 0x3ff) === 0) continue;
      nans++;
      assert.ok(Number.isNaN(fromBits(table[h]!)), `0x${h.toString(16)} is NaN`);
      assert.equal(table[h], (((h & 0x8000) << 16) | 0x7f800000 | ((h & 0x3ff) << 13)) >>> 0, `0x${h.toString(16)} payload`);
    }
    assert.equal(nans, 2046);
  });

  test('encodes every non-NaN pattern back to itself (round trip of all 65,536 less the NaNs)', () => {
    for (let h = 0; h < 65536; h++) {
      const v = reference(h);
      if (!Number.isNaN(v)) assert.equal(numberToFloat16(v), h, `0x${h.toString(16)} (${v})`);
    }
  });

  test('rounds to nearest, ties to even, at every boundary between neighbouring float16 values of both signs', () => {
    // Between each pair of neighbours a < b (finite, same sign, and from the largest finite to ∞), the exact
    // midpoint is a float32 (it needs 12 significant bits); it goes to the even one, its float32 neighbours
    // to the nearer one.
    for (const sign of [0, 0x8000]) {
      for (let h = 0; h < 0x7c00; h++) {
        const a = reference(sign | h);
        const b = h + 1 === 0x7c00 ? (sign ? -65536 : 65536) : reference(sign | (h + 1)); // 65536: where ∞ begins
        const mid = (a + b) / 2;
        assert.equal(Math.fround(mid), mid, 'midpoint is a float32');
        const even = (h & 1) === 0 ? sign | h : sign | (h + 1);
        assert.equal(numberToFloat16(mid), even, `tie between 0x${(sign | h).toString(16)} and its successor`);
        if (mid !== 0) {
          assert.equal(numberToFloat16(nextToward(mid)), sign | h, `just below the midpoint after 0x${(sign | h).toString(16)}`);
          assert.equal(numberToFloat16(nextAway(mid)), sign | (h + 1), `just above the midpoint after 0x${(sign | h).toString(16)}`);
        }
      }
    }
  });

  test('overflows to ±∞ from 65520 on, underflows to ±0 below 2^−25, maps NaN to NaN and float32 subnormals to zero', () => {
    assert.equal(numberToFloat16(65519.99), 0x7bff);
    assert.equal(numberToFloat16(65520), 0x7c00);
    assert.equal(numberToFloat16(1e10), 0x7c00);
    assert.equal(numberToFloat16(-1e10), 0xfc00);
    assert.equal(numberToFloat16(Infinity), 0x7c00);
    assert.equal(numberToFloat16(-Infinity), 0xfc00);
    assert.equal(numberToFloat16(2 ** -25), 0x0000, 'tie with zero goes to zero (even)');
    assert.equal(numberToFloat16(nextAway(2 ** -25)), 0x0001);
    assert.equal(numberToFloat16(-(2 ** -26)), 0x8000);
    assert.equal(numberToFloat16(-0), 0x8000);
    assert.equal(numberToFloat16(1e-40), 0x0000, 'a float32 subnormal');
    const nan = numberToFloat16(NaN);
    assert.equal(nan & 0x7c00, 0x7c00);
    assert.notEqual(nan & 0x3ff, 0, 'NaN stays NaN');
    assert.ok(Number.isNaN(float16ToNumber(numberToFloat16(fromBits(0x7f800001)))), 'a NaN with only low payload bits stays NaN');
  });

  test('toFloat16 and fromFloat16 convert whole arrays, Float32Array or number[]', () => {
    const values = [0, -0, 1, -2.5, 0.1, 65504, 70000, 2 ** -24, 3.14159];
    const bits = toFloat16(Float32Array.from(values));
    assert.ok(bits instanceof Uint16Array);
    assert.deepEqual([...bits], values.map(numberToFloat16));
    assert.deepEqual([...toFloat16(values)], [...bits]);
    const back = fromFloat16(bits);
    assert.ok(back instanceof Float32Array);
    assert.deepEqual([...back], [...bits].map(float16ToNumber));
    assert.ok(Math.abs(back[4]! - 0.1) < 1e-4);
    assert.equal(back[6], Infinity, '70000 is beyond float16');
    assert.equal(back[8], 3.140625);
    // A view into a larger buffer is read in place.
    const big = new Float32Array(8).fill(7);
    big.set([1.5, 2.5], 3);
    assert.deepEqual([...toFloat16(big.subarray(3, 5))], [numberToFloat16(1.5), numberToFloat16(2.5)]);
  });
});
