import { AttentionError, cutText, describeValue } from '../errors.js';
import { ropeInverseFrequencies } from '../kernels/index.js';
import type { ThreadPool } from '../kernels/wasm/thread-pool.js';
import { wasmKernelsAvailable } from '../kernels/wasm/wasm-arena.js';
import type { FloatArray, FloatArrayConstructor } from '../kernels/index.js';
import { alibiSlopes } from './alibi-slopes.js';
import { MAX_STREAM_LENGTH } from './step.js';
import type { Vector } from './vector.js';
import { invalid, kernelChoiceOf, matrix, nonNegativeInteger, positiveInteger, positiveNumber, readNumbers, ropeBaseOf, threadPoolOf } from './option-checks.js';
import type { HalfDtype } from './option-checks.js';

/**
 * The fastest RoPE speed `ropeFrequencies` takes (and the scaling helpers give): past it, the
 * angle of a position near a stream's longest (2³¹) overflows to Infinity.
 */
export const MAX_SPEED = Number.MAX_VALUE / MAX_STREAM_LENGTH;

/**
 * Projection matrices, row-major, `y = W·x + b` (the `torch.nn.Linear` convention); each bias is
 * optional (absent: no bias, as `Linear(bias=False)`), `bo` only with `wo`. `wq`, `wk` and `wv`
 * come together, or not at all: weights without them (`{ wo }`, or `{}`) describe an engine whose
 * caller projects (`pushQKV` only, e.g. a model that normalizes q and k after projecting them),
 * with any head layout and no input weights held.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import type { AttentionWeights } from 'attnstream';
 * // dim 2, one head of size 2: each matrix is 2×2; row r holds the weights of output r.
 * const weights: AttentionWeights = { wq: [1, 0, 0, 1], wk: [1, 0, 0, 1], wv: [0, 1, 2, 0] };
 * const attn = createAttention({ dim: 2, weights, precision: 'float64' });
 * console.log(attn.push([1, 0])[0]!.output); // Float64Array [0, 2]: the only token attended, v = [x₁, 2·x₀]
 * ```
 */
export interface AttentionWeights {
  /** (heads·headDim) × dim. */
  readonly wq?: Vector | undefined;
  /** (kvHeads·headDim) × dim. */
  readonly wk?: Vector | undefined;
  /** (kvHeads·headDim) × dim. */
  readonly wv?: Vector | undefined;
  /** dim × (heads·headDim). Without it the output is the head outputs concatenated. */
  readonly wo?: Vector | undefined;
  /** heads·headDim numbers added to `wq·x` (before RoPE, as the models that have one do). */
  readonly bq?: Vector | undefined;
  /** kvHeads·headDim numbers added to `wk·x`. */
  readonly bk?: Vector | undefined;
  /** kvHeads·headDim numbers added to `wv·x`. */
  readonly bv?: Vector | undefined;
  /** dim numbers added to `wo·heads`; needs `wo`. */
  readonly bo?: Vector | undefined;
}

/**
 * How positions enter the scores: not at all, by rotating queries and keys (RoPE), or by a
 * penalty linear in the distance (ALiBi, slopes from {@link alibiSlopes}).
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import type { PositionEncoding } from 'attnstream';
 * // Two equal tokens: without positions they weigh the same; RoPE and ALiBi tell them apart.
 * for (const positions of ['none', 'rope', 'alibi'] satisfies PositionEncoding[]) {
 *   const attn = createAttention({ dim: 2, positions, withWeights: true, precision: 'float64' });
 *   attn.push([1, 0]);
 *   console.log(positions, attn.push([1, 0])[0]!.weights![0]);
 * }
 * // none [0.5, 0.5]; rope [0.3870…, 0.6129…] (scores cos 1 and 1); alibi [0.4990…, 0.5009…] (slope 1/256)
 * ```
 */
export type PositionEncoding = 'none' | 'rope' | 'alibi';

/**
 * Options that leave `precision` at its default, float32 (or say so): an engine made from them
 * returns Float32Array outputs and weights, and is typed `Attention<Float32Array>`.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import type { Attention, AttentionOptions, Float32Precision } from 'attnstream';
 * const options: AttentionOptions & Float32Precision = { dim: 2 };
 * const engine: Attention<Float32Array> = createAttention(options);
 * const output: Float32Array = engine.push([1, 0])[0]!.output;
 * console.log(output); // Float32Array(2) [1, 0]
 * ```
 */
export interface Float32Precision {
  /** float32, the default: left out, or said. */
  readonly precision?: 'float32' | undefined;
}

