import fc from 'fast-check';
import type { Arbitrary } from 'fast-check';
import type { AttentionOptions, AttentionWeights, PositionEncoding, Vector } from '../attention/index.js';
import { attentionWeightsArbitrary } from './attention-weights-arbitrary.js';
import type { WeightsShape } from './attention-weights-arbitrary.js';
import { arrayOf, integerAtLeast, knownParameters, oneOf, oneOfOrAbsent, positiveNumber } from './internal/arguments.js';
import { largestHalf } from './internal/round-to-half.js';

/**
 * Bounds and switches for {@link attentionOptionsArbitrary}. Every option is drawn unless narrowed here.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import { attentionOptionsArbitrary, checkIncremental } from 'attnstream/testing';
 * import type { AttentionOptionsConstraints } from 'attnstream/testing';
 * // Causal float64 RoPE with projections only: no window, no look-ahead.
 * const constraints: AttentionOptionsConstraints = { precision: 'float64', projections: true, positions: ['rope'], maxWindow: 0, maxLookahead: 0 };
 * checkIncremental(createAttention, { optionsArbitrary: attentionOptionsArbitrary(constraints), numRuns: 20 });
 * ```
 */
export interface AttentionOptionsConstraints {
  /** Largest `dim` with projections, at most 128 (weights are drawn at the largest shape). Default 4. (Seed mode has `dim = heads·headDim`.) */
  readonly maxDim?: number | undefined;
  /** Largest number of query heads, at most 16. Default 4, the smallest that has true GQA (4 heads, 2 kv heads). */
  readonly maxHeads?: number | undefined;
  /** Draw fewer kv heads than query heads too (grouped-query and multi-query). Default true; false keeps `kvHeads` = `heads`. */
  readonly groupedQuery?: boolean | undefined;
  /** Largest `headDim`, at most 32. Default 4. */
  readonly maxHeadDim?: number | undefined;
  /** Only this precision. Default: both. */
  readonly precision?: 'float32' | 'float64' | undefined;
  /** true: always projection weights; false: always seed mode; default: either. */
  readonly projections?: boolean | undefined;
  /** Position encodings to draw from. Default all three. */
  readonly positions?: readonly PositionEncoding[] | undefined;
  /**
   * Draw RoPE's variants too: interleaved pairs (`ropeStyle`), partial rotary (`ropeDim` below
   * headDim) and scaled speeds given as such (`ropeFrequencies`: the slower half of the base's
   * divided by 4, as Llama 3's scaling slows its low frequencies). Default true; false keeps every
   * RoPE case full rotate-half from a base.
   */
  readonly ropeVariants?: boolean | undefined;
  /**
   * RoPE's positions to draw from: by stream index ('absolute') and by rank among the attended
   * keys ('cache', which differs only across sinks). Default both.
   */
  readonly ropePositions?: readonly ('absolute' | 'cache')[] | undefined;
  /**
   * Draw the softmax's variants too: soft-capped scores (`scoreCap`, small enough to bend them)
   * and learned sink logits (`sinkLogits`, one per head, around the scores' size). Default false:
   * few implementations under test have them (the engine's own checks turn them on).
   */
  readonly softmaxVariants?: boolean | undefined;
  /**
   * Draw weights stored in 16 bits too, `weightsDtype: 'bfloat16'` or `'float16'`, in about half
   * the float32 cases with projections (the only ones that take them): the weights are then
   * rounded to that format, a change of up to 2⁻⁸ (bfloat16) or 2⁻¹¹ (binary16) of each, far past
   * float32's tolerance, so an implementation that ignores the option shows; only the formats
   * that hold weights of `weightMagnitude` (binary16 up to 65,504). Default false: few
   * implementations under test store weights in 16 bits.
   */
  readonly halfWeights?: boolean | undefined;
  /** Largest sliding window, at most 2³¹; 0 draws no windows (and so no sinks). Default 4. */
  readonly maxWindow?: number | undefined;
  /** Largest number of sinks, at most 2³¹, drawn only with a window. Default 2. */
  readonly maxSinks?: number | undefined;
  /** Largest look-ahead, at most 2³¹; 0 draws none. Default 2. */
  readonly maxLookahead?: number | undefined;
  /** true: projections always carry biases (`bq`, `bk`, `bv`, and `bo` with `wo`); false: never; default: either. */
  readonly biases?: boolean | undefined;
  /** Magnitude of the weight entries. Default 1. */
  readonly weightMagnitude?: number | undefined;
  /** Ask for attention weights in the steps: true, false, or default either. */
  readonly withWeights?: boolean | undefined;
  /** Cache block sizes to draw from besides the default (64), each at most 1,024. Default [1, 2, 3]; [] never sets it. */
  readonly blockSizes?: readonly number[] | undefined;
}

