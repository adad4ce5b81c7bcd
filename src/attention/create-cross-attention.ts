import type { PagedKVCache } from '../cache/index.js';
import type { CacheStats } from '../cache/index.js';
import { encodeSafetensors } from '../cache/safetensors.js';
import { AttentionError, describeValue } from '../errors.js';
import type { FloatArray } from '../kernels/float-array.js';
import { sharedCopy } from './arena-weights.js';
import type { ArenaWeights } from './arena-weights.js';
import { newCache } from './new-cache.js';
import { CROSS_ATTENTION_FORMAT, snapshotChoices, snapshotVersion, stateTensors } from './snapshot-state.js';
import type { SnapshotOptions } from './snapshot-state.js';
import { HeadAttention } from './head-attention.js';
import { kernelArena } from './kernel-arena.js';
import { InputReading } from './input-reading.js';
import { KNOWN_OPTIONS, resolveOptions } from './options.js';
import { invalid } from './option-checks.js';
import type { AttentionOptions, AttentionWeights, Float32Precision, Float64Precision, ResolvedOptions } from './options.js';
import { projectOutputs, projectRows } from './project-weights.js';
import { stepWeights } from './step.js';
import type { AttentionStep, StepOptions } from './step.js';
import { assertFinite, assertRowsFinite, finiteCheck, readRows, rowsOf } from './vector.js';
import type { FiniteCheck, Vector, VectorRows } from './vector.js';

/**
 * Options of {@link createCrossAttention}: those of {@link createAttention} that do not place keys
 * in a stream (no positions, windows, sinks or look-ahead). `weights` project the queries (wq,
 * bq), the memory's keys and values (wk, bk, wv, bv) and the output (wo, bo); without weights
 * (seed mode) q = x and k = v = the memory's rows. Options typed as these also go to
 * {@link createAttention}: type options shared by a model's self- and cross-attention layers so.
 *
 * @example
 * ```ts
 * import type { CrossAttentionOptions } from 'attnstream';
 * const options: CrossAttentionOptions = { dim: 8, heads: 2, precision: 'float64' };
 * ```
 */
export type CrossAttentionOptions = Omit<AttentionOptions, StreamOption | 'weights'> & {
  /** `wq`, `wk` and `wv` (cross-attention projects its queries and memory itself), `wo` and biases as an engine takes them; none for seed mode. */
  readonly weights?:
    | (AttentionWeights & {
        /** (heads·headDim) × dim. */
        readonly wq: Vector;
        /** (kvHeads·headDim) × dim. */
        readonly wk: Vector;
        /** (kvHeads·headDim) × dim. */
        readonly wv: Vector;
      })
    | undefined;
} & {
  // Absent, so that self-attention's options, which cross-attention refuses, do not type-check either.
  readonly [K in StreamOption]?: never;
};

/**
 * The options of self-attention that place keys in a stream, which a cross-attention (over a
 * memory, not a stream) has none of.
 *
 * @example
 * ```ts
 * import type { AttentionOptions, StreamOption } from 'attnstream';
 * const selfAttention: AttentionOptions = { dim: 4, positions: 'rope', window: 64 };
 * const streamOnly = (Object.keys(selfAttention) as (keyof AttentionOptions)[]).filter((key): key is StreamOption => key === 'positions' || key === 'window');
 * console.log(streamOnly); // [ 'positions', 'window' ]
 * ```
 */
export type StreamOption = 'positions' | 'ropeBase' | 'ropePositions' | 'ropeDim' | 'ropeStyle' | 'ropeFrequencies' | 'window' | 'sinks' | 'retain' | 'lookahead';

/**
 * The options of self-attention that place keys in a stream, which cross-attention refuses by
 * name: exactly those CrossAttentionOptions leaves out (`satisfies` keeps the two lists equal).
 */
const STREAM_OPTIONS = Object.keys({
  positions: true,
  ropeBase: true,
  ropePositions: true,
  ropeDim: true,
  ropeStyle: true,
  ropeFrequencies: true,
  window: true,
  sinks: true,
  retain: true,
  lookahead: true,
} satisfies Record<StreamOption, true>);