/**
 * Options with `precision: 'float64'`: an engine made from them returns Float64Array outputs and
 * weights, and is typed `Attention<Float64Array>`.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * const engine = createAttention({ dim: 2, precision: 'float64' });
 * const output: Float64Array = engine.push([1, 0])[0]!.output;
 * console.log(output); // Float64Array(2) [1, 0]
 * ```
 */
export interface Float64Precision {
  /** float64. */
  readonly precision: 'float64';
}

/**
 * Everything that configures an engine. Only `dim` is required; the defaults give the note's seed
 * mode: `score = x_i · x_j`, softmax over `j ≤ i`, `a_i = Σ α_ij x_j`.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import type { AttentionOptions } from 'attnstream';
 * const matrix = (rows: number, columns: number) => Array.from({ length: rows * columns }, (_, i) => Math.sin(i + rows));
 * const options: AttentionOptions = {
 *   dim: 4,
 *   heads: 2,
 *   kvHeads: 1, // both query heads read one key/value head (GQA); headDim = dim / heads = 2
 *   weights: { wq: matrix(4, 4), wk: matrix(2, 4), wv: matrix(2, 4) },
 *   positions: 'rope',
 *   window: 1024,
 * };
 * console.log(createAttention(options).push([1, 0, 0, 1])[0]!.output.length); // 4: the two heads' outputs concatenated (no wo)
 * ```
 */
