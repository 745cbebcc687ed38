/**
 * Deterministic pseudo-random numbers for generated model weights: the same seed gives the same sequence on
 * every run and machine, so generated model files are byte-identical.
 */

/** A seeded random source producing uniforms, normals and initialised weight arrays. */
export class SeededRandom {
  private state: number;
  private spare: number | undefined;

  /** Creates a generator; any 32-bit integer seed is valid. */
  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Next uniform value in [0, 1) (mulberry32: 32-bit state, integer-only arithmetic). */
  uniform(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Next standard-normal value (Box–Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    const u1 = 1 - this.uniform(); // (0, 1], keeps log finite
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /** `count` normal values with standard deviation `std`, as float32. */
  normalArray(count: number, std: number): Float32Array {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = this.normal() * std;
    return out;
  }

  /**
   * He-normal weights: std = gain · sqrt(2 / fanIn), which keeps the second moment of ReLU activations O(1)
   * from layer to layer. Use a gain below 1 for branches that are summed (residual blocks).
   */
  heNormal(count: number, fanIn: number, gain = 1): Float32Array {
    return this.normalArray(count, gain * Math.sqrt(2 / fanIn));
  }

  /**
   * He-uniform weights: uniform in ±gain · sqrt(6 / fanIn), the same variance as {@link heNormal} at a fraction of
   * the cost (no log or trigonometry per value), for models with millions of weights that are generated at install.
   */
  heUniform(count: number, fanIn: number, gain = 1): Float32Array {
    const limit = gain * Math.sqrt(6 / fanIn);
    return this.uniformArray(count, -limit, limit);
  }

  /** `count` uniform values in [lo, hi), as float32. */
  uniformArray(count: number, lo = 0, hi = 1): Float32Array {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = lo + (hi - lo) * this.uniform();
    return out;
  }
}
