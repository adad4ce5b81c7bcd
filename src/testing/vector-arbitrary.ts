import type { Arbitrary } from 'fast-check';
import { integerAtLeast, knownParameters, positiveNumber } from './internal/arguments.js';
import { gridArbitrary, onGrid } from './internal/grid.js';

/**
 * How {@link vectorArbitrary} draws entries.
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { vectorArbitrary } from 'attnstream/testing';
 * import type { VectorConstraints } from 'attnstream/testing';
 * const halves: VectorConstraints = { magnitude: 1, steps: 2 };
 * console.log(fc.sample(vectorArbitrary(3, halves), 2)); // e.g. [[-0.5, -1, 0], [-1, 0.5, 0]]: multiples of 1/2 in [−1, 1]
 * ```
 */
export interface VectorConstraints {
  /**
   * Entries lie in `[−magnitude, magnitude]`. Default 1. Use 1e4 to reach the scores (≈1e8) at
   * which a softmax that does not subtract its maximum overflows.
   */
  readonly magnitude?: number | undefined;
  /**
   * Entries are multiples of `magnitude / steps`, so counterexamples read like `0.3` or `−7000`
   * and exact ties between scores happen. At most 2³⁰. Default 10.
   */
  readonly steps?: number | undefined;
}

/**
 * Vectors of `dim` numbers in `[−magnitude, magnitude]`, on a grid of `steps` points each side of
 * zero; they shrink entry by entry towards 0.
 *
 * @throws AttentionError INVALID_ARGUMENT when `dim` is not a positive integer, `magnitude` not a
 *   finite positive number or `steps` not a positive integer, and for constraints that are not an
 *   object or name an unknown key.
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { vectorArbitrary } from 'attnstream/testing';
 * const [x] = fc.sample(vectorArbitrary(4, { magnitude: 1e4 }), 1); // e.g. [3000, -10000, 0, 7000]
 * ```
 */
export function vectorArbitrary(dim: number, constraints: VectorConstraints = {}): Arbitrary<number[]> {
  integerAtLeast(dim, 1, 'dim');
  knownParameters(constraints, ['magnitude', 'steps'] satisfies (keyof VectorConstraints)[], 'vectorArbitrary');
  const magnitude = positiveNumber(constraints.magnitude ?? 1, 'magnitude');
  const steps = integerAtLeast(constraints.steps ?? 10, 1, 'steps', 2 ** 30);
  return gridArbitrary(dim, steps).map((ks) => onGrid(ks, magnitude, steps));
}
