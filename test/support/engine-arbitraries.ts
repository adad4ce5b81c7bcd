import fc from 'fast-check';
import type { AttentionOptions } from '../../src/index.js';
import { mulberry32 } from '../../examples/seeded-random.js';

export { mulberry32 };

/** Options of every shape the engine supports, with weights drawn to match. */
export interface ConfigConstraints {
  precision?: 'float32' | 'float64';
  /** Allow windows, sinks and look-ahead. Default true. */
  longStream?: boolean;
  /** Allow RoPE and ALiBi. Default true. */
  positions?: boolean;
  maxHeads?: number;
  /**
   * Sometimes draw head sizes of 30 to 70: past a chunk of 32 value columns, with a remainder
   * (src/cache/value-layout.ts). Off by default: such shapes cost more per case, and properties that
   * filter on `dim` rarely meet two alike.
   */
  wideHeads?: boolean;
  /** Now and then draw learned sink logits (the keys' weights then sum to less than 1). Default true. */
  sinkLogits?: boolean;
}

export function configArbitrary(constraints: ConfigConstraints = {}): fc.Arbitrary<AttentionOptions> {
  const { precision = 'float64', longStream = true, positions = true, maxHeads = 4, wideHeads = false, sinkLogits = true } = constraints;
  return fc
    .record({
      kvHeads: fc.integer({ min: 1, max: maxHeads }),
      groupSize: fc.integer({ min: 1, max: 3 }),
      headDim: wideHeads
        ? fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 8 }) }, { weight: 1, arbitrary: fc.integer({ min: 30, max: 70 }) })
        : fc.integer({ min: 1, max: 8 }),
      projected: fc.boolean(),
      withWo: fc.boolean(),
      // Which of bq, bk, bv and bo (with wo) a projected config has: bit 0, 1, 2 and 3.
      biases: fc.nat(15),
      dimExtra: fc.integer({ min: 0, max: 3 }),
      positions: positions ? fc.constantFrom('none', 'rope', 'alibi') : fc.constant('none'),
      cacheRope: fc.boolean(),
      ropeStyle: fc.constantFrom<'half' | 'interleaved'>('half', 'interleaved'),
      // RoPE over the whole head, or over its first ropeDim numbers (partial rotary), by halving.
      ropePartial: fc.boolean(),
      // Rotation speeds given as such (scaled RoPE) rather than from the base.
      ropeScaled: fc.boolean(),
      // Now and then soft-capped scores (Gemma 2), small enough to bend them.
      scoreCap: fc.oneof({ weight: 5, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom(0.5, 2, 50) }),
      // Now and then learned sink logits (gpt-oss), one per head around the scores' size.
      sinkLogit: sinkLogits
        ? fc.oneof({ weight: 5, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.double({ min: -4, max: 6, noNaN: true }) })
        : fc.constant(undefined),
      window: longStream ? fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }) : fc.constant(undefined),
      sinks: longStream ? fc.integer({ min: 0, max: 3 }) : fc.constant(0),
      retain: longStream ? fc.integer({ min: 0, max: 4 }) : fc.constant(0),
      lookahead: longStream ? fc.integer({ min: 0, max: 3 }) : fc.constant(0),
      blockSize: fc.constantFrom(1, 2, 3, 4, 64),
      // Both kernel paths run every property: 'auto' is the WebAssembly SIMD one for float32 caches.
      kernels: fc.constantFrom<'auto' | 'js'>('auto', 'js'),
      seed: fc.integer(),
    })
    .map((c) => {
      const projected = c.projected;
      const kvHeads = c.kvHeads;
      // Seed mode has no projections to make fewer kv heads, so there H = G.
      const heads = projected ? kvHeads * c.groupSize : kvHeads;
      // RoPE rotates pairs (m, m + headDim/2), so it needs an even head size.
      const headDim = c.positions === 'rope' ? 2 * Math.ceil(c.headDim / 2) : c.headDim;
      const dim = projected ? heads * headDim + c.dimExtra : heads * headDim;
      const random = mulberry32(c.seed);
      const matrix = (rows: number, cols: number): Float64Array =>
        Float64Array.from({ length: rows * cols }, () => (random() * 2 - 1) / Math.sqrt(cols));
      const options: AttentionOptions = {
        dim,
        heads,
        kvHeads,
        headDim,
        precision,
        withWeights: true,
        blockSize: c.blockSize,
        kernels: c.kernels,
        ...(c.scoreCap === undefined ? {} : { scoreCap: c.scoreCap }),
        ...(c.sinkLogit === undefined ? {} : { sinkLogits: Array.from({ length: heads }, (_, h) => c.sinkLogit! - h / 2) }),
        positions: c.positions as 'none' | 'rope' | 'alibi',
        ...(c.positions === 'rope' && c.cacheRope ? { ropePositions: 'cache' as const } : {}),
        ...(c.positions === 'rope' && c.ropeStyle === 'interleaved' ? { ropeStyle: 'interleaved' as const } : {}),
        ...(c.positions === 'rope' && c.ropePartial && headDim >= 4 ? { ropeDim: 2 * Math.floor(headDim / 4) } : {}),
        ...(c.positions === 'rope' && c.ropeScaled
          ? { ropeFrequencies: Array.from({ length: (c.ropePartial && headDim >= 4 ? 2 * Math.floor(headDim / 4) : headDim) / 2 }, (_, m) => 0.7 ** m / (1 + (c.seed & 7))) }
          : {}),
        ...(c.window === undefined ? {} : { window: c.window, sinks: c.sinks, ...(c.retain > 0 ? { retain: c.retain } : {}) }),
        ...(c.lookahead > 0 ? { lookahead: c.lookahead } : {}),
        ...(projected
          ? {
              weights: {
                wq: matrix(heads * headDim, dim),
                wk: matrix(kvHeads * headDim, dim),
                wv: matrix(kvHeads * headDim, dim),
                ...(c.withWo ? { wo: matrix(dim, heads * headDim) } : {}),
                ...(c.biases & 1 ? { bq: matrix(1, heads * headDim) } : {}),
                ...(c.biases & 2 ? { bk: matrix(1, kvHeads * headDim) } : {}),
                ...(c.biases & 4 ? { bv: matrix(1, kvHeads * headDim) } : {}),
                ...(c.biases & 8 && c.withWo ? { bo: matrix(1, dim) } : {}),
              },
            }
          : {}),
      };
      return options;
    });
}

