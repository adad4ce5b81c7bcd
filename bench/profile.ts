import type { Cell } from './impls/decode-implementation.js';

/** How much the benchmark measures: the grid, the budgets and the sizes of every section. */
export interface Profile {
  readonly name: 'full' | 'quick' | 'smoke';
  readonly cells: readonly Cell[];
  /** Seconds of timed steps per implementation per cell, spread over the rounds. */
  readonly cellSeconds: number;
  /** Interleaved rounds per cell: every implementation runs once per round, in a rotating order. */
  readonly rounds: number;
  /** An implementation whose step is predicted slower than this (from its previous cell) is skipped. */
  readonly maxStepSeconds: number;
  /** Estimated bytes of caches alive at once; a cell's implementations run in groups below it. */
  readonly memoryBytes: number;
  /** Milliseconds of idle before each timed run of the grid and the stream ({@link settle}). */
  readonly settleMs: number;
  readonly stream: { readonly heads: number; readonly headDim: number; readonly tokens: number; readonly maxSeconds: number; readonly rounds: number };
  readonly recompute: { readonly heads: number; readonly headDim: number; readonly lengths: readonly number[]; readonly maxStepSeconds: number };
  /** A prompt's prefill, one model per entry of `heads` (dim = heads·headDim); the first is the target case. */
  readonly prefill: { readonly heads: readonly number[]; readonly headDim: number; readonly tokens: number; readonly rounds: number };
  /**
   * A prompt over a long cache: a `chunk`-token prompt after each of `contexts` tokens, H = heads
   * of headDim with all four projections; then `beams` forks of those tokens taking a token each.
   */
  readonly longPrompt: { readonly heads: number; readonly headDim: number; readonly contexts: readonly number[]; readonly chunk: number; readonly beams: number; readonly rounds: number };
  /** A beam-search step: `beams` forks of a `cached`-token prompt, one model per entry of `heads` (dim = heads·headDim). */
  readonly beams: { readonly beams: number; readonly cached: number; readonly headDim: number; readonly heads: readonly number[]; readonly steps: number; readonly rounds: number };
  /** Linear layers outside attention (createLinear): `[rows, cols]` shapes, inputs per call, calls per timed run. */
  readonly linear: { readonly shapes: readonly (readonly [number, number])[]; readonly inputs: readonly number[]; readonly calls: number; readonly rounds: number };
  /**
   * createLinear over bfloat16 and binary16 against float32 weights: `[rows, cols, layers]` (that many matrices
   * of the shape, applied in turn); each timed run makes at least `calls` calls and at least
   * `multiplyAdds` multiply-adds.
   */
  readonly halfWeights: {
    readonly shapes: readonly (readonly [number, number, number])[];
    readonly inputs: readonly number[];
    readonly calls: number;
    readonly multiplyAdds: number;
    readonly rounds: number;
  };
  readonly rx: { readonly dim: number; readonly tokens: number; readonly rounds: number };
  /** The cell where a flat and a peaked softmax are timed side by side. */
  readonly sharpness: { readonly heads: number; readonly headDim: number; readonly n: number; readonly rounds: number };
  readonly cacheOptions: { readonly heads: number; readonly headDim: number; readonly n: number; readonly rounds: number };
  /** The long cell timed with kvHeads = heads / group for each group (1: multi-head). */
  readonly groupedQuery: { readonly heads: number; readonly headDim: number; readonly n: number; readonly groups: readonly number[]; readonly rounds: number };
  /** Cache length at which memory per token is read. */
  readonly memoryTokens: number;
  readonly bandwidthMiB: number;
}

function grid(heads: readonly number[], headDims: readonly number[], lengths: readonly number[]): Cell[] {
  const cells: Cell[] = [];
  for (const h of heads) for (const d of headDims) for (const n of lengths) cells.push({ heads: h, headDim: d, n });
  // Small cells first: each implementation's time on one predicts the next, which decides skips.
  return cells.sort((a, b) => a.heads * a.headDim * a.n - b.heads * b.headDim * b.n || a.n - b.n);
}

const GIB = 1024 ** 3;