export interface AttentionOptions {
  /** Embedding size d. */
  readonly dim: number;
  /** Query heads H. Default 1. */
  readonly heads?: number | undefined;
  /** Key/value heads G. Default H. H % G === 0; query head h reads kv head ⌊h / (H/G)⌋. */
  readonly kvHeads?: number | undefined;
  /** Size of one head. Default dim / H. */
  readonly headDim?: number | undefined;
  /**
   * Projections. Without them: seed mode, q = k = v = x split into H slices of headDim. They are
   * copied when the options are resolved; on the WebAssembly kernels with float32 weights the
   * engine moves the matrices into the kernels' memory, where it projects in float32 arithmetic
   * (over ten times faster than the TypeScript loops' float64 sums), and keeps no other copy.
   */
  readonly weights?: AttentionWeights | undefined;
  /**
   * Not an option: a scaled RoPE's `attentionFactor` (yarnRope, longRope) goes into `scale`
   * (`attentionFactor ** 2 / Math.sqrt(headDim)`), so spreading a scaled RoPE into the options
   * does not type-check (it is refused at run time too).
   */
  readonly attentionFactor?: never;
  /**
   * Score scale, a positive number (at most 2⁶⁴ in float32). Default 1/√headDim with weights
   * (`weights: {}` too, an engine fed by pushQKV), 1 in seed mode (no `weights`, the note's
   * formulas), whatever feeds it.
   */
  readonly scale?: number | undefined;
  /**
   * Soft-caps every score: `s → cap · tanh(s / cap)` (Gemma 2's `attn_logit_softcapping`, 50
   * there), applied to the whole score (scaled, with ALiBi's bias when on) before the softmax,
   * on every kernel path (the WebAssembly one computes tanh in float64, within a few ulps of
   * Math.tanh). Default: no cap.
   */
  readonly scoreCap?: number | undefined;
  /**
   * Learned attention-sink logits, one per query head (gpt-oss's `sinks` parameter): head h's
   * softmax takes `sinkLogits[h]` as one more score, `α_j = e^(s_j) / (e^(σ_h) + Σ_k e^(s_k))`, so
   * a head can give part of its attention to nothing; the weights of the keys then sum to less
   * than 1 and the output shrinks toward 0. Compared with the final scores (scaled, biased and
   * capped), the logit itself is neither scaled nor capped. Finite numbers. Default: none. Not
   * the `sinks` option, which keeps the first tokens attendable under a window.
   */
  readonly sinkLogits?: Vector | undefined;
  /** Storage of the cache, weights and outputs. Default 'float32'. */
  readonly precision?: 'float32' | 'float64' | undefined;
  /**
   * Storage of the projections (matrices and biases). Default: the precision. 'bfloat16' (with
   * precision 'float32') rounds each weight, taken as float32, to the nearest bfloat16, ties to
   * even, as `torch.Tensor.bfloat16()` does, and 'float16' to the nearest IEEE binary16 (subnormals
   * kept), as `torch.Tensor.half()` does (a BF16 or F16 checkpoint's weights, read by
   * {@link readSafetensors}, are such numbers already and stay exact); the WebAssembly kernels
   * keep the matrices in 2 bytes a weight instead of 4: a model's layers take half the memory.
   * bfloat16 also makes a single token project faster once its matrices come from memory rather
   * than the caches (~1.4x); binary16 costs more to widen, ~0.7x float32's speed from memory and
   * ~0.5x from the caches, and about float32's in long prompts (docs/guides/speed.md). The
   * outputs are those of a float32 engine given the rounded weights, bit for bit. The TypeScript
   * kernels hold the rounded weights as float32.
   * @example
   * ```ts
   * import { createAttention } from 'attnstream';
   * const w = [1.001, 0, 0, 1];
   * const half = createAttention({ dim: 2, weights: { wq: w, wk: w, wv: w }, weightsDtype: 'bfloat16' });
   * const wq = half.options.weights!.wq!; // a copy out of the kernels' memory: read it once
   * console.log(wq[0]); // 1: 1.001 to bfloat16's 8 significant bits
   * ```
   */
  readonly weightsDtype?: 'float32' | 'float64' | 'bfloat16' | 'float16' | undefined;
  /** Include the attention weights in each step. Default false. */
  readonly withWeights?: boolean | undefined;
  /** Position encoding. Default 'none'. */
  readonly positions?: PositionEncoding | undefined;
  /** RoPE base. Default 10000. */
  readonly ropeBase?: number | undefined;
  /**
   * 'absolute' (default): RoPE rotates by the token's stream index. 'cache': by the key's rank among
   * the keys the query attends (StreamingLLM). Either way keys are cached rotated once, by their
   * stream index: ranks and indices differ only by how far the window moved past the sinks, so
   * 'cache' scores the sinks against the query rotated by its rank instead, at the same speed.
   */
  readonly ropePositions?: 'absolute' | 'cache' | undefined;
  /**
   * How many numbers of each head RoPE rotates: the first `ropeDim`, an even number up to headDim
   * (partial rotary, as GPT-NeoX's `rotary_pct` or Phi's `partial_rotary_factor`); the rest of the
   * head is not rotated. Default headDim. Its rotation speeds are `base^(−2m / ropeDim)`.
   */
  readonly ropeDim?: number | undefined;
  /**
   * Which numbers RoPE rotates together: 'half' (default) pairs m with m + ropeDim/2 (rotate-half:
   * GPT-NeoX, Hugging Face Llama and Qwen); 'interleaved' pairs 2m with 2m + 1 (GPT-J, Meta's
   * original Llama checkpoints).
   */
  readonly ropeStyle?: 'half' | 'interleaved' | undefined;
  /**
   * RoPE's rotation speeds themselves, `invFreq[m]` for m < ropeDim/2 (positive finite numbers, at
   * most 8.37e298 so that every position's angle stays finite),
   * instead of `ropeBase^(−2m / ropeDim)`: for scaled RoPE, such as Llama 3's `rope_scaling`
   * (type 'llama3'), linear or NTK-aware interpolation, which compute them from the base. Not
   * with `ropeBase`.
   */
  readonly ropeFrequencies?: Vector | undefined;
  /** Sliding window W: token i attends j with i−W < j (W counts token i itself). Default: unbounded. */
  readonly window?: number | undefined;
  /** With `window`: the first S tokens stay attendable forever (attention sinks). Default 0. */
  readonly sinks?: number | undefined;
  /**
   * How far back `truncate(length − k)` is guaranteed, for every k ≤ retain + lookahead (a rejected
   * speculative draft, an edit; the look-ahead's L tokens can always be taken back). With `window`:
   * the tokens beyond it to keep so that such truncates work. With `cacheDtype: 'int8'` (window or
   * not): such truncates are also exact, the engine bit for bit as it was at that length, where a
   * truncate further back may leave a block's kept keys rounded anew (docs/guides/long-streams.md).
   * Default 0: memory strictly bounded by the window, and no float keys kept for an int8 cache.
   */
  readonly retain?: number | undefined;
  /** Token i also attends j ≤ i+L; its output is emitted once token i+L arrives or at flush(). Default 0. */
  readonly lookahead?: number | undefined;
  /** Tokens per cache block: the unit of allocation, eviction and copy-on-write. Default 64. */
  readonly blockSize?: number | undefined;
  /**
   * Storage of cached keys and values. Default: the precision. 'int8' stores keys per channel
   * (once their block fills) and values per token, each with float32 scales: about 4× less memory
   * than float32, at the error bound in docs/guides/long-streams.md.
   */
  readonly cacheDtype?: 'float32' | 'float64' | 'int8' | undefined;
  /**
   * Which kernels project, score keys and mix values. 'auto' (default): the WebAssembly SIMD
   * kernels where the runtime has them and the engine is float32 (the default precision, with a
   * float32 or int8 cache), else the TypeScript ones; 'js': always the TypeScript ones. The TypeScript kernels
   * compute in float64; the SIMD ones multiply and add in float32 within one key's dot product,
   * one block's sum of values (float64 across blocks and in the softmax's sums) and one projected
   * number (with float32 weights), as native float32 kernels do; they may take a weight under
   * 2⁻⁶⁴ of its head's largest as exactly 0 (subnormal products would slow the step several
   * times), which moves an output by at most count·2⁻⁶⁴·max|v| of the values it mixes (visible
   * only against an output whose values lie 10¹⁴ times apart); a step whose float32 sum of q·k
   * passes float32's range runs in the TypeScript loops. Both stay within the float32 tolerance
   * of the batch reference (docs/math.md gives the bound); see
   * {@link ResolvedOptions.kernels} for the choice made.
   */
  readonly kernels?: 'auto' | 'js' | undefined;
  /**
   * A {@link ThreadPool} (`createThreadPool` from `attnstream/threads`) to split each step's query
   * heads, and a long cache's keys, across; results are bit for bit those of one thread. Needs
   * the WebAssembly kernels (precision float32, `kernels: 'auto'`). Default: none, one thread.
   */
  readonly threads?: ThreadPool | undefined;
}

