import { ropeInverseFrequencies } from '../kernels/rope.js';
import { invalid, positiveNumber } from './option-checks.js';
import { checkedSpeeds, readRopeScaling } from './rope-scaling.js';
import type { RopeScalingBasics } from './rope-scaling.js';

/**
 * A Llama 3 model's `rope_scaling` (`rope_type: "llama3"` in its Hugging Face config.json), with
 * the head's rotated size and `rope_theta`: what {@link llama3RopeFrequencies} takes.
 *
 * @example
 * ```ts
 * import type { Llama3RopeScaling } from 'attnstream';
 *
 * // config.json: "rope_theta": 500000, "rope_scaling": { "factor": 8.0, "low_freq_factor": 1.0,
 * //   "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3" }
 * const scaling: Llama3RopeScaling = {
 *   ropeDim: 128, ropeBase: 500000, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192,
 * };
 * ```
 */
export interface Llama3RopeScaling extends RopeScalingBasics {
  /** The numbers of a head RoPE rotates: `head_dim` (all of them, in Llama 3). */
  readonly ropeDim: number;
  /** `rope_theta` (500,000 in Llama 3). */
  readonly ropeBase: number;
  /** `factor` (8 in Llama 3.1, 32 in Llama 3.2). */
  readonly factor: number;
  /** `low_freq_factor` (1). */
  readonly lowFreqFactor: number;
  /** `high_freq_factor` (4); greater than lowFreqFactor. */
  readonly highFreqFactor: number;
  /** `original_max_position_embeddings` (8,192). */
  readonly originalMaxPositionEmbeddings: number;
}

/**
 * RoPE's rotation speeds under Llama 3's scaling, for the `ropeFrequencies` option: Hugging Face's
 * `_compute_llama3_parameters`. With `f_m = ropeBase^(−2m / ropeDim)` and its wavelength
 * `λ = 2π / f_m`, a speed whose wavelength is shorter than `original / highFreqFactor` stays, one
 * longer than `original / lowFreqFactor` is divided by `factor`, and one between is blended:
 * `(1 − s)·f_m / factor + s·f_m` with `s = (original / λ − lowFreqFactor) / (highFreqFactor −
 * lowFreqFactor)`. A factor of 1 leaves every speed as `ropeBase` alone gives it. Refuses
 * parameters the formula cannot take with INVALID_OPTION (`field` e.g. `"factor"`).
 *
 * @example
 * ```ts
 * import { createAttention, llama3RopeFrequencies } from 'attnstream';
 * import type { AttentionWeights } from 'attnstream';
 * declare const layerWeights: AttentionWeights; // the layer's { wq, wk, wv, wo } (q_proj … o_proj, docs/guides/models.md)
 *
 * // Llama 3.1 8B's config.json: head_dim 128, rope_theta 500000, rope_scaling { factor: 8, … }
 * const ropeFrequencies = llama3RopeFrequencies({
 *   ropeDim: 128, ropeBase: 500000, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192,
 * });
 * const layer = createAttention({ dim: 4096, heads: 32, kvHeads: 8, headDim: 128, positions: 'rope', ropeFrequencies, weights: layerWeights });
 * ```
 */
export function llama3RopeFrequencies(scaling: Llama3RopeScaling): Float64Array {
  const { ropeDim, base, factor, original } = readRopeScaling(scaling, ['lowFreqFactor', 'highFreqFactor']);
  const low = positiveNumber(scaling.lowFreqFactor, 'lowFreqFactor');
  const high = positiveNumber(scaling.highFreqFactor, 'highFreqFactor');
  if (high <= low) invalid('highFreqFactor', `must be greater than lowFreqFactor (${low}), got ${high}`);
  const speeds = ropeInverseFrequencies(ropeDim, base);
  for (let m = 0; m < speeds.length; m++) {
    const f = speeds[m]!;
    const wavelength = (2 * Math.PI) / f;
    if (wavelength > original / low) speeds[m] = f / factor;
    else if (wavelength >= original / high) {
      const s = (original / wavelength - low) / (high - low);
      speeds[m] = ((1 - s) * f) / factor + s * f;
    }
  }
  return checkedSpeeds(speeds);
}
