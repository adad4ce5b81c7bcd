import type { FloatArray } from './float-array.js';

/**
 * `invFreq[m] = base^(−2m / headDim)` for `m < headDim / 2`: the rotation speeds of RoPE.
 */
export function ropeInverseFrequencies(headDim: number, base: number): Float64Array {
  const half = headDim >> 1;
  const invFreq = new Float64Array(half);
  for (let m = 0; m < half; m++) invFreq[m] = 1 / Math.pow(base, (2 * m) / headDim);
  return invFreq;
}

/**
 * Rotates `u[offset : offset+headDim]` in place to position `position`, in the rotate-half
 * (GPT-NeoX / Llama) convention: with `θ = position · invFreq[m]` and `half = headDim / 2`,
 * `u'[m] = u[m]·cos θ − u[m+half]·sin θ` and `u'[m+half] = u[m+half]·cos θ + u[m]·sin θ`.
 */
export function ropeRotate(u: FloatArray, offset: number, headDim: number, position: number, invFreq: Float64Array): void {
  const half = headDim >> 1;
  for (let m = 0; m < half; m++) {
    const theta = position * invFreq[m]!;
    const cos = Math.cos(theta);
    const sin = Math.sin(theta);
    const a = u[offset + m]!;
    const b = u[offset + m + half]!;
    u[offset + m] = a * cos - b * sin;
    u[offset + m + half] = b * cos + a * sin;
  }
}