/** The largest window, sink count or look-ahead drawn: a stream's most tokens (2³¹). */
const MAX_DRAWN_LENGTH = 2 ** 31;

const CONSTRAINT_KEYS = [
  'maxDim', 'maxHeads', 'groupedQuery', 'maxHeadDim', 'precision', 'projections', 'positions', 'ropeVariants', 'ropePositions', 'softmaxVariants',
  'halfWeights', 'maxWindow', 'maxSinks', 'maxLookahead', 'biases', 'weightMagnitude', 'withWeights', 'blockSizes',
] as const satisfies readonly (keyof AttentionOptionsConstraints)[];

interface HeadLayout {
  readonly heads: number;
  readonly kvHeads: number;
}

/** Everything but the weights, drawn first so the weights can be drawn to its shape. */
interface Structure {
  readonly layout: HeadLayout;
  readonly projections: boolean;
  readonly dim: number;
  readonly headDim: number;
  readonly output: boolean;
  readonly biases: boolean;
  readonly precision: 'float32' | 'float64';
  readonly positions: PositionEncoding;
  readonly ropeCache: boolean;
  readonly ropeInterleaved: boolean;
  readonly ropePartial: boolean;
  readonly ropeScaled: boolean;
  readonly ropeBase: number | null;
  readonly scoreCap: number | null;
  readonly sinkLogit: number | null;
  readonly half: 'bfloat16' | 'float16' | null;
  readonly window: number | null;
  readonly sinks: number | null;
  readonly lookahead: number | null;
  readonly scale: number | null;
  readonly withWeights: boolean;
  readonly blockSize: number | null;
}

/**
 * Valid {@link AttentionOptions} of every kind the core supports, with weights of matching
 * shapes. The mix is tuned so the hard cases come up within a hundred runs, not by luck:
 *
 * 1. Head layouts: one head, multi-head, multi-query (one kv head) and, most often, true GQA
 *    (several kv heads each shared by several query heads), where a wrong head mapping shows.
 * 2. Windows of 1 to `maxWindow` tokens, half the time, so the default 8-token sequences cross
 *    their boundary; sinks and look-ahead on top, and tiny cache blocks (1, 2, 3) so every
 *    window edge is also a block edge.
 * 3. RoPE by absolute or by cache position (with a small base now and then, so every pair
 *    rotates fast), rotate-half or interleaved, over the whole head or all but its last pair,
 *    from a base or with scaled speeds given as such;
 *    ALiBi, an explicit scale, seed mode and projections with or without `wo` and biases, both
 *    precisions;
 * 4. with `softmaxVariants`, now and then a soft cap on the scores and learned sink logits;
 *    with `halfWeights`, now and then weights stored in bfloat16 or binary16.
 *
 * Options are written minimally (defaults left out) so a counterexample reads like a config a
 * person would write; everything shrinks towards one head, no window, no encoding and seed mode.
 *
 * @throws AttentionError INVALID_ARGUMENT for bounds that are not positive integers (0 allowed
 *   for `maxWindow`, `maxSinks`, `maxLookahead`), an empty `positions` or one that is not an array
 *   of encodings, a precision or switch outside its values, or an unknown constraint key (a
 *   misspelt one would otherwise be ignored without a word).
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { createAttention } from 'attnstream';
 * import { attentionOptionsArbitrary } from 'attnstream/testing';
 * for (const options of fc.sample(attentionOptionsArbitrary({ precision: 'float64' }), 5)) createAttention(options);
 * ```
 */