/**
 * Options after validation: every default filled in, weights copied, derived tables built. Frozen
 * at the top level; its arrays (the weights and biases, `sinkLogits`, `ropeFrequencies`,
 * `invFreq`, `slopes`) are the engine's own tables, shared with its forks and with engines
 * restored onto it: read them, never write into them (a write changes every such engine's later
 * outputs; copy one to change it). Typed arrays cannot be frozen, and copying each on every read
 * would cost a step the size of its weights.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * const { options } = createAttention({ dim: 8, heads: 2, window: 4 });
 * console.log(options.headDim, options.kvHeads, options.scale, options.window, options.blockSize); // 4 2 1 4 64
 * console.log(options.Float === Float32Array, options.weights); // true null: float32, seed mode
 * ```
 */
export interface ResolvedOptions {
  /** Embedding size d. */
  readonly dim: number;
  /** Query heads H. */
  readonly heads: number;
  /** Key/value heads G. */
  readonly kvHeads: number;
  /** Size of one head. */
  readonly headDim: number;
  /** Query heads per kv head, H / G. */
  readonly groupSize: number;
  /** The soft cap of the scores, or null without one. */
  readonly scoreCap: number | null;
  /** The learned sink logit of each query head (a copy of the option's), or null without them. */
  readonly sinkLogits: Float64Array | null;
  /** Score scale: as given, else 1/√headDim with weights and 1 in seed mode. */
  readonly scale: number;
  /** Storage of the cache, weights and outputs. */
  readonly precision: 'float32' | 'float64';
  /** The typed array of `precision`: Float32Array or Float64Array. */
  readonly Float: FloatArrayConstructor;
  /** Storage of the projections: the precision, or 'bfloat16' or 'float16' (the weights rounded to it, held as float32 outside the kernels' memory). */
  readonly weightsDtype: 'float32' | 'float64' | 'bfloat16' | 'float16';
  /** Whether steps carry the attended positions and the attention weights. */
  readonly withWeights: boolean;
  /**
   * The projections copied at `precision`, row-major as given; null in seed mode. An engine on the
   * WebAssembly kernels keeps its float32 matrices only in the kernels' memory: there, reading
   * `wq`, `wk`, `wv` or `wo` copies the matrix out (a fresh array each read; DISPOSED once the
   * engine and its forks are disposed).
   */
  readonly weights: {
    /** (heads·headDim) × dim, or null when the caller projects (then so are wk and wv). */
    readonly wq: FloatArray | null;
    /** (kvHeads·headDim) × dim, or null when the caller projects. */
    readonly wk: FloatArray | null;
    /** (kvHeads·headDim) × dim, or null when the caller projects. */
    readonly wv: FloatArray | null;
    /** dim × (heads·headDim), or null when not given: the output is then the head outputs concatenated. */
    readonly wo: FloatArray | null;
    /** heads·headDim numbers added to the queries, at `precision`; null when not given. */
    readonly bq: FloatArray | null;
    /** kvHeads·headDim numbers added to the keys; null when not given. */
    readonly bk: FloatArray | null;
    /** kvHeads·headDim numbers added to the values; null when not given. */
    readonly bv: FloatArray | null;
    /** dim numbers added to the output projection; null when not given. */
    readonly bo: FloatArray | null;
  } | null;
  /** Whether the weights give wq, wk and wv: false in seed mode and for an engine whose caller projects. */
  readonly projectsInputs: boolean;
  /** Whether the weights give wo. */
  readonly projectsOutput: boolean;
  /** Length of an output: dim with wo (or in seed mode), heads·headDim without. */
  readonly outputDim: number;
  /** Position encoding. */
  readonly positions: PositionEncoding;
  /** RoPE base (10000 unless given; unused without RoPE). */
  readonly ropeBase: number;
  /** What RoPE rotates by: the stream index ('absolute') or the rank among the attended keys ('cache'). */
  readonly ropePositions: 'absolute' | 'cache';
  /** How many leading numbers of a head RoPE rotates (headDim unless given). */
  readonly ropeDim: number;
  /** Which numbers RoPE pairs: 'half' (m, m + ropeDim/2) or 'interleaved' (2m, 2m + 1). */
  readonly ropeStyle: 'half' | 'interleaved';
  /** The rotation speeds when given by `ropeFrequencies` (a copy of the option's), else null: they come from ropeBase. */
  readonly ropeFrequencies: Float64Array | null;
  /** Infinity when unbounded. */
  readonly window: number;
  /** Attention sinks: the first tokens, attendable forever. 0 without. */
  readonly sinks: number;
  /** Tokens kept beyond the window so `truncate` can roll back that far. 0 by default. */
  readonly retain: number;
  /** Look-ahead L: token i's output waits for token i+L. 0 for causal attention. */
  readonly lookahead: number;
  /** Tokens per cache block. */
  readonly blockSize: number;
  /** Storage of cached keys and values: the precision, or 'int8'. */
  readonly cacheDtype: 'float32' | 'float64' | 'int8';
  /** The kernels in use: 'wasm' (SIMD, float32 engines) or 'js'. */
  readonly kernels: 'wasm' | 'js';
  /** The pool steps are split across, or null for one thread. */
  readonly threads: ThreadPool | null;
  /** RoPE speeds, or null without RoPE. */
  readonly invFreq: Float64Array | null;
  /** ALiBi slopes per query head, or null without ALiBi. */
  readonly slopes: Float64Array | null;
}

