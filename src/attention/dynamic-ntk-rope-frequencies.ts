import { ropeInverseFrequencies } from '../kernels/rope.js';
import { invalid, positiveInteger } from './option-checks.js';
import { readRopeScaling } from './rope-scaling.js';
import type { RopeScalingBasics } from './rope-scaling.js';

/**
 * A model's dynamic NTK `rope_scaling` (`rope_type: "dynamic"` in its Hugging Face config.json),
 * with the head's rotated size, `rope_theta` and the context the engine will run to: what
 * {@link dynamicNtkRopeFrequencies} takes.
 *
 * @example
 * ```ts
 * import type { DynamicNtkRopeScaling } from 'attnstream';
 *
 * // config.json: "head_dim": 128, "rope_theta": 10000, "max_position_embeddings": 4096,
 * //   "rope_scaling": { "rope_type": "dynamic", "factor": 2.0 }
 * const scaling: DynamicNtkRopeScaling = { ropeDim: 128, ropeBase: 10000, factor: 2, originalMaxPositionEmbeddings: 4096, contextLength: 16384 };
 * ```
 */
export interface DynamicNtkRopeScaling extends RopeScalingBasics {
  /** The numbers of a head RoPE rotates: `head_dim · partial_rotary_factor` (at least 4). */
  readonly ropeDim: number;
  /** `rope_theta`. */
  readonly ropeBase: number;
  /** `factor`. */
  readonly factor: number;
  /** `max_position_embeddings`: the context the model was trained on, past which the base grows. */
  readonly originalMaxPositionEmbeddings: number;
  /**
   * The longest sequence this engine will hold. Hugging Face grows the base with the length of
   * each forward pass, and a cached generation keeps its earlier keys rotated as they were; an
   * engine's keys share one rotation, so the base is chosen once, for the length the application
   * runs to (what one forward pass over that many tokens uses).
   */
  readonly contextLength: number;
}

/**
 * RoPE's rotation speeds under dynamic NTK scaling, for the `ropeFrequencies` option: Hugging
 * Face's `_compute_dynamic_ntk_parameters`, in float64. With `L = max(contextLength, original)`
 * the base becomes `ropeBase · (factor·L / original − (factor − 1))^(ropeDim / (ropeDim − 2))`, and
 * the speeds are `base^(−2m / ropeDim)` as plain RoPE's: up to the original context nothing
 * changes. There is no attention factor. Refuses what the formula cannot take with INVALID_OPTION
 * (`field` e.g. `"contextLength"`; a ropeDim of 2 divides by zero).
 *
 * @example
 * ```ts
 * import { createAttention, dynamicNtkRopeFrequencies } from 'attnstream';
 *
 * const ropeFrequencies = dynamicNtkRopeFrequencies({ ropeDim: 128, ropeBase: 10000, factor: 2, originalMaxPositionEmbeddings: 4096, contextLength: 16384 });
 * const layer = createAttention({ dim: 4096, heads: 32, headDim: 128, positions: 'rope', ropeFrequencies });
 * console.log(ropeFrequencies[1]); // 0.8396…: the base grew from 10,000 to 10,000 · 7^(128/126) ≈ 72,196
 * ```
 */
export function dynamicNtkRopeFrequencies(scaling: DynamicNtkRopeScaling): Float64Array {
  const { ropeDim, base, factor, original } = readRopeScaling(scaling, ['contextLength']);
  if (ropeDim < 4) invalid('ropeDim', `must be at least 4 (the base's exponent is ropeDim / (ropeDim − 2)), got ${ropeDim}`);
  const length = Math.max(positiveInteger(scaling.contextLength, 'contextLength'), original);
  // Hugging Face's factor·L / original − (factor − 1), written so that it is exactly 1 at L = original.
  const grown = base * Math.pow(1 + (factor * (length - original)) / original, ropeDim / (ropeDim - 2));
  if (!Number.isFinite(grown)) invalid('contextLength', `makes the base overflow (${grown}) with factor ${factor} over ${original} tokens`);
  return ropeInverseFrequencies(ropeDim, grown);
}
