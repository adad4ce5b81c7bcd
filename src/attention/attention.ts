import type { CacheStats } from '../cache/index.js';
import type { AttentionError } from '../errors.js';
import type { CacheListener } from './cache-event.js';
import type { ResolvedOptions } from './options.js';
import type { SnapshotOptions } from './snapshot-state.js';
import type { AttentionStep, StepOptions } from './step.js';
import type { Vector, VectorRows } from './vector.js';
import type { FloatArray } from '../kernels/float-array.js';

/**
 * An incremental attention engine over a KV cache: one per layer of a decoder.
 *
 * Each push appends the token's key and value to the cache, scores the queries that became ready
 * against the cached keys, and returns their outputs. Every method that refuses its input throws
 * an {@link AttentionError} and leaves the engine exactly as it was.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * const attn = createAttention({ dim: 2, precision: 'float64' });
 * attn.pushMany([[1, 0], [0, 1]]);
 * const twin = attn.fork(); // shares the two cached tokens, copy-on-write
 * twin.push([1, 1]);
 * attn.truncate(1); // attn now behaves as a fresh engine fed [1, 0]
 * console.log(attn.length, twin.length); // 1 3
 * attn.dispose();
 * console.log(attn.disposed, twin.length); // true 3: the fork lives on
 * ```
 */