/** The widest vector an engine takes (dim, heads·headDim): 2²⁴ numbers, 64 MiB in float32 — past any model, short of a typed array's limit. */
export const MAX_WIDTH = 2 ** 24;
/** The most tokens in a cache block, and the most numbers in a block's keys, or in its queries held for look-ahead (512 MiB in float32). */
const MAX_BLOCK_SIZE = 2 ** 16;
const MAX_BLOCK_NUMBERS = 2 ** 27;

/** Every key of {@link AttentionOptions}. */
export const KNOWN_OPTIONS: ReadonlySet<string> = new Set([
  'dim', 'heads', 'kvHeads', 'headDim', 'weights', 'scale', 'scoreCap', 'sinkLogits', 'precision', 'weightsDtype', 'withWeights', 'positions',
  'ropeBase', 'ropePositions', 'ropeDim', 'ropeStyle', 'ropeFrequencies', 'window', 'sinks', 'retain', 'lookahead', 'blockSize', 'cacheDtype', 'kernels', 'threads',
]);

/**
 * Validates `options` once, at the boundary, into a frozen {@link ResolvedOptions}.
 *
 * @throws AttentionError INVALID_OPTION naming the option and the rule it broke;
 *   DIMENSION_MISMATCH or NON_FINITE for weights of the wrong size or with non-finite entries.
 * @example
 * ```ts
 * import { resolveOptions } from 'attnstream';
 * const seed = resolveOptions({ dim: 8, heads: 2 });
 * console.log(seed.headDim, seed.kvHeads, seed.scale, seed.window); // 4 2 1 Infinity
 * const w = new Array(16).fill(0.1); // 4×4: heads·headDim = 4 rows, dim = 4 columns
 * const projected = resolveOptions({ dim: 4, heads: 2, weights: { wq: w, wk: w, wv: w } });
 * console.log(projected.scale, projected.outputDim); // 0.7071… 4: 1/√headDim; no wo, so heads·headDim
 * ```
 */