/** The grid: H ∈ {1, 8, 32}, D ∈ {64, 128}, n ∈ {128, 1,024, 8,192, 32,768}. */
export const FULL: Profile = {
  name: 'full',
  cells: grid([1, 8, 32], [64, 128], [128, 1024, 8192, 32768]),
  cellSeconds: 1.5,
  rounds: 3,
  maxStepSeconds: 4,
  memoryBytes: 5 * GIB,
  // OpenBLAS's threads spin ~0.1 s after a call (numpy), onnxruntime's pool a while too.
  settleMs: 150,
  // The C targets are ratios on this stream: seven interleaved rounds (slow peers fewer, by their budget) steady the medians.
  stream: { heads: 8, headDim: 64, tokens: 2048, maxSeconds: 60, rounds: 7 },
  recompute: { heads: 8, headDim: 64, lengths: [128, 1024], maxStepSeconds: 6 },
  // Dim 512 (4 MB of weights, in a large L3: the stream's H and D), 1,024 (16 MB) and 2,048 (64 MB,
  // from memory). Whole prompts of 0.05–1.2 s: seven rounds steady the median of the per-round ratios.
  prefill: { heads: [8, 16, 32], headDim: 64, tokens: 512, rounds: 7 },
  // The stream's H and D: 16 MB of keys and values (the L3 holds them) and 64 MB (it does not).
  longPrompt: { heads: 8, headDim: 64, contexts: [4096, 16384], chunk: 128, beams: 4, rounds: 5 },
  // Dim 512 (4 MB of weights, in a large L3) and 2,048 (64 MB, from memory).
  beams: { beams: 4, cached: 64, headDim: 64, heads: [8, 32], steps: 8, rounds: 7 },
  // An MLP's up and down projections at dim 512 (4 MB of weights each), one input and sixteen.
  linear: { shapes: [[2048, 512], [512, 2048]], inputs: [1, 16], calls: 16, rounds: 7 },
  // An MLP projection at dim 512 alone (4 MB in float32: in the caches), and TinyLlama's (dim 2,048,
  // hidden 5,632: 44 MB) in four layers applied in turn (176 MB in float32, 88 in 16 bits: from memory).
  // 10^8 multiply-adds a timed run (~10 ms): four calls of one 1 MB-wide input took ~0.4 ms, and one
  // pause (538 µs an input against a median of 96) then outweighed the kernel.
  // 1 input (a decode step), 16 (a short prompt: binary16 widens its rows for the float32 kernel,
  // bfloat16 does not yet) and 64 (both widen).
  halfWeights: { shapes: [[2048, 512, 1], [5632, 2048, 4]], inputs: [1, 16, 64], calls: 4, multiplyAdds: 1e8, rounds: 7 },
  // A stream takes ~20 ms: many rounds, so the median is steady on a noisy machine.
  rx: { dim: 64, tokens: 1024, rounds: 31 },
  sharpness: { heads: 8, headDim: 128, n: 8192, rounds: 5 },
  cacheOptions: { heads: 8, headDim: 64, n: 8192, rounds: 5 },
  groupedQuery: { heads: 32, headDim: 128, n: 32768, groups: [1, 4], rounds: 3 },
  memoryTokens: 4096,
  bandwidthMiB: 512,
};

/** A few minutes: H ∈ {1, 8}, D = 64, n up to 8,192, with every section. */
export const QUICK: Profile = {
  ...FULL,
  name: 'quick',
  cells: grid([1, 8], [64], [128, 1024, 8192]),
  cellSeconds: 0.5,
  maxStepSeconds: 1,
  stream: { ...FULL.stream, maxSeconds: 20, rounds: 1 },
  recompute: { ...FULL.recompute, lengths: [128] },
  longPrompt: { ...FULL.longPrompt, contexts: [4096], rounds: 3 },
  rx: { ...FULL.rx, rounds: 5 },
  sharpness: { heads: 8, headDim: 64, n: 8192, rounds: 3 },
  cacheOptions: { heads: 8, headDim: 64, n: 8192, rounds: 3 },
  groupedQuery: { heads: 8, headDim: 64, n: 8192, groups: [1, 4], rounds: 3 },
  bandwidthMiB: 256,
};

/** Seconds: tiny sizes, every code path and every peer, for the test that keeps the bench from rotting. */
export const SMOKE: Profile = {
  name: 'smoke',
  cells: grid([2], [8], [16, 64]),
  cellSeconds: 0.01,
  rounds: 2,
  maxStepSeconds: 1,
  memoryBytes: GIB,
  settleMs: 0,
  stream: { heads: 2, headDim: 8, tokens: 32, maxSeconds: 5, rounds: 1 },
  recompute: { heads: 2, headDim: 8, lengths: [8, 16], maxStepSeconds: 1 },
  prefill: { heads: [2, 4], headDim: 8, tokens: 16, rounds: 1 },
  longPrompt: { heads: 2, headDim: 8, contexts: [16], chunk: 4, beams: 2, rounds: 1 },
  beams: { beams: 2, cached: 4, headDim: 8, heads: [2], steps: 1, rounds: 1 },
  linear: { shapes: [[8, 4]], inputs: [1, 5], calls: 1, rounds: 1 },
  halfWeights: { shapes: [[8, 5, 2]], inputs: [1, 5], calls: 1, multiplyAdds: 0, rounds: 1 },
  rx: { dim: 16, tokens: 32, rounds: 2 },
  sharpness: { heads: 2, headDim: 8, n: 64, rounds: 1 },
  cacheOptions: { heads: 2, headDim: 8, n: 96, rounds: 1 },
  groupedQuery: { heads: 4, headDim: 8, n: 64, groups: [1, 4], rounds: 1 },
  memoryTokens: 64,
  bandwidthMiB: 8,
};
