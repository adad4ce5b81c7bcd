import fc from 'fast-check';
import type { Arbitrary } from 'fast-check';
import { integerAtLeast, knownParameters, positiveNumber } from './internal/arguments.js';
import { gridArbitrary, onGrid } from './internal/grid.js';

/**
 * How {@link sequenceArbitrary} draws a sequence.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import { checkIncremental } from 'attnstream/testing';
 * import type { SequenceConstraints } from 'attnstream/testing';
 * // Longer streams than the default 1 to 8 tokens, all at magnitude 1.
 * const sequence: SequenceConstraints = { minLength: 20, maxLength: 40, magnitude: 1 };
 * checkIncremental(createAttention, { sequence, numRuns: 20 });
 * ```
 */
export interface SequenceConstraints {
  /** Fewest tokens. Default 1. */
  readonly minLength?: number | undefined;
  /** Most tokens. Default 8: enough to cross windows, sinks and look-ahead of the default options. */
  readonly maxLength?: number | undefined;
  /**
   * One magnitude for every token. Default: drawn per sequence, 1 (4 times in 7), 100 (1 in 7) or
   * 1e4 (2 in 7), shrinking towards 1. Scores then reach ≈1e8, where a softmax that does not
   * subtract its maximum overflows and float32 can no longer tell close scores apart.
   */
  readonly magnitude?: number | undefined;
  /** Grid points each side of zero, as in {@link VectorConstraints}. Default 10. */
  readonly steps?: number | undefined;
}

/** Magnitudes the default sequence draws from, with their weights, the simplest first. */
const MAGNITUDES = [
  { magnitude: 1, weight: 4 },
  { magnitude: 100, weight: 1 },
  { magnitude: 1e4, weight: 2 },
] as const;

/**
 * Token sequences: arrays of `dim`-vectors sharing one magnitude. They shrink by dropping tokens,
 * by moving entries towards 0 and by falling back to magnitude 1.
 *
 * @throws AttentionError INVALID_ARGUMENT for a non-positive `dim`, lengths that are not integers
 *   with `0 ≤ minLength ≤ maxLength`, a bad magnitude or step count, or an unknown constraint key.
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { sequenceArbitrary } from 'attnstream/testing';
 * const [xs] = fc.sample(sequenceArbitrary(2, { maxLength: 3 }), 1); // e.g. [[0.3, -1], [0, 0.5]]
 * ```
 */
export function sequenceArbitrary(dim: number, constraints: SequenceConstraints = {}): Arbitrary<number[][]> {
  integerAtLeast(dim, 1, 'dim');
  knownParameters(constraints, ['minLength', 'maxLength', 'magnitude', 'steps'] satisfies (keyof SequenceConstraints)[], 'sequenceArbitrary');
  const minLength = integerAtLeast(constraints.minLength ?? 1, 0, 'minLength');
  const maxLength = integerAtLeast(constraints.maxLength ?? Math.max(8, minLength), minLength, 'maxLength');
  const steps = integerAtLeast(constraints.steps ?? 10, 1, 'steps', 2 ** 30);
  const magnitude =
    constraints.magnitude === undefined
      ? fc.oneof({ withCrossShrink: true }, ...MAGNITUDES.map(({ magnitude, weight }) => ({ arbitrary: fc.constant(magnitude), weight })))
      : fc.constant(positiveNumber(constraints.magnitude, 'magnitude'));
  return fc
    // size 'max': fast-check 4 would otherwise stop at 2·minLength + 10, short of a maxLength asked for.
    .tuple(magnitude, fc.array(gridArbitrary(dim, steps), { minLength, maxLength, size: 'max' }))
    .map(([m, tokens]) => tokens.map((ks) => onGrid(ks, m, steps)));
}