export function resolveOptions(options: AttentionOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') invalid('options', 'must be an object');
  for (const key of Object.keys(options)) {
    // Cut: a key is the caller's text, perhaps a file's, and goes into the message and the field.
    if (key === 'attentionFactor') {
      // A scaled RoPE's result spread into the options: its factor is a scale, not an option (left
      // undefined, as its type allows, it is not given).
      if (options.attentionFactor === undefined) continue;
      invalid(key, 'is not an option: a scaled RoPE (yarnRope, longRope) gives it for the scores, as scale: attentionFactor ** 2 / Math.sqrt(headDim); pass ropeFrequencies alone');
    }
    if (!KNOWN_OPTIONS.has(key)) invalid(cutText(key), `is not an option (known: ${[...KNOWN_OPTIONS].join(', ')})`);
  }
  const dim = positiveInteger(options.dim, 'dim', MAX_WIDTH);
  const heads = positiveInteger(options.heads ?? 1, 'heads', MAX_WIDTH);
  const kvHeads = positiveInteger(options.kvHeads ?? heads, 'kvHeads', MAX_WIDTH);
  if (heads % kvHeads !== 0) invalid('kvHeads', `must divide heads (${heads}), got ${kvHeads}`);
  const seedMode = options.weights === undefined;
  if (options.headDim === undefined && dim % heads !== 0) {
    invalid('heads', `must divide dim (${dim}) when headDim is not given, got ${heads}`);
  }
  const headDim = positiveInteger(options.headDim ?? dim / heads, 'headDim', MAX_WIDTH);
  if (heads * headDim > MAX_WIDTH) invalid('headDim', `must keep heads·headDim at most ${MAX_WIDTH}, got ${heads}·${headDim}`);
  if (seedMode) {
    if (heads * headDim !== dim) invalid('headDim', `must make heads·headDim equal dim (${dim}) in seed mode (no weights), got ${heads}·${headDim}`);
    if (kvHeads !== heads) invalid('kvHeads', `must equal heads (${heads}) in seed mode (no weights to make fewer kv heads with), got ${kvHeads}`);
  }
  const precision = options.precision ?? 'float32';
  if (precision !== 'float32' && precision !== 'float64') invalid('precision', `must be 'float32' or 'float64', got ${describeValue(precision)}`);
  const Float = precision === 'float32' ? Float32Array : Float64Array;
  const weightsDtype = options.weightsDtype ?? precision;
  const half = weightsDtype === 'bfloat16' || weightsDtype === 'float16' ? weightsDtype : undefined;
  if (weightsDtype !== precision && !(half !== undefined && precision === 'float32')) {
    invalid('weightsDtype', `must be the precision ('${precision}')${precision === 'float32' ? ", 'bfloat16' or 'float16'" : " (bfloat16 and float16 weights need precision 'float32')"}, got ${describeValue(weightsDtype)}`);
  }
  if (half !== undefined && seedMode) invalid('weightsDtype', `'${half}' is how weights are stored, and seed mode has none`);
  const scale = options.scale ?? (seedMode ? 1 : 1 / Math.sqrt(headDim));
  positiveNumber(scale, 'scale');
  // The WebAssembly kernels sum q·k in float32, then scale it: past 2^64 a score of any size could
  // only come from products in float32's subnormal range, which keep few digits (found by an
  // accuracy search: scale 1e45 moved a weight from 0.27 to 0.20). No model scales scores so.
  if (precision === 'float32' && scale > 2 ** 64) {
    invalid('scale', `must be at most 2^64 with precision 'float32' (its scores are sums of float32 products, scaled after), got ${describeValue(scale)}`);
  }

  const weights = seedMode ? null : readWeights(options.weights!, { dim, heads, kvHeads, headDim }, Float, half);
  const positions = options.positions ?? 'none';
  if (positions !== 'none' && positions !== 'rope' && positions !== 'alibi') {
    invalid('positions', `must be 'none', 'rope' or 'alibi', got ${describeValue(positions)}`);
  }
  const ropeBase = ropeBaseOf(options.ropeBase ?? 10000);
  if (options.ropeBase !== undefined && positions !== 'rope') invalid('ropeBase', "only applies with positions: 'rope'");
  const ropePositions = options.ropePositions ?? 'absolute';
  if (ropePositions !== 'absolute' && ropePositions !== 'cache') invalid('ropePositions', `must be 'absolute' or 'cache', got ${describeValue(ropePositions)}`);
  if (options.ropePositions !== undefined && positions !== 'rope') invalid('ropePositions', "only applies with positions: 'rope'");
  const ropeDim = options.ropeDim === undefined ? headDim : positiveInteger(options.ropeDim, 'ropeDim', headDim);
  if (options.ropeDim !== undefined && positions !== 'rope') invalid('ropeDim', "only applies with positions: 'rope'");
  if (positions === 'rope' && ropeDim % 2 !== 0) {
    invalid(options.ropeDim === undefined ? 'positions' : 'ropeDim', `'rope' rotates pairs, so it needs an even ${options.ropeDim === undefined ? 'headDim (or an even ropeDim below it)' : 'ropeDim'}, got ${ropeDim}`);
  }
  const ropeStyle = options.ropeStyle ?? 'half';
  if (ropeStyle !== 'half' && ropeStyle !== 'interleaved') invalid('ropeStyle', `must be 'half' or 'interleaved', got ${describeValue(ropeStyle)}`);
  if (options.ropeStyle !== undefined && positions !== 'rope') invalid('ropeStyle', "only applies with positions: 'rope'");
  // Without RoPE first: there the list has no length to have (ropeDim / 2 of an odd head is 1.5).
  if (options.ropeFrequencies !== undefined && positions !== 'rope') invalid('ropeFrequencies', "only applies with positions: 'rope'");
  const ropeFrequencies =
    options.ropeFrequencies === undefined
      ? null
      : // A speed past that makes a position's angle infinite (cos and sin NaN) before a stream's last position.
        readNumbers(options.ropeFrequencies, ropeDim / 2, 'ropeFrequencies', 'ropeDim / 2', (f) => f > 0 && f <= MAX_SPEED, `a finite number > 0 and at most ${MAX_SPEED.toPrecision(3)} (so that every position's angle is finite)`);
  if (ropeFrequencies !== null && options.ropeBase !== undefined) invalid('ropeFrequencies', 'replaces ropeBase: give one of them');

  const window = options.window === undefined || options.window === Infinity ? Infinity : positiveInteger(options.window, 'window');
  const sinks = nonNegativeInteger(options.sinks ?? 0, 'sinks');
  if (sinks > 0 && window === Infinity) invalid('sinks', 'only applies with a window: without one every token stays attendable');
  const retain = nonNegativeInteger(options.retain ?? 0, 'retain');
  const lookahead = nonNegativeInteger(options.lookahead ?? 0, 'lookahead');
  const blockSize = positiveInteger(options.blockSize ?? 64, 'blockSize', MAX_BLOCK_SIZE);
  if (blockSize * kvHeads * headDim > MAX_BLOCK_NUMBERS) {
    invalid('blockSize', `must keep a block's keys (blockSize·kvHeads·headDim) at most ${MAX_BLOCK_NUMBERS} numbers, got ${blockSize}·${kvHeads}·${headDim}`);
  }
  if (lookahead > 0 && blockSize * heads * headDim > MAX_BLOCK_NUMBERS) {
    invalid('blockSize', `must keep a block's queries, held for look-ahead (blockSize·heads·headDim), at most ${MAX_BLOCK_NUMBERS} numbers, got ${blockSize}·${heads}·${headDim}`);
  }
  const cacheDtype = options.cacheDtype ?? precision;
  if (cacheDtype !== 'int8' && cacheDtype !== precision) {
    invalid('cacheDtype', `must be 'int8' or the precision ('${precision}'), got ${describeValue(cacheDtype)}`);
  }
  if (retain > 0 && window === Infinity && cacheDtype !== 'int8') {
    invalid('retain', "only applies with a window or cacheDtype 'int8': without either every token is kept and every truncate is exact");
  }
  const kernelChoice = kernelChoiceOf(options.kernels);
  // float64 caches (and int8 ones of a float64 engine, whose keys are float64 while a block fills) keep the TypeScript path.
  const simdCache = cacheDtype === 'float32' || (cacheDtype === 'int8' && precision === 'float32');
  const cap = options.scoreCap ?? null;
  const scoreCap = cap === null ? null : positiveNumber(cap, 'scoreCap');
  const sinkLogits = options.sinkLogits === undefined ? null : readNumbers(options.sinkLogits, heads, 'sinkLogits', 'one per query head', () => true, 'a finite number');
  const kernels = kernelChoice === 'auto' && simdCache && wasmKernelsAvailable() ? 'wasm' : 'js';
  const threads = threadPoolOf(options.threads, kernels === 'wasm', "precision 'float32' (cacheDtype 'float32' or 'int8') and kernels 'auto'");
  const withWeights = options.withWeights ?? false;
  if (typeof withWeights !== 'boolean') invalid('withWeights', `must be a boolean, got ${describeValue(withWeights)}`);

  const projectsInputs = weights !== null && weights.wq !== null;
  const projectsOutput = weights !== null && weights.wo !== null;
  const outputDim = weights === null || projectsOutput ? dim : heads * headDim;
  return Object.freeze({
    dim, heads, kvHeads, headDim, groupSize: heads / kvHeads, scale, scoreCap, sinkLogits, precision, Float, weightsDtype, withWeights, weights, projectsInputs, projectsOutput, outputDim,
    positions, ropeBase, ropePositions, ropeDim, ropeStyle, ropeFrequencies, window, sinks, retain, lookahead, blockSize, cacheDtype, kernels, threads,
    invFreq: positions !== 'rope' ? null : (ropeFrequencies ?? ropeInverseFrequencies(ropeDim, ropeBase)),
    slopes: positions === 'alibi' ? alibiSlopes(heads) : null,
  });
}