/**
 * One entry of a token: mostly uniform in ±magnitude (in 2^30 steps, so that "magnitude" is what
 * the entries' size is; fc.double draws two thirds of its values below 1e-100), now and then an
 * exact 0 or a tiny value (below 1e-6·magnitude, subnormals included): the hostile values every
 * property should meet. Shrinks towards 0.
 */
function entryArbitrary(magnitude: number): fc.Arbitrary<number> {
  const tiny = magnitude * 1e-6;
  return fc.oneof(
    { weight: 16, arbitrary: fc.integer({ min: -(2 ** 30), max: 2 ** 30 }).map((n) => (magnitude * n) / 2 ** 30) },
    { weight: 1, arbitrary: fc.constant(0) },
    { weight: 1, arbitrary: fc.double({ min: -tiny, max: tiny, noNaN: true, noDefaultInfinity: true }) },
  );
}

/**
 * A sequence of `length` vectors of size `dim`, entries in ±magnitude ({@link entryArbitrary}).
 * About one token in eight repeats an earlier one (identical tokens: identical keys, tied scores).
 */
export function tokensArbitrary(dim: number, minLength: number, maxLength: number, magnitude = 3): fc.Arbitrary<number[][]> {
  const token = fc.array(entryArbitrary(magnitude), { minLength: dim, maxLength: dim });
  // Which earlier token to repeat, or none (what a failing case shrinks to).
  const repeatOf = fc.oneof({ withCrossShrink: true }, { weight: 7, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.nat() });
  return fc
    .array(fc.tuple(token, repeatOf), { minLength, maxLength })
    .map((drawn) => {
      const xs: number[][] = [];
      drawn.forEach(([x, repeat], i) => xs.push(repeat !== undefined && i > 0 ? [...xs[repeat % i]!] : x));
      return xs;
    });
}

/** A config and a token sequence that fits it. */
export function caseArbitrary(constraints: ConfigConstraints = {}, maxLength = 24, magnitude = 3) {
  return configArbitrary(constraints).chain((options) =>
    tokensArbitrary(options.dim, 1, maxLength, magnitude).map((xs) => ({ options, xs })),
  );
}
