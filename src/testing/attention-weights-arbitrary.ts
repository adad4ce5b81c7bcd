import fc from 'fast-check';
import type { Arbitrary } from 'fast-check';
import type { AttentionWeights, Vector } from '../attention/index.js';
import { integerAtLeast, knownParameters, objectOf, oneOfOrAbsent, positiveNumber } from './internal/arguments.js';
import { gridArbitrary, onGrid } from './internal/grid.js';

/**
 * The sizes the projection matrices must match: the options of the same names.
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { createAttention } from 'attnstream';
 * import { attentionWeightsArbitrary } from 'attnstream/testing';
 * import type { WeightsShape } from 'attnstream/testing';
 * const shape: WeightsShape = { dim: 4, heads: 2, kvHeads: 1, headDim: 2 };
 * const [weights] = fc.sample(attentionWeightsArbitrary(shape), 1);
 * createAttention({ ...shape, weights: weights! }); // accepted: the matrices fit these options
 * ```
 */
export interface WeightsShape {
  /** Embedding size: the columns of `wq`, `wk` and `wv`, the rows of `wo`. */
  readonly dim: number;
  /** Query heads: `wq` has heads·headDim rows. */
  readonly heads: number;
  /** Key/value heads: `wk` and `wv` have kvHeads·headDim rows. */
  readonly kvHeads: number;
  /** Size of one head. */
  readonly headDim: number;
}

/**
 * How {@link attentionWeightsArbitrary} draws matrices.
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { attentionWeightsArbitrary } from 'attnstream/testing';
 * import type { AttentionWeightsConstraints } from 'attnstream/testing';
 * const constraints: AttentionWeightsConstraints = { magnitude: 2, steps: 4, output: false, biases: false };
 * const [weights] = fc.sample(attentionWeightsArbitrary({ dim: 2, heads: 1, kvHeads: 1, headDim: 2 }, constraints), 1);
 * console.log(weights); // e.g. { wq: [0.5, 1.5, 0.5, 0.5], wk: [0.5, 1, -1, 2], wv: [-0.5, 1, 0, -1] }: multiples of 1/2 in [−2, 2], no wo, no biases
 * ```
 */
export interface AttentionWeightsConstraints {
  /** Entries lie in `[−magnitude, magnitude]`. Default 1. */
  readonly magnitude?: number | undefined;
  /** Grid points each side of zero, as in {@link VectorConstraints}. Default 10. */
  readonly steps?: number | undefined;
  /** true: always an output projection `wo`; false: never; default: either (it shrinks away). */
  readonly output?: boolean | undefined;
  /**
   * true: every bias (`bq`, `bk`, `bv`, and `bo` with `wo`); false: none; default: each or not
   * (they shrink away).
   */
  readonly biases?: boolean | undefined;
}

/**
 * Projection matrices of matching shapes, row-major as `number[]`: `wq` (heads·headDim)×dim, `wk`
 * and `wv` (kvHeads·headDim)×dim, and `wo` dim×(heads·headDim) when drawn; biases of their rows'
 * counts when drawn. Entries shrink towards 0, and `wo` and the biases towards absent.
 *
 * @throws AttentionError INVALID_ARGUMENT when a size is not a positive integer or the magnitude
 *   or step count is bad, a switch is not a boolean, or a constraint key is unknown.
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { attentionWeightsArbitrary } from 'attnstream/testing';
 * const shape = { dim: 4, heads: 4, kvHeads: 2, headDim: 2 };
 * const [weights] = fc.sample(attentionWeightsArbitrary(shape, { output: true }), 1);
 * console.log(weights!.wq.length, weights!.wk.length, weights!.wo!.length); // 32 16 32
 * ```
 */
export function attentionWeightsArbitrary(
  shape: WeightsShape,
  constraints: AttentionWeightsConstraints = {},
): Arbitrary<
  AttentionWeights & {
    /** (heads·headDim) × dim. */
    readonly wq: Vector;
    /** (kvHeads·headDim) × dim. */
    readonly wk: Vector;
    /** (kvHeads·headDim) × dim. */
    readonly wv: Vector;
  }
> {
  objectOf(shape, 'shape');
  const dim = integerAtLeast(shape.dim, 1, 'dim');
  const queryWidth = integerAtLeast(shape.heads, 1, 'heads') * integerAtLeast(shape.headDim, 1, 'headDim');
  const keyWidth = integerAtLeast(shape.kvHeads, 1, 'kvHeads') * shape.headDim;
  knownParameters(constraints, ['magnitude', 'steps', 'output', 'biases'] satisfies (keyof AttentionWeightsConstraints)[], 'attentionWeightsArbitrary');
  oneOfOrAbsent(constraints.output, [true, false], 'output');
  oneOfOrAbsent(constraints.biases, [true, false], 'biases');
  const magnitude = positiveNumber(constraints.magnitude ?? 1, 'magnitude');
  const steps = integerAtLeast(constraints.steps ?? 10, 1, 'steps', 2 ** 30);
  const matrix = (rows: number, cols: number): Arbitrary<number[]> => gridArbitrary(rows * cols, steps).map((ks) => onGrid(ks, magnitude, steps));
  const projections = { wq: matrix(queryWidth, dim), wk: matrix(keyWidth, dim), wv: matrix(keyWidth, dim) };
  const biases = { bq: matrix(1, queryWidth), bk: matrix(1, keyWidth), bv: matrix(1, keyWidth) };
  const output = { wo: matrix(dim, queryWidth) };
  const drawn = {
    ...projections,
    ...(constraints.biases === false ? {} : biases),
    ...(constraints.output === false ? {} : output),
  };
  const required: string[] = [
    ...Object.keys(projections),
    ...(constraints.biases === true ? Object.keys(biases) : []),
    ...(constraints.output === true ? Object.keys(output) : []),
  ];
  // fc.record builds objects without a prototype; users print them and call their methods.
  const withoutOutputBias = fc.record(drawn, { requiredKeys: required as (keyof typeof drawn)[] }).map((weights) => ({ ...weights }));
  if (constraints.biases === false || constraints.output === false) return withoutOutputBias;
  // bo exists only beside wo: drawn with it (always with biases: true, else now and then).
  const bo = matrix(1, dim);
  return fc.tuple(withoutOutputBias, constraints.biases === true ? bo : fc.option(bo, { nil: undefined })).map(([weights, b]) =>
    weights.wo === undefined || b === undefined ? weights : { ...weights, bo: b },
  );
}
