import { describeValue } from '../errors.js';
import { ropeInverseFrequencies } from '../kernels/rope.js';
import { invalid, positiveNumber } from './option-checks.js';
import { checkedSpeeds, readRopeScaling } from './rope-scaling.js';
import type { RopeScalingBasics, ScaledRope } from './rope-scaling.js';

/**
 * A model's YaRN `rope_scaling` (`rope_type: "yarn"` in its Hugging Face config.json: gpt-oss,
 * Qwen's long-context configs, DeepSeek), with the head's rotated size and `rope_theta`: what
 * {@link yarnRope} takes. The optional fields default as Hugging Face defaults them.
 *
 * @example
 * ```ts
 * import type { YarnRopeScaling } from 'attnstream';
 *
 * // gpt-oss's config.json: "head_dim": 64, "rope_theta": 150000, "rope_scaling": { "rope_type": "yarn",
 * //   "factor": 32.0, "beta_fast": 32.0, "beta_slow": 1.0, "truncate": false, "original_max_position_embeddings": 4096 }
 * const scaling: YarnRopeScaling = { ropeDim: 64, ropeBase: 150000, factor: 32, originalMaxPositionEmbeddings: 4096, truncate: false };
 * ```
 */
export interface YarnRopeScaling extends RopeScalingBasics {
  /** The numbers of a head RoPE rotates: `head_dim · partial_rotary_factor`. */
  readonly ropeDim: number;
  /** `rope_theta`. */
  readonly ropeBase: number;
  /**
   * `factor`: how many times longer than the original the context becomes. (Recent Hugging Face
   * versions take `max_position_embeddings / original_max_position_embeddings` instead when the
   * scaling gives the latter; the configs that ship with models keep the two equal.)
   */
  readonly factor: number;
  /** `original_max_position_embeddings` (the pretraining context; Hugging Face falls back to `max_position_embeddings`). */
  readonly originalMaxPositionEmbeddings: number;
  /** `beta_fast`: rotations over the original context below which a speed is fully interpolated. Default 32. */
  readonly betaFast?: number | undefined;
  /** `beta_slow`: rotations above which a speed is kept as is. Default 1. */
  readonly betaSlow?: number | undefined;
  /** `truncate`: round the ramp's ends outwards to whole pairs. Default true (gpt-oss: false). */
  readonly truncate?: boolean | undefined;
  /** `attention_factor`, when the config gives it; otherwise computed from factor (and mscale). */
  readonly attentionFactor?: number | undefined;
  /** `mscale` (DeepSeek), used with mscaleAllDim when attentionFactor is not given. */
  readonly mscale?: number | undefined;
  /** `mscale_all_dim` (DeepSeek), used with mscale when attentionFactor is not given. */
  readonly mscaleAllDim?: number | undefined;
}

/**
 * What {@link yarnRope} returns: the speeds and the factor Hugging Face multiplies cos and sin by
 * ({@link ScaledRope}, the type {@link yarnRope} and {@link longRope} return; the other scaling
 * helpers return the speeds alone).
 *
 * @example
 * ```ts
 * import { yarnRope } from 'attnstream';
 * import type { YarnRope } from 'attnstream';
 *
 * const yarn: YarnRope = yarnRope({ ropeDim: 64, ropeBase: 150000, factor: 32, originalMaxPositionEmbeddings: 4096, truncate: false });
 * console.log(yarn.ropeFrequencies.length, yarn.attentionFactor); // 32 1.3465…: 0.1·ln 32 + 1
 * ```
 */
export type YarnRope = ScaledRope;