/**
 * `options`, refused (INVALID_OPTION) where they name an option cross-attention does not take; a
 * stream option left undefined is absent, as createAttention reads it (options spread from an
 * engine's with `window: undefined`, say).
 */
export function crossOptions(options: CrossAttentionOptions): CrossAttentionOptions {
  if (options === null || typeof options !== 'object') return options;
  for (const key of Object.keys(options)) {
    if (STREAM_OPTIONS.includes(key) && (options as Record<string, unknown>)[key] !== undefined) invalid(key, 'is not an option of cross-attention, which attends the whole memory: no positions, windows, sinks or look-ahead');
    if (!KNOWN_OPTIONS.has(key)) invalid(key, `is not an option (known: ${[...KNOWN_OPTIONS].filter((k) => !STREAM_OPTIONS.includes(k)).join(', ')})`);
  }
  return options;
}

/**
 * Attention of queries over a fixed memory: an encoder-decoder model's cross-attention (Whisper,
 * T5, BART), where every decoder token attends all of the encoder's outputs. The memory's keys and
 * values are projected and cached once ({@link CrossAttention.setMemory}); each query is then
 * scored against all of them on the same kernels as the engine's steps.
 *
 * @example
 * ```ts
 * import { createCrossAttention } from 'attnstream';
 * const cross = createCrossAttention({ dim: 2, precision: 'float64', withWeights: true });
 * cross.setMemory([[1, 0], [0, 1]]); // the encoder's outputs
 * const step = cross.attend([2, 0]); // a decoder token's query: scores 2 and 0
 * console.log(step.weights![0]); // Float64Array [0.8807…, 0.1192…]
 * console.log(step.output); // Float64Array [0.8807…, 0.1192…]: 0.88·[1, 0] + 0.12·[0, 1]
 * ```
 */