interface Shape {
  readonly dim: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
}

function readWeights(weights: AttentionWeights, s: Shape, Float: FloatArrayConstructor, half: HalfDtype | undefined): ResolvedOptions['weights'] {
  if (weights === null || typeof weights !== 'object') invalid('weights', 'must be an object { wq, wk, wv, wo?, bq?, bk?, bv?, bo? }');
  for (const key of Object.keys(weights)) {
    if (!WEIGHT_NAMES.includes(key as never)) invalid(`weights.${key}`, `is not a weight (known: ${WEIGHT_NAMES.join(', ')})`);
  }
  if (weights.bo !== undefined && weights.wo === undefined) invalid('weights.bo', 'needs weights.wo: it is the output projection\'s bias');
  const given = (['wq', 'wk', 'wv'] as const).filter((name) => weights[name] !== undefined);
  if (given.length === 1 || given.length === 2) {
    invalid('weights', `must give wq, wk and wv together (got ${given.join(' and ')}), or none of them when pushQKV brings q, k and v`);
  }
  const projects = given.length === 3;
  for (const name of ['bq', 'bk', 'bv'] as const) {
    if (!projects && weights[name] !== undefined) invalid(`weights.${name}`, `needs weights.w${name[1]}: it is that projection's bias`);
  }
  const qWidth = s.heads * s.headDim;
  const kvWidth = s.kvHeads * s.headDim;
  const read = (w: Vector | undefined, rows: number, cols: number, field: string) => matrix(w, rows, cols, field, Float, half);
  const bias = (b: Vector | undefined, width: number, field: string) => (b === undefined ? null : read(b, 1, width, field));
  return Object.freeze({
    wq: projects ? read(weights.wq, qWidth, s.dim, 'weights.wq') : null,
    wk: projects ? read(weights.wk, kvWidth, s.dim, 'weights.wk') : null,
    wv: projects ? read(weights.wv, kvWidth, s.dim, 'weights.wv') : null,
    wo: weights.wo === undefined ? null : read(weights.wo, s.dim, qWidth, 'weights.wo'),
    bq: bias(weights.bq, qWidth, 'weights.bq'),
    bk: bias(weights.bk, kvWidth, 'weights.bk'),
    bv: bias(weights.bv, kvWidth, 'weights.bv'),
    bo: bias(weights.bo, s.dim, 'weights.bo'),
  });
}

