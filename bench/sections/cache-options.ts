import type { AttentionOptions } from '../../src/index.js';
import { engineOptions } from '../impls/attnstream-implementation.js';
import { restoredEngine } from '../impls/restored-engine.js';
import { stepsContender } from '../interleave.js';
import { interleaveSteps, stepRows, timedStep } from '../restored-step.js';
import type { Profile } from '../profile.js';
import type { Progress } from '../progress.js';
import { summarize } from '../stats.js';
import type { Summary } from '../stats.js';

/** The engines the section compares, each a change of one option from the default. */
const VARIANTS = ['float32 cache', 'blockSize 256', 'blockSize 1,024', 'int8 cache', "int8 cache, kernels 'js'", "RoPE 'absolute', window", "RoPE 'cache', window"] as const;
export type CacheOptionVariant = (typeof VARIANTS)[number];

export interface CacheOptionRow {
  readonly variant: CacheOptionVariant;
  /** Keys the step attends: n + 1, or the window's and the sinks'. */
  readonly attended: number;
  /** µs per step. */
  readonly micros: Summary;
}

export interface CacheOptionsResult {
  readonly heads: number;
  readonly headDim: number;
  readonly n: number;
  readonly rows: readonly CacheOptionRow[];
}

const SINKS = 4;

/**
 * The decode step at length n with the options that change how the cache is stored or read: larger
 * cache blocks (the default is 64 tokens), an int8 cache (on the SIMD kernels and on the TypeScript
 * ones) against the float32 default, and
 * RoPE's 'cache' positions against 'absolute' ones under a window of n/2 with sinks, where they
 * differ. Each should cost what its arithmetic and its bytes do, not fall back to slow loops.
 * Interleaved rounds of steps, µs per step.
 */
export function runCacheOptions(profile: Profile, progress: Progress): CacheOptionsResult {
  const { heads, headDim, n, rounds } = profile.cacheOptions;
  const rows = stepRows(heads * headDim, heads * headDim, n);
  const window = Math.max(1, n >> 1);
  // `retain` keeps the key a truncate back to n needs after the window moved on.
  const windowed = { positions: 'rope', window, sinks: SINKS, retain: 64 } as const;
  const optionsOf: Record<CacheOptionVariant, AttentionOptions> = {
    'float32 cache': engineOptions(heads, headDim),
    // Longer runs of consecutive keys per block: fewer jumps between blocks for the step's stream.
    'blockSize 256': { ...engineOptions(heads, headDim), blockSize: 256 },
    'blockSize 1,024': { ...engineOptions(heads, headDim), blockSize: 1024 },
    'int8 cache': { ...engineOptions(heads, headDim), cacheDtype: 'int8' },
    "int8 cache, kernels 'js'": { ...engineOptions(heads, headDim, 'js'), cacheDtype: 'int8' },
    "RoPE 'absolute', window": { ...engineOptions(heads, headDim), ...windowed },
    "RoPE 'cache', window": { ...engineOptions(heads, headDim), ...windowed, ropePositions: 'cache' },
  };
  const contenders = VARIANTS.map((variant) => {
    const engine = restoredEngine(optionsOf[variant], rows.keys, rows.values, n);
    return { ...stepsContender(variant, () => timedStep(engine, rows, n), 250_000), engine, attended: optionsOf[variant].window === undefined ? n + 1 : Math.min(n + 1, window + SINKS) };
  });
  const micros = interleaveSteps(contenders, rounds, progress, (id) => `cache options · ${id}`);
  return {
    heads,
    headDim,
    n,
    rows: contenders.map((c) => ({ variant: c.id as CacheOptionVariant, attended: c.attended, micros: summarize(micros.get(c.id)!) })),
  };
}