export interface CrossAttention<Output extends FloatArray = FloatArray> {
  /**
   * The options, validated and with defaults. On the WebAssembly kernels each matrix of `weights` (wq, wk, wv, wo)
   * reads as a fresh copy out of the kernels' memory, the only one kept: read a matrix once into a
   * local rather than index it in a loop; once disposed, reading one throws DISPOSED.
   */
  readonly options: ResolvedOptions;
  /** Rows in the memory (0 before {@link CrossAttention.setMemory}). */
  readonly memoryLength: number;
  /** Whether {@link CrossAttention.dispose} was called. */
  readonly disposed: boolean;
  /**
   * Replaces the memory: each row (`dim` numbers, an encoder output) projected to a key and a
   * value and cached, in order. A refused call (a bad row, an overflow) leaves the memory as it was.
   * An empty list empties it: `attend` then refuses until a memory is set. The rows may be given
   * flat, one after another in one Float32Array or Float64Array ({@link VectorRows}).
   *
   * @throws AttentionError INVALID_ARGUMENT, DIMENSION_MISMATCH or NON_FINITE naming the row
   *   (field `memory`, `token` its index); DIMENSION_MISMATCH for a flat array that is not whole
   *   rows; NON_FINITE when a projection overflows; DISPOSED.
   */
  setMemory(rows: VectorRows): void;
  /**
   * Query `x` over the whole memory: its output (dim numbers with wo, heads·headDim without), and
   * with `withWeights` (the option, or this call's {@link StepOptions}) the memory's positions and
   * each head's weights. `index` counts the queries attended so far.
   *
   * @throws AttentionError as {@link CrossAttention.setMemory} for a bad `x` (field `x`);
   *   INVALID_ARGUMENT (field `memory`) before any memory is set, or for bad `options`; NON_FINITE
   *   when a score overflows; OUT_OF_RANGE past 2^53 − 1 queries (an index no longer exact).
   */
  attend(x: Vector, options?: StepOptions): AttentionStep<Output>;
  /**
   * {@link CrossAttention.attend} for several queries, their projections as one product; each step
   * bit for bit attend's. `xs` may be given flat ({@link VectorRows}).
   */
  attendMany(xs: VectorRows, options?: StepOptions): AttentionStep<Output>[];
  /**
   * Another cross-attention over the same weights (one copy in memory, shared) and the same memory
   * (its cached keys and values shared, not copied, until either sets a new one): one per beam or
   * per decoding session of a model, without copying or projecting anything again. Its `index`
   * goes on from this one's. Each is disposed on its own; the weights go with the last.
   *
   * @throws AttentionError DISPOSED.
   * @example
   * ```ts
   * import { createCrossAttention } from 'attnstream';
   * // One model, two sessions: each gets its own encoder outputs, the weights stay one copy.
   * const model = createCrossAttention({ dim: 2, weights: { wq: [1, 0, 0, 1], wk: [1, 0, 0, 1], wv: [1, 0, 0, 1] } });
   * const a = model.fork();
   * const b = model.fork();
   * a.setMemory([[1, 0], [0, 1]]);
   * b.setMemory([[0, 3]]);
   * console.log(a.attend([2, 0]).output, b.attend([2, 0]).output); // Float32Array [0.8044…, 0.1955…] Float32Array [0, 3]
   * ```
   */
  fork(): CrossAttention<Output>;
  /**
   * The cross-attention as a safetensors file (format `"attnstream.cross-attention"`, laid out as an
   * engine's: docs/snapshots.md): its options, its memory's keys and values as projected (so a
   * restore projects nothing again: an encoder's whole output for a session), the count of queries
   * attended, and the weights unless `{ weights: false }` (a session's memory alone, restored onto
   * the model's cross-attention by {@link restoreCrossAttention}).
   *
   * @throws AttentionError DISPOSED; INVALID_ARGUMENT for options other than `{ weights?, metadata? }` as {@link SnapshotOptions} describes them; OUT_OF_RANGE when the header would pass the 16 MiB a restore reads.
   * @example
   * ```ts
   * import { createCrossAttention, restoreCrossAttention } from 'attnstream';
   * const w = [1, 0, 0, 1];
   * const model = createCrossAttention({ dim: 2, weights: { wq: w, wk: w, wv: w } });
   * const session = model.fork();
   * session.setMemory([[1, 0], [0, 1]]);
   * const saved = session.snapshot({ weights: false }); // the projected memory, no weights
   * const back = restoreCrossAttention(saved, model);
   * console.log(back.memoryLength, back.options === model.options); // 2 true
   * ```
   */
  snapshot(options?: SnapshotOptions): ReturnType<Uint8Array['slice']>;
  /** The memory's cache: rows, blocks, bytes. */
  stats(): CacheStats;
  /** Releases the memory and the weights' copy; afterwards every call but `stats` and `dispose` throws DISPOSED. */
  dispose(): void;
}

/**
 * Creates a {@link CrossAttention}, its steps typed by the precision its options give, as
 * {@link createAttention}'s.
 *
 * @throws AttentionError INVALID_OPTION for an option that places keys in a stream (positions,
 *   window, sinks, retain, lookahead, the RoPE options) or weights without wq, wk and wv, and as
 *   {@link createAttention} for the rest.
 * @example
 * ```ts
 * import { createCrossAttention } from 'attnstream';
 * // A Whisper-style decoder layer's cross-attention: 2 heads of 2, biases on q and v, not k.
 * const w = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
 * const cross = createCrossAttention({ dim: 4, heads: 2, weights: { wq: w, wk: w, wv: w, wo: w, bq: [0, 0, 0.5, 0], bv: [0, 0, 0, 1] } });
 * cross.setMemory([[1, 2, 3, 4], [4, 3, 2, 1], [0, 1, 0, 1]]);
 * console.log(cross.attend([0.5, 0.5, 0, 1]).output.length, cross.memoryLength); // 4 3
 * ```
 */