/**
 * The options that choose how an engine runs and what its steps carry, not their numbers: they may
 * differ between an engine and its snapshot, and a restore takes them from the caller.
 *
 * @example
 * ```ts
 * import { createAttention, restoreAttention } from 'attnstream';
 * import type { RunOptions } from 'attnstream';
 * const attn = createAttention({ dim: 2 });
 * attn.push([1, 0]);
 * const choices: RunOptions = { withWeights: true, kernels: 'js' };
 * console.log(restoreAttention(attn.snapshot(), choices).push([0, 1])[0]!.weights![0]); // Float32Array [0.2689…, 0.7310…]: scores 0 and 1
 * ```
 */
export type RunOptions = Pick<AttentionOptions, 'kernels' | 'threads' | 'withWeights'> & {
  // Absent: given beside run choices alone they are refused, and the types say so (a union with
  // AttentionOptions would otherwise take { withWeights: true, window: 4 }).
  readonly [K in Exclude<keyof AttentionOptions, 'kernels' | 'threads' | 'withWeights'>]?: never;
};

/** The keys of {@link RunOptions}. */
export const RUN_OPTIONS = ['kernels', 'threads', 'withWeights'] as const satisfies readonly (keyof RunOptions)[];

/**
 * Refuses `operation` (a push of inputs x) on an engine whose caller projects: weights without wq,
 * wk and wv, fed q, k and v by pushQKV.
 */
export function assertProjects(o: ResolvedOptions, operation: string): void {
  if (o.weights === null || o.projectsInputs) return;
  throw new AttentionError('INVALID_ARGUMENT', `${operation}: these options have no wq, wk and wv to project inputs with; give q, k and v to pushQKV`, {
    field: operation,
  });
}

/** Every field of {@link AttentionWeights}: the matrices, then their biases. */
export const WEIGHT_NAMES = ['wq', 'wk', 'wv', 'wo', 'bq', 'bk', 'bv', 'bo'] as const;
