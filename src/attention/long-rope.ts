import { ropeInverseFrequencies } from '../kernels/rope.js';
import { invalid, positiveInteger, positiveNumber, readNumbers } from './option-checks.js';
import { checkedSpeeds, readRopeScaling } from './rope-scaling.js';
import type { RopeScalingBasics, ScaledRope } from './rope-scaling.js';
import type { Vector } from './vector.js';

/**
 * A model's LongRoPE `rope_scaling` (`rope_type: "longrope"`, or Phi-3's first name for it, `"su"`,
 * in its Hugging Face config.json: Phi-3 and Phi-3.5 128k, Phi-4-mini), with the head's rotated
 * size, `rope_theta` and the context the engine will run to: what {@link longRope} takes.
 *
 * @example
 * ```ts
 * import type { LongRopeScaling } from 'attnstream';
 *
 * // a Phi-3 128k config.json: "hidden_size": 3072, "num_attention_heads": 32 (head_dim 96),
 * //   "rope_theta": 10000, "max_position_embeddings": 131072, "original_max_position_embeddings": 4096,
 * //   "rope_scaling": { "type": "longrope", "short_factor": [48 numbers], "long_factor": [48 numbers] }
 * const shortFactor = new Array<number>(48).fill(1);
 * const longFactor = Array.from({ length: 48 }, (_, m) => 1 + m);
 * const scaling: LongRopeScaling = {
 *   ropeDim: 96, ropeBase: 10000, factor: 131072 / 4096, originalMaxPositionEmbeddings: 4096,
 *   shortFactor, longFactor, contextLength: 16384,
 * };
 * ```
 */
export interface LongRopeScaling extends RopeScalingBasics {
  /** The numbers of a head RoPE rotates: `head_dim · partial_rotary_factor`. */
  readonly ropeDim: number;
  /** `rope_theta`. */
  readonly ropeBase: number;
  /**
   * How many times longer the context became, which sets the attention factor:
   * `max_position_embeddings / original_max_position_embeddings` when the config gives the latter
   * (as Hugging Face takes it; Phi-3 128k: 131,072 / 4,096 = 32), else `rope_scaling.factor`.
   */
  readonly factor: number;
  /** `original_max_position_embeddings` (the pretraining context; `max_position_embeddings` when the config has none). */
  readonly originalMaxPositionEmbeddings: number;
  /** `short_factor`: ropeDim / 2 divisors of the speeds, for contexts up to the original. */
  readonly shortFactor: Vector;
  /** `long_factor`: ropeDim / 2 divisors of the speeds, for contexts past the original. */
  readonly longFactor: Vector;
  /** `attention_factor`, when the config gives it; otherwise computed from factor. */
  readonly attentionFactor?: number | undefined;
  /**
   * The longest sequence this engine will hold (a stream's tokens, or the window's reach): the
   * long factors when it exceeds originalMaxPositionEmbeddings, the short ones otherwise. Hugging
   * Face picks by the length of each forward pass instead, and once a cached generation passes the
   * original context it rotates only the new tokens by the long factors; an engine's keys all share
   * one rotation, so it is chosen once, for the length the application runs to.
   */
  readonly contextLength: number;
}

/**
 * RoPE's rotation speeds and attention factor under LongRoPE scaling: Hugging Face's
 * `_compute_longrope_parameters`, in float64. With `λ_m` the long or the short factor
 * ({@link LongRopeScaling.contextLength} decides), the speed of pair m is
 * `1 / (λ_m · ropeBase^(2m / ropeDim))`; the attention factor is `attentionFactor` when given,
 * else `√(1 + ln factor / ln originalMaxPositionEmbeddings)` (1 for factor ≤ 1). Hugging Face
 * computes the speeds in float32; these are the formula's, within float32's rounding of them.
 * Refuses what the formula cannot take with INVALID_OPTION (`field` e.g. `"longFactor"`), a factor
 * list of the wrong length with DIMENSION_MISMATCH.
 *
 * @example
 * ```ts
 * import { createAttention, longRope } from 'attnstream';
 *
 * // Phi-3 128k: head_dim 96, 32 heads, rope_theta 10000, RoPE over the whole head
 * const shortFactor = new Array<number>(48).fill(1);
 * const longFactor = Array.from({ length: 48 }, (_, m) => 1 + m); // the config's 48 numbers
 * const { ropeFrequencies, attentionFactor } = longRope({
 *   ropeDim: 96, ropeBase: 10000, factor: 131072 / 4096, originalMaxPositionEmbeddings: 4096,
 *   shortFactor, longFactor, contextLength: 16384,
 * });
 * const layer = createAttention({
 *   dim: 3072, heads: 32, headDim: 96, positions: 'rope', ropeFrequencies,
 *   scale: attentionFactor ** 2 / Math.sqrt(96),
 * });
 * console.log(attentionFactor); // 1.1902…: √(1 + ln 32 / ln 4096)
 * ```
 */
export function longRope(scaling: LongRopeScaling): ScaledRope {
  const { ropeDim, base, factor, original } = readRopeScaling(scaling, ['shortFactor', 'longFactor', 'attentionFactor', 'contextLength']);
  const contextLength = positiveInteger(scaling.contextLength, 'contextLength');
  const long = contextLength > original;
  const field = long ? 'longFactor' : 'shortFactor';
  const divisors = divisorsOf(long ? scaling.longFactor : scaling.shortFactor, field, ropeDim / 2);
  // The other list is checked too: a config with one of them broken is refused whatever the length.
  divisorsOf(long ? scaling.shortFactor : scaling.longFactor, long ? 'shortFactor' : 'longFactor', ropeDim / 2);
  const speeds = ropeInverseFrequencies(ropeDim, base);
  for (let m = 0; m < speeds.length; m++) speeds[m] = speeds[m]! / divisors[m]!;
  if (scaling.attentionFactor === undefined && factor > 1 && original <= 1) {
    invalid('originalMaxPositionEmbeddings', `must be greater than 1 with a factor above 1: the attention factor √(1 + ln factor / ln original) needs ln original > 0, got ${original}`);
  }
  const attentionFactor =
    scaling.attentionFactor !== undefined
      ? positiveNumber(scaling.attentionFactor, 'attentionFactor')
      : factor <= 1
        ? 1
        : Math.sqrt(1 + Math.log(factor) / Math.log(original));
  return { ropeFrequencies: checkedSpeeds(speeds, field), attentionFactor };
}

/** `list` as `count` finite positive numbers: the library's list-option check. */
function divisorsOf(list: unknown, field: string, count: number): Float64Array {
  return readNumbers(list as ArrayLike<number>, count, field, 'ropeDim / 2', (x) => x > 0, 'a finite number > 0');
}