export function createCrossAttention(options: CrossAttentionOptions & Float64Precision): CrossAttention<Float64Array>;
export function createCrossAttention(options: CrossAttentionOptions & Float32Precision): CrossAttention<Float32Array>;
export function createCrossAttention(options: CrossAttentionOptions): CrossAttention;
export function createCrossAttention(options: CrossAttentionOptions): CrossAttention {
  const o = resolveOptions(crossOptions(options));
  if (o.weights !== null && o.weights.wq === null) invalid('weights', 'must give wq, wk and wv (or no weights: seed mode) for cross-attention, which projects its queries and memory itself');
  return new CrossAttentionEngine({ options: o, cache: newCache(o), attended: 0, weightsOf: null });
}

/** What a cross-attention is made of. @internal */
export interface CrossState {
  /** The options: `weightsOf`'s own when it is given. */
  readonly options: ResolvedOptions;
  readonly cache: PagedKVCache;
  /** Queries attended so far: the next one's index. */
  readonly attended: number;
  /** The cross-attention whose weights (and their copy in the kernels' memory) it shares, or null for a copy of its own. */
  readonly weightsOf: CrossAttentionEngine | null;
}

/** @internal */
export class CrossAttentionEngine implements CrossAttention {
  readonly options: ResolvedOptions;
  private readonly cache: PagedKVCache;
  private readonly heads: HeadAttention;
  private readonly copy: ArenaWeights | null;
  private readonly finite: FiniteCheck;
  private isDisposed = false;
  /** Refuses calls while one reads its caller's inputs (a getter or Proxy in them runs the caller's code). */
  private readonly reading = new InputReading('cross-attention');
  private attended = 0;

  constructor(state: CrossState) {
    const { weightsOf } = state;
    if (weightsOf !== null) {
      this.copy = weightsOf.copy?.retain().heldBy(this) ?? null;
      this.options = state.options;
    } else {
      const arena = kernelArena(state.options);
      const shared = arena === null ? null : sharedCopy(arena, state.options);
      this.copy = shared?.copy.heldBy(this) ?? null;
      this.options = shared?.options ?? state.options;
    }
    this.cache = state.cache;
    this.attended = state.attended;
    const arena = kernelArena(this.options);
    this.heads = new HeadAttention(this.options, this.cache, arena);
    this.finite = finiteCheck(arena);
  }

  get memoryLength(): number {
    return this.cache.length;
  }

  get disposed(): boolean {
    return this.isDisposed;
  }

  setMemory(given: VectorRows): void {
    this.assertLive('setMemory');
    const rows = rowsOf(given, this.options.dim, 'setMemory', 'memory');
    if (!Array.isArray(rows)) throw new AttentionError('INVALID_ARGUMENT', `setMemory: expected an array of rows, got ${describeValue(rows)}`, { field: 'memory' });
    const o = this.options;
    let n = 0;
    const kw = o.kvHeads * o.headDim;
    const x = InputReading.during([this.reading], 'setMemory', () => this.read(rows, (n = rows.length), 'memory', 0));
    const [ks, vs] = projectRows(o, this.copy, ['wk', 'wv'], x, n) as [FloatArray, FloatArray];
    assertRowsFinite([[ks, kw, 'projected key'], [vs, kw, 'projected value']], n, (t) => t, this.finite);
    for (let t = 0; t < n; t++) this.cache.assertStorable(ks.subarray(t * kw, (t + 1) * kw), vs.subarray(t * kw, (t + 1) * kw), t);
    // Every row checked: only now does the old memory go.
    this.cache.clear();
    for (let t = 0; t < n; t++) this.cache.append(ks.subarray(t * kw, (t + 1) * kw), vs.subarray(t * kw, (t + 1) * kw), null);
  }

  attend(x: Vector, options?: StepOptions): AttentionStep {
    return this.run([x], 'attend', options)[0]!;
  }

  attendMany(xs: VectorRows, options?: StepOptions): AttentionStep[] {
    this.assertLive('attendMany');
    return this.run(rowsOf(xs, this.options.dim, 'attendMany', 'xs'), 'attendMany', options);
  }

  fork(): CrossAttention {
    this.assertLive('fork');
    return new CrossAttentionEngine({ options: this.options, cache: this.cache.fork(), attended: this.attended, weightsOf: this });
  }

