import { cutText } from '../errors.js';
import { MAX_SPEED, MAX_WIDTH } from './options.js';
import { invalid, positiveInteger, positiveNumber, ropeBaseOf } from './option-checks.js';

/**
 * What every `rope_scaling` helper starts from: the rotated size, the base, the factor and the
 * original context (each helper's own type adds its fields).
 *
 * @example
 * ```ts
 * import { llama3RopeFrequencies } from 'attnstream';
 * import type { RopeScalingBasics } from 'attnstream';
 * const basics: RopeScalingBasics = { ropeDim: 128, ropeBase: 500000, factor: 8, originalMaxPositionEmbeddings: 8192 };
 * const speeds = llama3RopeFrequencies({ ...basics, lowFreqFactor: 1, highFreqFactor: 4 });
 * console.log(speeds.length); // 64
 * ```
 */
export interface RopeScalingBasics {
  /** Channels RoPE rotates (`head_dim` times `partial_rotary_factor`). */
  readonly ropeDim: number;
  /** `rope_theta`. */
  readonly ropeBase: number;
  /** `rope_scaling.factor`. */
  readonly factor: number;
  /** `rope_scaling.original_max_position_embeddings`. */
  readonly originalMaxPositionEmbeddings: number;
}

/**
 * RoPE's rotation speeds under a scaling, and the factor Hugging Face multiplies cos and sin by:
 * what {@link yarnRope} and {@link longRope} return.
 *
 * @example
 * ```ts
 * import { yarnRope } from 'attnstream';
 * import type { ScaledRope } from 'attnstream';
 *
 * const yarn: ScaledRope = yarnRope({ ropeDim: 64, ropeBase: 150000, factor: 32, originalMaxPositionEmbeddings: 4096, truncate: false });
 * console.log(yarn.ropeFrequencies.length, yarn.attentionFactor); // 32 1.3465…: 0.1·ln 32 + 1
 * ```
 */
export interface ScaledRope {
  /** The rotation speeds, for the `ropeFrequencies` option (ropeDim / 2 of them). */
  readonly ropeFrequencies: Float64Array;
  /**
   * Hugging Face multiplies RoPE's cos and sin by this, so a rotated query and key each grow by it
   * and their dot product by its square. With RoPE over the whole head (ropeDim = headDim, as in
   * gpt-oss and Phi-3) that is the engine's `scale: attentionFactor ** 2 / Math.sqrt(headDim)`.
   * Under partial rotary only the rotated numbers grow, which no scale expresses.
   */
  readonly attentionFactor: number;
}

/** The fields every scaling takes. */
const BASICS = ['ropeDim', 'ropeBase', 'factor', 'originalMaxPositionEmbeddings'] as const;

/**
 * `scaling`'s shared fields, checked (INVALID_OPTION naming the field): an even ropeDim no wider
 * than a head can be (2²⁴), a base > 1, a positive factor and context; and no field but those and
 * the helper's `own` (a misspelt optional one, or a config.json's snake_case name such as
 * `mscale_all_dim`, would otherwise leave its default in place without a word).
 */
export function readRopeScaling<S extends RopeScalingBasics>(scaling: S, own: readonly Exclude<keyof S, keyof RopeScalingBasics>[]): { ropeDim: number; base: number; factor: number; original: number } {
  if (scaling === null || typeof scaling !== 'object') invalid('scaling', 'must be an object');
  const known: readonly string[] = [...BASICS, ...own.map(String)];
  for (const key of Object.keys(scaling)) {
    if (known.includes(key)) continue;
    const camel = key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    const hint = camel !== key && known.includes(camel) ? ` (the config's ${key} is ${camel} here)` : '';
    invalid(cutText(key), `is not a field of this scaling${hint} (known: ${known.join(', ')})`);
  }
  const ropeDim = positiveInteger(scaling.ropeDim, 'ropeDim', MAX_WIDTH);
  if (ropeDim % 2 !== 0) invalid('ropeDim', `must be even, got ${ropeDim}`);
  return {
    ropeDim,
    base: ropeBaseOf(scaling.ropeBase),
    factor: positiveNumber(scaling.factor, 'factor'),
    original: positiveNumber(scaling.originalMaxPositionEmbeddings, 'originalMaxPositionEmbeddings'),
  };
}

/**
 * `speeds`, once each is checked to be a number > 0 that `ropeFrequencies` takes (at most
 * {@link MAX_SPEED}): INVALID_OPTION naming `field` otherwise, what divided them (the factor: one
 * of 1e-310 divides a speed to ∞, one of 1e-304 past the bound; LongRoPE's list).
 */
export function checkedSpeeds(speeds: Float64Array, field = 'factor'): Float64Array {
  speeds.forEach((speed, m) => {
    if (!(speed > 0 && speed <= MAX_SPEED)) invalid(field, `gives pair ${m} the rotation speed ${speed}, not a number > 0 and at most ${MAX_SPEED.toPrecision(3)}`);
  });
  return speeds;
}