export function attentionOptionsArbitrary(constraints: AttentionOptionsConstraints = {}): Arbitrary<AttentionOptions> {
  knownParameters(constraints, CONSTRAINT_KEYS, 'attentionOptionsArbitrary');
  oneOfOrAbsent(constraints.precision, ['float32', 'float64'], 'precision');
  for (const key of ['projections', 'groupedQuery', 'ropeVariants', 'softmaxVariants', 'halfWeights', 'biases', 'withWeights'] as const) oneOfOrAbsent(constraints[key], [true, false], key);
  const maxDim = integerAtLeast(constraints.maxDim ?? 4, 1, 'maxDim', 128);
  const maxHeads = integerAtLeast(constraints.maxHeads ?? 4, 1, 'maxHeads', 16);
  const maxHeadDim = integerAtLeast(constraints.maxHeadDim ?? 4, 1, 'maxHeadDim', 32);
  const maxWindow = integerAtLeast(constraints.maxWindow ?? 4, 0, 'maxWindow', MAX_DRAWN_LENGTH);
  const maxSinks = integerAtLeast(constraints.maxSinks ?? 2, 0, 'maxSinks', MAX_DRAWN_LENGTH);
  const maxLookahead = integerAtLeast(constraints.maxLookahead ?? 2, 0, 'maxLookahead', MAX_DRAWN_LENGTH);
  const weightMagnitude = positiveNumber(constraints.weightMagnitude ?? 1, 'weightMagnitude');
  const positions = arrayOf(constraints.positions ?? (['none', 'rope', 'alibi'] as const), 'positions');
  if (positions.length === 0) integerAtLeast(positions.length, 1, 'positions.length');
  // Array.from, not forEach: a hole is read as undefined, and refused.
  Array.from(positions, (p, n) => oneOf(p, ['none', 'rope', 'alibi'], `positions[${n}]`));
  const ropePositions = arrayOf(constraints.ropePositions ?? (['absolute', 'cache'] as const), 'ropePositions');
  if (ropePositions.length === 0) integerAtLeast(ropePositions.length, 1, 'ropePositions.length');
  Array.from(ropePositions, (p, n) => oneOf(p, ['absolute', 'cache'], `ropePositions[${n}]`));
  // Array.from, not map: a hole is read as undefined (and refused), not skipped.
  const blockSizes = Array.from(arrayOf(constraints.blockSizes ?? [1, 2, 3], 'blockSizes'), (b, n) => integerAtLeast(b, 1, `blockSizes[${n}]`, 1024));
  // RoPE rotates pairs (m, m + headDim/2): with maxHeadDim 1 it cannot be drawn.
  const usable = maxHeadDim >= 2 ? positions : positions.filter((p) => p !== 'rope');
  if (usable.length === 0) integerAtLeast(maxHeadDim, 2, 'maxHeadDim (RoPE needs an even headDim)');
  const ropeVariants = constraints.ropeVariants !== false && usable.includes('rope');
  const softmaxVariants = constraints.softmaxVariants === true;
  const halves = (['bfloat16', 'float16'] as const).filter((dtype) => weightMagnitude <= largestHalf(dtype));

  const structure: Arbitrary<Structure> = fc.record({
    layout: headLayoutArbitrary(maxHeads, constraints.projections !== false && constraints.groupedQuery !== false),
    projections: constraints.projections === undefined ? fc.integer({ min: 0, max: 2 }).map((k) => k > 0) : fc.constant(constraints.projections),
    dim: fc.integer({ min: 1, max: maxDim }),
    headDim: fc.integer({ min: 1, max: maxHeadDim }),
    output: fc.boolean(),
    biases: constraints.biases === undefined ? fc.boolean() : fc.constant(constraints.biases),
    precision: constraints.precision === undefined ? fc.constantFrom('float64' as const, 'float32' as const) : fc.constant(constraints.precision),
    positions: fc.constantFrom(...usable),
    ropeCache: new Set(ropePositions).size === 2 ? fc.boolean() : fc.constant(ropePositions[0] === 'cache'),
    ropeInterleaved: ropeVariants ? fc.boolean() : fc.constant(false),
    ropePartial: ropeVariants ? fc.boolean() : fc.constant(false),
    ropeScaled: ropeVariants ? fc.boolean() : fc.constant(false),
    // Three times in four: an implementation that ignores ropeBase shows only where a base is
    // given, the speeds are not (ropeFrequencies), and a head turns two pairs or more (one default
    // check caught one 80 % of the time over 100 seeds, against 62 % with a base half the time).
    ropeBase: sometimes(fc.constantFrom(10, 100), 3, 4),
    scoreCap: softmaxVariants ? sometimes(fc.constantFrom(0.5, 2, 50), 1, 5) : fc.constant(null),
    sinkLogit: softmaxVariants ? sometimes(fc.integer({ min: -8, max: 12 }).map((k) => k / 2), 1, 4) : fc.constant(null),
    // Kept only where it is valid (float32 with projections), in the formats that hold weights of
    // weightMagnitude: binary16 reaches 65,504, bfloat16 about float32's range.
    half: constraints.halfWeights === true && halves.length > 0 ? sometimes(fc.constantFrom(...halves), 1, 2) : fc.constant(null),
    // Sinks in half the windows: RoPE by cache rank differs from absolute positions only across a
    // sink (an implementation that ignores ropePositions was caught 86 % of the time over 100
    // seeds, against 64 % with sinks in a third of them).
    window: maxWindow === 0 ? fc.constant(null) : sometimes(fc.integer({ min: 1, max: maxWindow }), 1, 2),
    sinks: maxSinks === 0 ? fc.constant(null) : sometimes(fc.integer({ min: 1, max: maxSinks }), 1, 2),
    lookahead: maxLookahead === 0 ? fc.constant(null) : sometimes(fc.integer({ min: 1, max: maxLookahead }), 1, 3),
    scale: sometimes(fc.integer({ min: 1, max: 8 }).map((k) => k / 4), 1, 5),
    withWeights: constraints.withWeights === undefined ? fc.boolean() : fc.constant(constraints.withWeights),
    blockSize: blockSizes.length === 0 ? fc.constant(null) : sometimes(fc.constantFrom(...blockSizes), 1, 2),
  });
  // Weights are drawn once at the largest shape and cut to each structure's (no chain), so the
  // structure shrinks while the weights stay put, and the weights shrink on their own.
  const largest: WeightsShape = { dim: maxDim, heads: maxHeads, kvHeads: maxHeads, headDim: maxHeadDim };
  const weights =
    constraints.projections === false
      ? fc.constant(null)
      : attentionWeightsArbitrary(largest, { magnitude: weightMagnitude, output: true, biases: constraints.biases !== false });
  return fc.tuple(structure, weights).map(([s, drawn]) => {
    const shape = shapeOf(s, maxHeadDim);
    return optionsOf(s, shape, drawn !== null && shape.projections ? cutWeights(drawn, largest, shape, s.output, s.biases) : undefined);
  });
}