  snapshot(options: SnapshotOptions = {}): ReturnType<Uint8Array['slice']> {
    // The options first: a getter in them may change the memory, which the snapshot then shows.
    const { withWeights, metadata: user } = snapshotChoices(options);
    this.assertLive('snapshot');
    // Every row of the memory is attended at once: as an engine's state, all of them "emitted".
    const { tensors, metadata } = stateTensors({ options: this.options, cache: this.cache, emitted: this.cache.length }, '', withWeights);
    return encodeSafetensors(tensors, {
      format: CROSS_ATTENTION_FORMAT,
      version: snapshotVersion([this.options], withWeights, tensors),
      ...metadata,
      attended: String(this.attended),
      ...user,
    });
  }

  stats(): CacheStats {
    return this.cache.stats();
  }

  dispose(): void {
    this.reading.assertIdle('dispose');
    if (this.isDisposed) return;
    this.isDisposed = true;
    this.cache.dispose();
    this.copy?.releaseFor(this);
  }

  private run(xs: readonly Vector[], operation: string, options: StepOptions | undefined): AttentionStep[] {
    this.assertLive(operation);
    if (!Array.isArray(xs)) throw new AttentionError('INVALID_ARGUMENT', `${operation}: expected an array of vectors, got ${describeValue(xs)}`, { field: 'xs' });
    const count = this.cache.length;
    if (count === 0) throw new AttentionError('INVALID_ARGUMENT', `${operation}: the memory is empty: setMemory(rows) first`, { field: 'memory' });
    this.cache.settle();
    const o = this.options;
    o.threads?.wake(this);
    let n = 0;
    const qw = o.heads * o.headDim;
    let withWeights = false;
    const x = InputReading.during([this.reading], operation, () => {
      withWeights = stepWeights(options, operation, o.withWeights);
      return this.read(xs, (n = xs.length), 'x', this.attended);
    });
    if (this.attended + n > Number.MAX_SAFE_INTEGER) {
      // Past it an index is no longer an exact integer, nor one a snapshot could hold.
      throw new AttentionError('OUT_OF_RANGE', `${operation}: ${this.attended + n} queries would have been attended, past the 2^53 − 1 whose indices are exact`, {
        field: operation,
        expected: `0..${Number.MAX_SAFE_INTEGER}`,
        actual: this.attended + n,
      });
    }
    const [qs] = projectRows(o, this.copy, ['wq'], x, n) as [FloatArray];
    assertRowsFinite([[qs, qw, 'projected query']], n, (t) => this.attended + t, this.finite);
    const keys = { sinkEnd: 0, from: 0, to: count };
    const headOut = this.heads.headOut;
    // With wo, every query's head outputs, row after row, for one output product.
    const heads = o.projectsOutput ? new Float64Array(n * qw) : null;
    const steps: AttentionStep[] = [];
    for (let t = 0; t < n; t++) {
      const index = this.attended + t;
      const output = new o.Float(o.outputDim);
      const weights: FloatArray[] | null = withWeights ? [] : null;
      this.heads.compute(index, keys, count, qs, t * qw, heads === null ? output : headOut, weights);
      // As an engine's step: a float64 sum of values near the largest double can overflow.
      if (heads === null && o.precision === 'float64') assertFinite(output, o.outputDim, 'output', index, this.finite);
      heads?.set(headOut, t * qw);
      steps.push(weights === null ? { index, output } : { index, output, positions: Int32Array.from({ length: count }, (_, j) => j), weights });
    }
    if (heads !== null) projectOutputs(o, this.copy, heads, steps, this.finite);
    this.attended += n;
    return steps;
  }

  /** The first `n` rows of `xs` checked and widened into one float64 array (`field`, rows numbered from `first`). */
  private read(xs: readonly Vector[], n: number, field: string, first: number): Float64Array {
    return readRows(xs, n, this.options.dim, field, first, this.finite, this.options.precision === 'float32');
  }

  private assertLive(operation: string): void {
    this.reading.assertIdle(operation);
    if (this.isDisposed) throw new AttentionError('DISPOSED', `${operation}: this cross-attention was disposed`, { field: operation });
  }
}
