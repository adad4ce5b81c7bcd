import type { FloatArray } from './float-array.js';

/**
 * `invFreq[m] = base^(−2m / ropeDim)` for `m < ropeDim / 2`: the rotation speeds of RoPE over the
 * `ropeDim` numbers of a head it rotates (all of them, or the first ones for partial rotary).
 */
export function ropeInverseFrequencies(ropeDim: number, base: number): Float64Array {
  const half = Math.floor(ropeDim / 2);
  const invFreq = new Float64Array(half);
  for (let m = 0; m < half; m++) invFreq[m] = 1 / Math.pow(base, (2 * m) / ropeDim);
  return invFreq;
}

/**
 * The cosines and sines of RoPE's angles `θ_m = position · invFreq[m]` at one position, made once
 * for every head that position rotates (a step's kv heads, its query heads): `Math.cos` and
 * `Math.sin` cost ~70 ns a pair, ~175 ns past 10⁶ radians (a stream past ~1.6 million tokens), and
 * making them per head had a windowed RoPE step cost 2–3× one without positions.
 */
export class RopeAngles {
  readonly cos: Float64Array;
  readonly sin: Float64Array;
  private position = Number.NaN;

  constructor(private readonly invFreq: Float64Array) {
    this.cos = new Float64Array(invFreq.length);
    this.sin = new Float64Array(invFreq.length);
  }

  /** The table at `position`, made again only when the position is not the last one asked for. */
  at(position: number): this {
    if (position === this.position) return this;
    for (let m = 0; m < this.invFreq.length; m++) {
      const theta = position * this.invFreq[m]!;
      this.cos[m] = Math.cos(theta);
      this.sin[m] = Math.sin(theta);
    }
    this.position = position;
    return this;
  }
}

/**
 * Rotates the first `2·angles.cos.length` numbers from `u[offset]` in place by `angles` (a
 * position's, {@link RopeAngles}); the rest of the head stays as it is (partial rotary). Each pair
 * `(a, b)` becomes `(a·cos θ − b·sin θ, b·cos θ + a·sin θ)`. The pairs are `(m, m + half)` in the
 * rotate-half convention (GPT-NeoX, Hugging Face Llama), or `(2m, 2m + 1)` interleaved (GPT-J,
 * Meta's original Llama).
 */
export function ropeRotateBy(u: FloatArray, offset: number, angles: RopeAngles, interleaved = false): void {
  const { cos, sin } = angles;
  const half = cos.length;
  // Pair m is (first + m·step, first + m·step + partner).
  const step = interleaved ? 2 : 1;
  const partner = interleaved ? 1 : half;
  for (let m = 0; m < half; m++) {
    const i = offset + m * step;
    const a = u[i]!;
    const b = u[i + partner]!;
    u[i] = a * cos[m]! - b * sin[m]!;
    u[i + partner] = b * cos[m]! + a * sin[m]!;
  }
}

/** {@link ropeRotateBy} the angles of `position` (`θ_m = position · invFreq[m]`), for a one-off rotation. */
export function ropeRotate(u: FloatArray, offset: number, position: number, invFreq: Float64Array, interleaved = false): void {
  ropeRotateBy(u, offset, new RopeAngles(invFreq).at(position), interleaved);
}