/**
 * RoPE's rotation speeds and attention factor under YaRN scaling: Hugging Face's
 * `_compute_yarn_parameters`, in float64. With `f_m = ropeBase^(−2m / ropeDim)`, the pair index
 * `d(r) = ropeDim·ln(original / (2π·r)) / (2·ln ropeBase)` that turns r times over the original
 * context marks the ramp's ends, `low = d(betaFast)` and `high = d(betaSlow)` (rounded outwards
 * with `truncate`, clamped to [0, ropeDim − 1]); with `t = clamp((m − low) / (high − low), 0, 1)`
 * the speed is `t·f_m / factor + (1 − t)·f_m`: the fast pairs keep their speed, the slow ones are
 * divided by factor. The attention factor is `attentionFactor` when given, else
 * `g(factor, mscale) / g(factor, mscaleAllDim)` when both are given, else `g(factor, 1)`, with
 * `g(s, k) = 0.1·k·ln s + 1` (1 for s ≤ 1). Hugging Face computes the speeds in float32; these
 * are the formula's, within float32's rounding of them. Refuses parameters the formula cannot
 * take with INVALID_OPTION (`field` e.g. `"betaFast"`).
 *
 * @example
 * ```ts
 * import { createAttention, yarnRope } from 'attnstream';
 * import type { AttentionWeights } from 'attnstream';
 * declare const layerWeights: AttentionWeights; // the layer's { wq, wk, wv, wo, bq, bk, bv, bo } (docs/guides/models.md)
 * declare const sinks: number[]; // its self_attn.sinks
 *
 * // gpt-oss: head_dim 64, 64 query heads over 8 kv heads, rope_theta 150000, YaRN factor 32
 * const { ropeFrequencies, attentionFactor } = yarnRope({ ropeDim: 64, ropeBase: 150000, factor: 32, originalMaxPositionEmbeddings: 4096, truncate: false });
 * const layer = createAttention({
 *   dim: 2880, heads: 64, kvHeads: 8, headDim: 64, positions: 'rope', ropeFrequencies,
 *   scale: attentionFactor ** 2 / Math.sqrt(64), sinkLogits: sinks, weights: layerWeights,
 * });
 * ```
 */
export function yarnRope(scaling: YarnRopeScaling): YarnRope {
  const { ropeDim, base, factor, original } = readRopeScaling(scaling, ['betaFast', 'betaSlow', 'truncate', 'attentionFactor', 'mscale', 'mscaleAllDim']);
  const betaFast = positiveNumber(scaling.betaFast ?? 32, 'betaFast');
  const betaSlow = positiveNumber(scaling.betaSlow ?? 1, 'betaSlow');
  const truncate = scaling.truncate ?? true;
  if (typeof truncate !== 'boolean') invalid('truncate', `must be a boolean, got ${describeValue(truncate)}`);

  const pairAt = (rotations: number) => (ropeDim * Math.log(original / (rotations * 2 * Math.PI))) / (2 * Math.log(base));
  let low = pairAt(betaFast);
  let high = pairAt(betaSlow);
  // A beta so small that original / (2π·beta) overflows puts the ramp's end past every pair (one so
  // large that it underflows to 0 puts it before pair 0, which the clamp below takes).
  if (low === Infinity) invalid('betaFast', `puts the ramp's end at pair Infinity: original / (2π·betaFast) overflows, got ${betaFast}`);
  if (high === Infinity) invalid('betaSlow', `puts the ramp's end at pair Infinity: original / (2π·betaSlow) overflows, got ${betaSlow}`);
  if (truncate) [low, high] = [Math.floor(low), Math.ceil(high)];
  low = Math.max(low, 0);
  high = Math.min(high, ropeDim - 1);
  // Hugging Face's guard against a zero-width ramp.
  if (low === high) high += 0.001;
  const speeds = ropeInverseFrequencies(ropeDim, base);
  for (let m = 0; m < speeds.length; m++) {
    const t = Math.min(1, Math.max(0, (m - low) / (high - low)));
    const f = speeds[m]!;
    speeds[m] = (f / factor) * t + f * (1 - t);
  }
  return { ropeFrequencies: checkedSpeeds(speeds), attentionFactor: yarnAttentionFactor(scaling, factor) };
}

function yarnAttentionFactor(scaling: YarnRopeScaling, factor: number): number {
  // Each checked whenever given, though used (as Hugging Face uses them) only together and without attentionFactor.
  const mscale = scaling.mscale === undefined ? undefined : positiveNumber(scaling.mscale, 'mscale');
  const mscaleAllDim = scaling.mscaleAllDim === undefined ? undefined : positiveNumber(scaling.mscaleAllDim, 'mscaleAllDim');
  if (scaling.attentionFactor !== undefined) return positiveNumber(scaling.attentionFactor, 'attentionFactor');
  const g = (k: number) => (factor <= 1 ? 1 : 0.1 * k * Math.log(factor) + 1);
  if (mscale === undefined || mscaleAllDim === undefined) return g(1);
  return g(mscale) / g(mscaleAllDim);
}