export interface Attention<Output extends FloatArray = FloatArray> {
  /**
   * The validated options. On the WebAssembly kernels each matrix of `weights` (wq, wk, wv, wo)
   * reads as a fresh copy out of the kernels' memory, the only one kept: read a matrix once into a
   * local rather than index it in a loop; once disposed, reading one throws DISPOSED.
   */
  readonly options: ResolvedOptions;
  /** Tokens pushed so far. */
  readonly length: number;
  /** Whether {@link Attention.dispose} was called. */
  readonly disposed: boolean;
  /**
   * Appends token `x` (dim numbers) and returns the outputs that became ready: exactly one for
   * causal attention (this token's), none while look-ahead waits, one per token released.
   * @throws AttentionError INVALID_ARGUMENT for an `x` that is not an array-like, an engine without
   *   wq, wk, wv (fed by pushQKV) or a call from inside another's input reading; DIMENSION_MISMATCH;
   *   NON_FINITE (naming the token index); OUT_OF_RANGE past 2³¹ tokens; DISPOSED; INVALID_ARGUMENT for
   *   bad `options` ({@link StepOptions}: whether the steps carry weights, default the engine's
   *   `withWeights`). Nothing changes when it throws (docs/errors.md).
   */
  push(x: Vector, options?: StepOptions): AttentionStep<Output>[];
  /**
   * Appends tokens in order; equal to pushing them one by one, but all or nothing: every vector is
   * checked before any is cached, and a score that overflows part-way takes the whole prompt back
   * out, with no cache event sent. So that it can, a window releases the blocks the prompt leaves
   * behind only once the whole prompt is in: a prompt far longer than the window holds all of its
   * keys until the call returns (push it in chunks to bound that). `xs` is a list of vectors, or
   * the rows one after another in one Float32Array or Float64Array ({@link VectorRows}).
   * @throws AttentionError as {@link Attention.push}, naming the token, and INVALID_ARGUMENT when
   *   `xs` is not an array; DIMENSION_MISMATCH (field `xs`) for a flat array whose length is not a
   *   whole number of rows of dim.
   */
  pushMany(xs: VectorRows, options?: StepOptions): AttentionStep<Output>[];
  /**
   * For model code that projects by itself: q has heads·headDim numbers, k and v kvHeads·headDim.
   * The engine applies RoPE when configured, caches k and v, attends, and applies wo (and bo) when
   * given. An engine made for it holds no input weights: options whose `weights` leave out wq, wk
   * and wv (`{ wo }`, or `{}`), with any head layout; such an engine refuses `push` and `pushMany`.
   * A seed-mode engine (no `weights`) takes pushQKV too, but its default scale is seed mode's, 1,
   * not 1/√headDim: give `weights: {}` or `scale` for a model's.
   * @throws AttentionError as {@link Attention.push}, for `q`, `k` and `v`.
   */
  pushQKV(q: Vector, k: Vector, v: Vector, options?: StepOptions): AttentionStep<Output>[];
  /**
   * A prompt for model code that projects by itself: row i of `qs`, `ks` and `vs` as
   * `pushQKV(qs[i], ks[i], vs[i])` would take it, equal to those calls bit for bit (`wo` applied to
   * every step at once), and all or nothing as {@link Attention.pushMany}. Each may be given flat
   * ({@link VectorRows}).
   * @throws AttentionError INVALID_ARGUMENT when one is not an array; DIMENSION_MISMATCH for
   *   arrays of different lengths, a row of the wrong length (naming its token) or a flat array
   *   that is not whole rows; NON_FINITE.
   */
  pushManyQKV(qs: VectorRows, ks: VectorRows, vs: VectorRows, options?: StepOptions): AttentionStep<Output>[];
  /**
   * Outputs still waiting for look-ahead tokens, computed over the keys there are. None for causal
   * attention. All or nothing, as a push.
   * @throws AttentionError NON_FINITE when a waiting query's score overflows (naming its token);
   *   DISPOSED; INVALID_ARGUMENT for bad `options`, as {@link Attention.push}. Nothing changes when
   *   it throws: every output still waits.
   */
  flush(options?: StepOptions): AttentionStep<Output>[];
  /**
   * Rolls back to the first `n` tokens; afterwards the engine behaves like a fresh one fed them.
   * @throws AttentionError OUT_OF_RANGE unless 0 ≤ n ≤ length; EVICTED when the window already
   *   released keys those tokens need. Nothing changes when it throws.
   */
  truncate(n: number): void;
  /**
   * An independent engine sharing the cached prefix copy-on-write; costs O(blocks).
   * @throws AttentionError DISPOSED.
   */
  fork(): Attention<Output>;
  /**
   * Empties the cache and keeps the options.
   * @throws AttentionError DISPOSED.
   */
  reset(): void;
  /**
   * Releases the cache. Afterwards push, pushMany, pushQKV, pushManyQKV, flush, truncate, fork,
   * reset and snapshot (and pushEach, pushEachQKV with it among their engines) throw DISPOSED;
   * stats() reports an empty cache and dispose() again does nothing.
   */
  dispose(): void;
  /** Tokens, blocks, bytes and sharing of the cache. */
  stats(): CacheStats;
  /**
   * The whole engine (options, weights, cached keys and values, stream position) as a safetensors
   * file; {@link restoreAttention} continues it bit for bit. See docs/snapshots.md for the layout.
   * With `{ weights: false }` the weights are left out (a session's state without the model's
   * static weights, a small fraction of the bytes): restoring it then needs the options with
   * them, or an engine of the model to restore it onto ({@link restoreAttention}). The bytes are a
   * Uint8Array over an ArrayBuffer of their own, typed as `slice` returns one so that TypeScript
   * 5.7 and later let them go straight into a Blob, `fetch` or `crypto.subtle`, and earlier
   * versions read the type too.
   * @throws AttentionError INVALID_ARGUMENT for options other than `{ weights?, metadata? }` as
   *   {@link SnapshotOptions} describes them; OUT_OF_RANGE (`field: "snapshot"`) when the file's
   *   header would pass the 16 MiB a restore reads (sink logits and metadata fill it); DISPOSED.
   */
  snapshot(options?: SnapshotOptions): ReturnType<Uint8Array['slice']>;
  /**
   * Calls `listener` synchronously on every cache event; returns the function that stops it. As
   * with a DOM event's dispatch, an event goes to the listeners of the moment it happened, less
   * those stopped before their turn: one added while an event is delivered hears the next.
   *
   * @throws AttentionError INVALID_ARGUMENT when `listener` is not a function.
   */
  addCacheListener(listener: CacheListener): () => void;
}
