import type { FloatArray } from './float-array.js';

/**
 * `invFreq[m] = base^(−2m / ropeDim)` for `m < ropeDim / 2`: the rotation speeds of RoPE over the
 * `ropeDim` numbers of a head it rotates (all of them, or the first ones for partial rotary).
 */
export function ropeInverseFrequencies(ropeDim: number, base: number): Float64Array {
  const half = ropeDim >> 1;
  const invFreq = new Float64Array(half);
  for (let m = 0; m < half; m++) invFreq[m] = 1 / Math.pow(base, (2 * m) / ropeDim);
  return invFreq;
}

/**
 * Rotates the first `2·invFreq.length` numbers from `u[offset]` in place to position `position`;
 * the rest of the head stays as it is (partial rotary). With `θ = position · invFreq[m]`, each pair
 * `(a, b)` becomes `(a·cos θ − b·sin θ, b·cos θ + a·sin θ)`. The pairs are `(m, m + half)` in the
 * rotate-half convention (GPT-NeoX, Hugging Face Llama), or `(2m, 2m + 1)` interleaved (GPT-J,
 * Meta's original Llama).
 */
export function ropeRotate(u: FloatArray, offset: number, position: number, invFreq: Float64Array, interleaved = false): void {
  const half = invFreq.length;
  // Pair m is (first + m·step, first + m·step + partner).
  const step = interleaved ? 2 : 1;
  const partner = interleaved ? 1 : half;
  for (let m = 0; m < half; m++) {
    const theta = position * invFreq[m]!;
    const cos = Math.cos(theta);
    const sin = Math.sin(theta);
    const i = offset + m * step;
    const a = u[i]!;
    const b = u[i + partner]!;
    u[i] = a * cos - b * sin;
    u[i + partner] = b * cos + a * sin;
  }
}