/**
 * The weights of `shape` inside `drawn` (of shape `largest`): entry (head h, element c, column d)
 * is read from the same head, element and column of the larger matrices, so shrinking the heads
 * or sizes keeps the rest of the weights as they were.
 */
function cutWeights(drawn: AttentionWeights, largest: WeightsShape, shape: Shape, output: boolean, biases: boolean): AttentionWeights {
  const { dim, heads, kvHeads, headDim } = shape;
  const wide = largest.heads * largest.headDim;
  // A bias is a matrix of one column.
  const rows = (w: Vector, count: number, columns = dim, stride = largest.dim): number[] => {
    const out: number[] = [];
    for (let h = 0; h < count; h++) {
      for (let c = 0; c < headDim; c++) {
        for (let d = 0; d < columns; d++) out.push(w[(h * largest.headDim + c) * stride + d]!);
      }
    }
    return out;
  };
  const weights = {
    // attentionWeightsArbitrary always draws wq, wk and wv.
    wq: rows(drawn.wq!, heads),
    wk: rows(drawn.wk!, kvHeads),
    wv: rows(drawn.wv!, kvHeads),
    ...(biases ? { bq: rows(drawn.bq!, heads, 1, 1), bk: rows(drawn.bk!, kvHeads, 1, 1), bv: rows(drawn.bv!, kvHeads, 1, 1) } : {}),
  };
  if (!output) return weights;
  const wo: number[] = [];
  for (let d = 0; d < dim; d++) {
    for (let h = 0; h < heads; h++) {
      for (let c = 0; c < headDim; c++) wo.push(drawn.wo![d * wide + h * largest.headDim + c]!);
    }
  }
  return { ...weights, wo, ...(biases ? { bo: Array.from(drawn.bo!).slice(0, dim) } : {}) };
}

/**
 * Head layouts, in four families drawn with weights 1 (one head), 1 (multi-head), 1 (multi-query)
 * and 2 (true GQA); shrinking crosses to the single head. Without `grouped`, kvHeads = heads.
 */
