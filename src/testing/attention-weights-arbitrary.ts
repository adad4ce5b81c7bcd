import fc from 'fast-check';
import type { Arbitrary } from 'fast-check';
import type { AttentionWeights } from '../attention/index.js';
import { integerAtLeast, positiveNumber } from './internal/arguments.js';
import { gridArbitrary, onGrid } from './internal/grid.js';

/** The sizes the projection matrices must match. */
export interface WeightsShape {
  readonly dim: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
}

/** How {@link attentionWeightsArbitrary} draws matrices. */
export interface AttentionWeightsConstraints {
  /** Entries lie in `[−magnitude, magnitude]`. Default 1. */
  readonly magnitude?: number;
  /** Grid points each side of zero, as in {@link VectorConstraints}. Default 10. */
  readonly steps?: number;
  /** true: always an output projection `wo`; false: never; default: either (it shrinks away). */
  readonly output?: boolean;
}

/**
 * Projection matrices of matching shapes, row-major as `number[]`: `wq` (heads·headDim)×dim, `wk`
 * and `wv` (kvHeads·headDim)×dim, and `wo` dim×(heads·headDim) when drawn. Entries shrink
 * towards 0, and `wo` towards absent.
 *
 * @throws AttentionError INVALID_ARGUMENT when a size is not a positive integer or the magnitude
 *   or step count is bad.
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { attentionWeightsArbitrary } from 'attnstream/testing';
 * const shape = { dim: 4, heads: 4, kvHeads: 2, headDim: 2 };
 * const [weights] = fc.sample(attentionWeightsArbitrary(shape, { output: true }), 1);
 * console.log(weights!.wq.length, weights!.wk.length, weights!.wo!.length); // 32 16 32
 * ```
 */
export function attentionWeightsArbitrary(shape: WeightsShape, constraints: AttentionWeightsConstraints = {}): Arbitrary<AttentionWeights> {
  const dim = integerAtLeast(shape.dim, 1, 'dim');
  const queryWidth = integerAtLeast(shape.heads, 1, 'heads') * integerAtLeast(shape.headDim, 1, 'headDim');
  const keyWidth = integerAtLeast(shape.kvHeads, 1, 'kvHeads') * shape.headDim;
  const magnitude = positiveNumber(constraints.magnitude ?? 1, 'magnitude');
  const steps = integerAtLeast(constraints.steps ?? 10, 1, 'steps');
  const matrix = (rows: number, cols: number): Arbitrary<number[]> => gridArbitrary(rows * cols, steps).map((ks) => onGrid(ks, magnitude, steps));
  const projections = { wq: matrix(queryWidth, dim), wk: matrix(keyWidth, dim), wv: matrix(keyWidth, dim) };
  if (constraints.output === false) return fc.record(projections);
  if (constraints.output === true) return fc.record({ ...projections, wo: matrix(dim, queryWidth) });
  return fc.record({ ...projections, wo: matrix(dim, queryWidth) }, { requiredKeys: ['wq', 'wk', 'wv'] });
}