function headLayoutArbitrary(maxHeads: number, grouped: boolean): Arbitrary<HeadLayout> {
  const families: { layouts: HeadLayout[]; weight: number }[] = [
    { layouts: [{ heads: 1, kvHeads: 1 }], weight: 1 },
    { layouts: [], weight: 1 },
    { layouts: [], weight: 1 },
    { layouts: [], weight: 2 },
  ];
  for (let heads = 2; heads <= maxHeads; heads++) {
    for (let kvHeads = 1; kvHeads <= heads; kvHeads++) {
      if (heads % kvHeads !== 0) continue;
      // Seed mode has no projections to make fewer kv heads from, so there kvHeads = heads.
      if (kvHeads !== heads && !grouped) continue;
      const family = kvHeads === heads ? 1 : kvHeads === 1 ? 2 : 3;
      families[family]!.layouts.push({ heads, kvHeads });
    }
  }
  const drawn = families.filter((f) => f.layouts.length > 0);
  return fc.oneof({ withCrossShrink: true }, ...drawn.map((f) => ({ arbitrary: fc.constantFrom(...f.layouts), weight: f.weight })));
}

/** A value of `arbitrary` in `times` draws out of `outOf`, null otherwise; shrinks towards null. */
function sometimes<T>(arbitrary: Arbitrary<T>, times: number, outOf: number): Arbitrary<T | null> {
  return fc.oneof({ withCrossShrink: true }, { arbitrary: fc.constant(null), weight: outOf - times }, { arbitrary, weight: times });
}

interface Shape {
  readonly projections: boolean;
  readonly dim: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
}

function shapeOf(s: Structure, maxHeadDim: number): Shape {
  const { heads, kvHeads } = s.layout;
  // Layouts with fewer kv heads need projections: seed mode's q = k = v = x has H slices of each.
  const projections = s.projections || kvHeads !== heads;
  let headDim = s.headDim;
  if (s.positions === 'rope' && headDim % 2 === 1) headDim = headDim + 1 <= maxHeadDim ? headDim + 1 : headDim - 1;
  return { projections, heads, kvHeads, headDim, dim: projections ? s.dim : heads * headDim };
}

/** RoPE speeds of `base` over `ropeDim` numbers, the slower half divided by 4. */
function scaledFrequencies(ropeDim: number, base: number): number[] {
  const half = ropeDim / 2;
  return Array.from({ length: half }, (_, m) => Math.pow(base, (-2 * m) / ropeDim) / (m < half / 2 ? 1 : 4));
}

function optionsOf(s: Structure, shape: Shape, weights: AttentionWeights | undefined): AttentionOptions {
  const { dim, heads, kvHeads, headDim } = shape;
  const defaultHeadDim = dim % heads === 0 ? dim / heads : undefined;
  return {
    dim,
    ...(heads === 1 ? {} : { heads }),
    ...(kvHeads === heads ? {} : { kvHeads }),
    ...(headDim === defaultHeadDim ? {} : { headDim }),
    precision: s.precision,
    ...(s.positions === 'none' ? {} : { positions: s.positions }),
    ...(s.positions === 'rope' && s.ropeBase !== null && !s.ropeScaled ? { ropeBase: s.ropeBase } : {}),
    ...(s.positions === 'rope' && s.ropeScaled ? { ropeFrequencies: scaledFrequencies(s.ropePartial && headDim >= 4 ? headDim - 2 : headDim, s.ropeBase ?? 10000) } : {}),
    ...(s.positions === 'rope' && s.ropeCache ? { ropePositions: 'cache' as const } : {}),
    ...(s.positions === 'rope' && s.ropeInterleaved ? { ropeStyle: 'interleaved' as const } : {}),
    // Partial rotary: all but the last pair of the head turn.
    ...(s.positions === 'rope' && s.ropePartial && headDim >= 4 ? { ropeDim: headDim - 2 } : {}),
    ...(s.half !== null && weights !== undefined && s.precision === 'float32' ? { weightsDtype: s.half } : {}),
    ...(s.scoreCap === null ? {} : { scoreCap: s.scoreCap }),
    // One per head, a half apart, so heads differ.
    ...(s.sinkLogit === null ? {} : { sinkLogits: Array.from({ length: heads }, (_, h) => s.sinkLogit! - h / 2) }),
    ...(s.window === null ? {} : { window: s.window }),
    ...(s.window === null || s.sinks === null ? {} : { sinks: s.sinks }),
    ...(s.lookahead === null ? {} : { lookahead: s.lookahead }),
    ...(s.scale === null ? {} : { scale: s.scale }),
    ...(s.withWeights ? { withWeights: true } : {}),
    ...(s.blockSize === null ? {} : { blockSize: s.blockSize }),
    ...(weights === undefined ? {} : { weights }),
  };
}
