import type { CacheStats, PagedKVCache } from '../cache/index.js';
import { encodeSafetensors } from '../cache/safetensors.js';
import { AttentionError, describeValue, placedError, shownValue } from '../errors.js';
// Kernels are imported from their own modules: a re-export can cost a property lookup per call
// in transpiled builds.
import type { FloatArray } from '../kernels/float-array.js';
import { RopeAngles, ropeRotateBy } from '../kernels/rope.js';
import { sharedCopy } from './arena-weights.js';
import type { ArenaWeights, Projection } from './arena-weights.js';
import { attendedKeys, oldestAttendable } from './attended-keys.js';
import type { Attention } from './attention.js';
import type { AttendedKeys } from './attended-keys.js';
import type { CacheEvent, CacheListener } from './cache-event.js';
import { CacheEventDispatch } from './cache-event-dispatch.js';
import { HeadAttention } from './head-attention.js';
import type { HeadPart } from './head-attention.js';
import { InputReading } from './input-reading.js';
import { projectOutputs, projectRows, projectWeights } from './project-weights.js';
import { kernelArena } from './kernel-arena.js';
import { newCache } from './new-cache.js';
import { assertProjects, resolveOptions } from './options.js';
import type { AttentionOptions, Float32Precision, Float64Precision, ResolvedOptions } from './options.js';
import { ATTENTION_FORMAT, snapshotChoices, snapshotVersion, stateTensors } from './snapshot-state.js';
import type { SnapshotOptions } from './snapshot-state.js';
import type { EngineState } from './snapshot-state.js';
import { MAX_STREAM_LENGTH, stepWeights } from './step.js';
import type { AttentionStep, StepOptions } from './step.js';
import { assertFinite, assertRowsFinite, assertVectorShape, finiteCheck, isFlatRows, readRows, readVector, rowsOf } from './vector.js';
import type { FiniteCheck, RowCheck, Vector, VectorRows } from './vector.js';

/** A query of a prompt waiting to be attended with others: position `i` over keys up to `last`, its row at `qSource[qOffset …]`. */
interface PromptQuery {
  readonly i: number;
  readonly last: number;
  readonly qSource: FloatArray;
  readonly qOffset: number;
}

/** Head outputs waiting for one batched wo projection, rows of `width` in step order (`count` of them so far). */
interface DeferredHeads {
  readonly rows: Float64Array;
  readonly width: number;
  count: number;
}

/** The rows {@link DeferredHeads} holds so far. */
function heldHeads(deferred: DeferredHeads): Float64Array {
  return deferred.rows.subarray(0, deferred.count * deferred.width);
}

/** Rows appended and attended with their events, window releases and wo held back (see AttentionEngine.appendHeld). */
interface HeldPrompt {
  /** The emitted count before the rows, which taking them back returns to (the cache holds its length). */
  readonly emittedBefore: number;
  readonly steps: AttentionStep[];
  readonly events: CacheEvent[];
  /** The steps' head outputs waiting for wo; null without wo. */
  readonly deferred: DeferredHeads | null;
  /** Queries the rows made ready that the caller attends, with other engines' (appendHeld's `attendLast` false). */
  readonly pending: PromptQuery[];
}

/**
 * One token into each of several engines at once: `xs[i]` into `engines[i]`, as
 * `engines[i].push(xs[i])` would (the same numbers, bit for bit), for engines that share one
 * engine's options and weights: forks of it (a beam search's beams, a stack's layer across
 * `stack.fork()`s) and engines restored onto it (`restoreAttention(bytes, engine)`). The tokens'
 * q, k and v projections run as one matrix product, and their output projections as another, so the weights
 * are read once for all of them instead of once per engine: what batched decoding saves when a
 * layer's weights outgrow the CPU's caches. All or nothing: a refused token (bad input, an
 * overflowing score in any engine) leaves every engine as it was, with no events sent.
 *
 * `options` choose what every engine's step carries, as {@link Attention.push}'s do.
 *
 * @returns For each engine, the steps its push would return.
 * @throws AttentionError INVALID_ARGUMENT (not forks of one engine, an engine twice, not arrays,
 * bad options), DIMENSION_MISMATCH (a count or a vector's length), NON_FINITE, DISPOSED,
 * OUT_OF_RANGE, as push.
 * @example
 * ```ts
 * import { createAttention, pushEach } from 'attnstream';
 *
 * const w = (seed: number) => Array.from({ length: 16 }, (_, i) => Math.sin(seed + i));
 * const prompt = createAttention({ dim: 4, heads: 2, weights: { wq: w(1), wk: w(2), wv: w(3), wo: w(4) } });
 * prompt.pushMany([[1, 0, 0, 0], [0, 1, 0, 0]]);
 * const beams = [prompt.fork(), prompt.fork(), prompt.fork()];
 * // One step of three beams, each with its own candidate token.
 * const steps = pushEach(beams, [[0, 0, 1, 0], [0, 0, 0, 1], [1, 1, 0, 0]]);
 * console.log(steps.map((s) => s[0]!.index)); // [2, 2, 2]
 * ```
 */
export function pushEach<Output extends FloatArray>(engines: readonly Attention<Output>[], xs: readonly Vector[], options?: StepOptions): AttentionStep<Output>[][] {
  // The engines' own steps: typed as theirs, whichever precision that is.
  return AttentionEngine.pushEach(engines, xs, options) as AttentionStep<Output>[][];
}

/**
 * {@link pushEach} for rows the caller projected: `qs[i]`, `ks[i]` and `vs[i]` into `engines[i]`,
 * as `engines[i].pushQKV(qs[i], ks[i], vs[i])` would (the same numbers, bit for bit), for forks of
 * one engine: the beams of a model that normalises its queries and keys itself (QK-norm: Qwen3,
 * OLMo 2), having projected every beam's token in one product of its own. The output projection
 * `wo`, when the options have it, runs once for all of them; all or nothing, as pushEach.
 *
 * @returns For each engine, the steps its pushQKV would return.
 * @throws AttentionError as {@link pushEach}, naming `qs`, `ks` or `vs` (and `q`, `k`, `v` for a
 *   row's length or numbers, with the engine's token); `options` as pushEach's.
 * @example
 * ```ts
 * import { createAttention, pushEachQKV } from 'attnstream';
 *
 * // The caller projects (and normalises) q, k and v; the engine attends and applies wo.
 * const wo = Array.from({ length: 16 }, (_, i) => Math.cos(i));
 * const prompt = createAttention({ dim: 4, heads: 2, weights: { wo } });
 * prompt.pushQKV([1, 0, 0, 1], [0, 1, 1, 0], [1, 1, 0, 0]);
 * const beams = [prompt.fork(), prompt.fork()];
 * const steps = pushEachQKV(beams, [[1, 1, 0, 0], [0, 0, 1, 1]], [[0, 1, 0, 1], [1, 0, 1, 0]], [[1, 0, 1, 0], [0, 1, 0, 1]]);
 * console.log(steps.map((s) => s[0]!.index)); // [1, 1]
 * ```
 */
export function pushEachQKV<Output extends FloatArray>(
  engines: readonly Attention<Output>[],
  qs: readonly Vector[],
  ks: readonly Vector[],
  vs: readonly Vector[],
  options?: StepOptions,
): AttentionStep<Output>[][] {
  return AttentionEngine.pushEachQKV(engines, qs, ks, vs, options) as AttentionStep<Output>[][];
}

/**
 * `run()` for `engines[i]` of a pushEach: an AttentionError it throws names the engine (beams share
 * token indices, so the token alone does not say whose input it was).
 */
function ofEngine<T>(i: number, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (!(error instanceof AttentionError)) throw error;
    throw placedError(error, `engines[${i}]`, { engine: i });
  }
}

/**
 * Creates an incremental attention engine. Its steps' arrays are typed by the precision its
 * options give: `Attention<Float64Array>` for `precision: 'float64'`, `Attention<Float32Array>`
 * without one (or with `'float32'`), `Attention` (either) when the options' type leaves it open.
 *
 * @throws AttentionError INVALID_OPTION, DIMENSION_MISMATCH or NON_FINITE for bad options.
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * const attn = createAttention({ dim: 3, precision: 'float64', withWeights: true });
 * attn.push([1, 0, 0]);
 * attn.push([0, 1, 0]);
 * const [step] = attn.push([1, 1, 0]); // x_3 is scored against x_1, x_2 and itself
 * const output: Float64Array = step!.output;
 * console.log(step!.weights![0], output);
 * ```
 */
export function createAttention(options: AttentionOptions & Float64Precision): Attention<Float64Array>;
export function createAttention(options: AttentionOptions & Float32Precision): Attention<Float32Array>;
export function createAttention(options: AttentionOptions): Attention;
export function createAttention(options: AttentionOptions): Attention {
  return attentionFromResolved(resolveOptions(options));
}

/**
 * An empty engine over options already resolved: for callers that resolve once and create many
 * engines (an rx operator, one per subscription), which share one copy of the weights in the
 * kernels' memory, as forks do.
 */
export function attentionFromResolved(o: ResolvedOptions): Attention {
  return new AttentionEngine({ options: o, cache: newCache(o), emitted: 0 });
}

/** The engine behind {@link Attention}; internal, so that restore can build one from a state. */
export class AttentionEngine implements Attention {
  readonly options: ResolvedOptions;
  private readonly cache: PagedKVCache;
  /** Queries `[0, emitted)` have had their outputs returned. */
  private emitted: number;
  private isDisposed = false;
  /** The cache events on their way to the listeners. */
  private readonly events = new CacheEventDispatch();
  /** Refuses calls while one reads its caller's inputs (a getter or Proxy in them runs the caller's code). */
  private readonly reading = new InputReading('engine');
  // Scratch, allocated once per engine: the hot path allocates only the arrays it hands out.
  private readonly x: Float64Array;
  private readonly q: FloatArray;
  private readonly k: FloatArray;
  private readonly v: FloatArray;
  private readonly keys: AttendedKeys = { sinkEnd: 0, from: 0, to: 0 };
  /** RoPE's angles at the position keys are rotated to, made once a step for every kv head; null without RoPE. */
  private readonly keyAngles: RopeAngles | null;
  /** While a prompt is appended ({@link AttentionEngine.appendHeld}: pushMany, pushManyQKV, pushEach): the cache events it will send once every token is in (none if it is refused). */
  private heldEvents: CacheEvent[] | null = null;
  /** Scores, softmax and weighted values of a query's heads, on whichever kernels run the step. */
  private readonly headAttention: HeadAttention;
  /** The projection matrices in the kernels' memory (shared with forks), or null: TypeScript projects. */
  private readonly arenaWeights: ArenaWeights | null;
  /** The scratch rows a push's q, k and v projections go to, for {@link ArenaWeights.project}. */
  private readonly qkv: readonly (readonly [Projection, FloatArray])[];
  /** How rows taken in or projected are checked for non-finite numbers: by the kernels' when they run. */
  private readonly finite: FiniteCheck;

  /**
   * `parent`: the engine this one is a fork of, whose options and copy of the weights it shares;
   * else it shares the copy of every engine over equal weights ({@link sharedCopy}).
   */
  constructor(state: EngineState, parent: AttentionEngine | null = null) {
    const arena = kernelArena(state.options);
    const made = parent !== null || arena === null ? null : sharedCopy(arena, state.options);
    this.arenaWeights = (parent !== null ? parent.arenaWeights?.retain() : made?.copy)?.heldBy(this) ?? null;
    const o = made?.options ?? state.options;
    this.options = o;
    this.cache = state.cache;
    this.emitted = state.emitted;
    this.x = new Float64Array(o.dim);
    this.q = new o.Float(o.heads * o.headDim);
    this.k = new o.Float(o.kvHeads * o.headDim);
    this.v = new o.Float(o.kvHeads * o.headDim);
    this.headAttention = new HeadAttention(o, this.cache, arena);
    this.keyAngles = o.invFreq === null ? null : new RopeAngles(o.invFreq);
    this.finite = finiteCheck(arena);
    this.qkv = [['wq', this.q], ['wk', this.k], ['wv', this.v]];
  }

  get length(): number {
    return this.cache.length;
  }

  get disposed(): boolean {
    return this.isDisposed;
  }

  push(x: Vector, options?: StepOptions): AttentionStep[] {
    this.assertLive('push');
    assertProjects(this.options, 'push');
    this.assertRoom('push', 1);
    // A sleeping worker wakes while this push projects, not after the step is handed over.
    this.options.threads?.wake(this);
    const t = this.cache.length;
    const withWeights = InputReading.during([this.reading], 'push', () => {
      readVector(x, this.options.dim, this.x, 0, 'x', t, this.finite, this.options.precision === 'float32');
      return stepWeights(options, 'push', this.options.withWeights);
    });
    this.projectChecked(this.x, t);
    return this.appendAndAttend(withWeights);
  }

  pushMany(given: VectorRows, options?: StepOptions): AttentionStep[] {
    this.assertLive('pushMany');
    this.options.threads?.wake(this);
    if (!Array.isArray(given) && !isFlatRows(given)) throw new AttentionError('INVALID_ARGUMENT', `pushMany: expected an array of vectors, got ${describeValue(given)}`, { field: 'xs' });
    assertProjects(this.options, 'pushMany');
    const xs = rowsOf(given, this.options.dim, 'pushMany', 'xs');
    const t0 = this.cache.length;
    let n = 0;
    let withWeights = false;
    // Every vector is read and checked before anything is cached: pushMany is all or nothing.
    const x = InputReading.during([this.reading], 'pushMany', () => {
      withWeights = stepWeights(options, 'pushMany', this.options.withWeights);
      n = xs.length;
      this.assertRoom('pushMany', n);
      return readRows(xs, n, this.options.dim, 'x', t0, this.finite, this.options.precision === 'float32');
    });
    const { qs, ks, vs } = this.projectRows(x, n, (i) => t0 + i);
    return this.appendPrompt(qs, ks, vs, n, withWeights);
  }

  /**
   * Pushes `xs[i]` into `engines[i]`, for forks of one engine, with every token's projections in
   * one matrix product (and wo in another): see {@link pushEach}.
   */
  static pushEach(engines: readonly Attention[], xs: readonly Vector[], options?: StepOptions): AttentionStep[][] {
    const list = AttentionEngine.forksOf(engines, 'pushEach', [[xs, 'xs']]);
    const lead = list[0]!;
    const o = lead.options;
    assertProjects(o, 'pushEach');
    o.threads?.wake(lead);
    const n = list.length;
    const x = new Float64Array(n * o.dim);
    const withWeights = InputReading.during(list.map((engine) => engine.reading), 'pushEach', () => {
      list.forEach((engine, i) => ofEngine(i, () => readVector(xs[i]!, o.dim, x, i * o.dim, 'x', engine.length, lead.finite, o.precision === 'float32')));
      return stepWeights(options, 'pushEach', o.withWeights);
    });
    const { qs, ks, vs } = lead.projectRows(x, n, (i) => list[i]!.length, ofEngine);
    return AttentionEngine.appendEach(list, qs, ks, vs, withWeights);
  }

  /** {@link pushEach} of rows the caller projected: see {@link pushEachQKV}. */
  static pushEachQKV(engines: readonly Attention[], qs: readonly Vector[], ks: readonly Vector[], vs: readonly Vector[], options?: StepOptions): AttentionStep[][] {
    const list = AttentionEngine.forksOf(engines, 'pushEachQKV', [[qs, 'qs'], [ks, 'ks'], [vs, 'vs']]);
    const lead = list[0]!;
    const o = lead.options;
    o.threads?.wake(lead);
    const qw = o.heads * o.headDim;
    const kw = o.kvHeads * o.headDim;
    const n = list.length;
    const [q, k, v] = [new o.Float(n * qw), new o.Float(n * kw), new o.Float(n * kw)];
    const withWeights = InputReading.during(list.map((engine) => engine.reading), 'pushEachQKV', () => {
      list.forEach((engine, i) =>
        ofEngine(i, () => {
          readVector(qs[i]!, qw, q, i * qw, 'q', engine.length, lead.finite);
          readVector(ks[i]!, kw, k, i * kw, 'k', engine.length, lead.finite);
          readVector(vs[i]!, kw, v, i * kw, 'v', engine.length, lead.finite);
        }),
      );
      return stepWeights(options, 'pushEachQKV', o.withWeights);
    });
    return AttentionEngine.appendEach(list, q, k, v, withWeights);
  }

  /**
   * `engines` checked as forks of one engine, each once, live and with room for a token, with one
   * row for each in every one of `rows` (named by their fields).
   */
  private static forksOf(engines: readonly Attention[], operation: string, rows: readonly (readonly [readonly Vector[], string])[]): AttentionEngine[] {
    if (!Array.isArray(engines) || engines.length === 0) {
      throw new AttentionError('INVALID_ARGUMENT', `${operation}: expected a non-empty array of engines`, { field: 'engines' });
    }
    for (const [list, field] of rows) {
      if (!Array.isArray(list)) throw new AttentionError('INVALID_ARGUMENT', `${operation}: expected ${field} to be an array of vectors`, { field });
      if (list.length !== engines.length) {
        throw new AttentionError('DIMENSION_MISMATCH', `${operation}: expected a vector in ${field} for each of the ${engines.length} engines, got ${list.length}`, {
          field,
          expected: engines.length,
          actual: list.length,
        });
      }
    }
    const first = engines[0];
    const list: AttentionEngine[] = [];
    // By index, as the rows are read: a hole is read as undefined (and refused), not skipped, and
    // an iterator of the array's own cannot pair a row with another engine (or leave one out).
    for (let i = 0; i < engines.length; i++) {
      const engine = engines[i];
      if (!(engine instanceof AttentionEngine) || !(first instanceof AttentionEngine) || engine.options !== first.options) {
        throw new AttentionError('INVALID_ARGUMENT', `${operation}: engine ${i} is not a fork of engine 0 (the engines must share one engine's options and weights: fork them from it, or restore them onto it)`, {
          field: 'engines',
          element: i,
        });
      }
      if (list.includes(engine)) throw new AttentionError('INVALID_ARGUMENT', `${operation}: engine ${i} is engine ${list.indexOf(engine)} again`, { field: 'engines', element: i });
      engine.assertLive(operation);
      engine.assertRoom(operation, 1);
      list.push(engine);
    }
    return list;
  }

  /**
   * Appends and attends row i of qs, ks and vs in `list[i]`, all or nothing: a score or an output
   * that overflows in any engine takes every engine's token back; wo for every step at once. The
   * steps carry weights when `withWeights` says so.
   */
  private static appendEach(list: readonly AttentionEngine[], qs: FloatArray, ks: FloatArray, vs: FloatArray, withWeights: boolean): AttentionStep[][] {
    const lead = list[0]!;
    const o = lead.options;
    const qw = o.heads * o.headDim;
    const kw = o.kvHeads * o.headDim;
    const held: HeldPrompt[] = [];
    try {
      let refused: unknown = null;
      try {
        list.forEach((engine, i) =>
          held.push(ofEngine(i, () => engine.appendHeld(qs.subarray(i * qw, (i + 1) * qw), ks.subarray(i * kw, (i + 1) * kw), vs.subarray(i * kw, (i + 1) * kw), 1, withWeights, false))),
        );
      } catch (e) {
        // Engine j refused its row (and took it back): the engines before it attend first, as
        // their own pushes would have, so a score of theirs that overflows is the refusal thrown.
        refused = e;
      }
      AttentionEngine.attendPending(list, held, withWeights);
      if (refused !== null) throw refused;
    } catch (e) {
      // One engine's score overflowed (it took its token back): the others take theirs back too.
      held.forEach((h, i) => list[i]!.takeBack(h));
      throw e;
    }
    if (o.projectsOutput) {
      const steps = held.flatMap((h) => h.steps);
      const heads = new Float64Array(steps.length * qw);
      let row = 0;
      for (const h of held) {
        heads.set(heldHeads(h.deferred!), row * qw);
        row += h.steps.length;
      }
      // Row r of the product is a step of engine owner[r]'s.
      const owner = held.flatMap((h, i) => h.steps.map(() => i));
      try {
        projectOutputs(o, lead.arenaWeights, heads, steps, lead.finite, (r, check) => ofEngine(owner[r]!, check));
      } catch (e) {
        // An output overflowed: every engine takes its token back, as for a score.
        held.forEach((h, i) => list[i]!.takeBack(h));
        throw e;
      }
    }
    // Every engine's call ends before any listener hears of one, and each engine's events go out
    // in order: a listener may push into another engine of the call.
    AttentionEngine.together(list, () => list.forEach((engine, i) => engine.release(held[i]!)));
    return held.map((h) => h.steps);
  }

  /**
   * The queries `held[i]` left pending in `list[i]` (a pushEach's, whose beams share their prompt's
   * blocks), attended together in groups as a prompt's are ({@link HeadAttention.computeTogether}),
   * each engine's steps added to its held rows in order; the first refusal, in engine order, thrown.
   */
  private static attendPending(list: readonly AttentionEngine[], held: readonly HeldPrompt[], withWeights: boolean): void {
    const parts = held.flatMap((h, i) => h.pending.map((query) => ({ engine: i, ...list[i]!.headPart(query, withWeights) })));
    if (parts.length === 0) return;
    const size = list[0]!.headAttention.promptGroupSize(parts[0]!.query.count);
    for (let g0 = 0; g0 < parts.length; g0 += size) {
      const group = parts.slice(g0, g0 + size);
      const finish = HeadAttention.computeTogether(group);
      group.forEach((part, g) =>
        ofEngine(part.engine, () => {
          finish[g]!();
          held[part.engine]!.steps.push(list[part.engine]!.stepOf(part, held[part.engine]!.deferred));
        }),
      );
    }
  }

  /**
   * The q, k and v rows of `n` inputs `x` (row after row): the projections as matrix-matrix
   * products, bit-identical to projecting row by row (seed mode: x itself, in the precision), each
   * checked for overflow; `token(i)` names row i's token in the error.
   */
  private projectRows(x: Float64Array, n: number, token: (i: number) => number, row?: RowCheck): { qs: FloatArray; ks: FloatArray; vs: FloatArray } {
    const o = this.options;
    const qw = o.heads * o.headDim;
    const kw = o.kvHeads * o.headDim;
    const [qs, ks, vs] = projectRows(o, this.arenaWeights, ['wq', 'wk', 'wv'], x, n) as [FloatArray, FloatArray, FloatArray];
    assertRowsFinite([[qs, qw, 'projected query'], [ks, kw, 'projected key'], [vs, kw, 'projected value']], n, token, this.finite, row);
    return { qs, ks, vs };
  }

  pushManyQKV(givenQs: VectorRows, givenKs: VectorRows, givenVs: VectorRows, options?: StepOptions): AttentionStep[] {
    this.assertLive('pushManyQKV');
    this.options.threads?.wake(this);
    const o = this.options;
    const t0 = this.cache.length;
    const qw = o.heads * o.headDim;
    const kw = o.kvHeads * o.headDim;
    const [qs, ks, vs] = [rowsOf(givenQs, qw, 'pushManyQKV', 'qs'), rowsOf(givenKs, kw, 'pushManyQKV', 'ks'), rowsOf(givenVs, kw, 'pushManyQKV', 'vs')];
    for (const [rows, field] of [[qs, 'qs'], [ks, 'ks'], [vs, 'vs']] as const) {
      if (!Array.isArray(rows)) throw new AttentionError('INVALID_ARGUMENT', `pushManyQKV: expected ${field} to be an array of vectors`, { field });
    }
    const { q, k, v, n, withWeights } = InputReading.during([this.reading], 'pushManyQKV', () => {
      const withWeights = stepWeights(options, 'pushManyQKV', o.withWeights);
      const n = qs.length;
      if (ks.length !== n || vs.length !== n) {
        throw new AttentionError('DIMENSION_MISMATCH', `pushManyQKV: qs, ks and vs must hold as many rows, got ${n}, ${ks.length} and ${vs.length}`, {
          field: ks.length !== n ? 'ks' : 'vs',
          expected: n,
          actual: ks.length !== n ? ks.length : vs.length,
        });
      }
      this.assertRoom('pushManyQKV', n);
      // Every row is read and checked before anything is cached, as pushMany's; shapes first, so
      // that a malformed list is refused as such rather than by the allocation.
      for (let i = 0; i < n; i++) {
        assertVectorShape(qs[i]!, qw, 'q', t0 + i);
        assertVectorShape(ks[i]!, kw, 'k', t0 + i);
        assertVectorShape(vs[i]!, kw, 'v', t0 + i);
      }
      const [q, k, v] = [new o.Float(n * qw), new o.Float(n * kw), new o.Float(n * kw)];
      for (let i = 0; i < n; i++) {
        readVector(qs[i]!, qw, q, i * qw, 'q', t0 + i, this.finite);
        readVector(ks[i]!, kw, k, i * kw, 'k', t0 + i, this.finite);
        readVector(vs[i]!, kw, v, i * kw, 'v', t0 + i, this.finite);
      }
      return { q, k, v, n, withWeights };
    });
    return this.appendPrompt(q, k, v, n, withWeights);
  }

  /**
   * Appends and attends a prompt's `n` rows of q, k and v (checked, in the engine's precision), as
   * `n` single pushes would, all or nothing; `wo` for every step at once. The steps carry weights
   * when `withWeights` says so.
   */
  private appendPrompt(qs: FloatArray, ks: FloatArray, vs: FloatArray, n: number, withWeights: boolean): AttentionStep[] {
    const held = this.appendHeld(qs, ks, vs, n, withWeights);
    if (held.deferred !== null) {
      try {
        projectOutputs(this.options, this.arenaWeights, heldHeads(held.deferred), held.steps, this.finite);
      } catch (e) {
        // An output overflowed: the prompt is refused like a score that overflows.
        this.takeBack(held);
        throw e;
      }
    }
    this.release(held);
    return held.steps;
  }

  /**
   * Appends and attends `n` rows as {@link AttentionEngine.appendPrompt} does, all or nothing, but
   * holds back what cannot be undone: the cache events, the window's releases (so a later refusal
   * elsewhere can still {@link AttentionEngine.takeBack} the rows) and, with wo, the outputs, whose
   * head outputs it returns for one product ({@link projectOutputs}). With `attendLast` false, the
   * queries of the last group are left `pending`, for the caller to attend with other engines'.
   */
  private appendHeld(qs: FloatArray, ks: FloatArray, vs: FloatArray, n: number, withWeights: boolean, attendLast = true): HeldPrompt {
    const o = this.options;
    const t0 = this.cache.length;
    const qw = o.heads * o.headDim;
    const kw = o.kvHeads * o.headDim;
    const steps: AttentionStep[] = [];
    const emittedBefore = this.emitted;
    // Room for every step this call can emit: the tokens pending before it (lookahead) and its own.
    const deferred: DeferredHeads | null = o.projectsOutput ? { rows: new Float64Array((t0 + n - emittedBefore) * qw), width: qw, count: 0 } : null;
    // Until the prompt is in, a window releases nothing and listeners hear nothing, so a score
    // that overflows part-way can take the whole prompt back out and leave no trace.
    const events: CacheEvent[] = [];
    this.heldEvents = events;
    this.cache.hold();
    try {
      // Each row is cached as a push caches it, and the queries it makes ready wait until a group
      // of them is, to be attended together (HeadAttention.computeTogether: the same numbers, each
      // key read from memory once a group); a group never waits past a refused row, so the refusal
      // the pushes would meet first is the one thrown.
      let group: PromptQuery[] = [];
      let size = 1;
      for (let i = 0; i < n; i++) {
        this.q.set(qs.subarray(i * qw, (i + 1) * qw));
        this.k.set(ks.subarray(i * kw, (i + 1) * kw));
        this.v.set(vs.subarray(i * kw, (i + 1) * kw));
        const t = this.cache.length;
        if (group.length === 0) size = this.headAttention.promptGroupSize(Math.min(o.window, t + 1) + o.sinks);
        try {
          this.rotateKey(t);
          this.cache.append(this.k, this.v, o.lookahead > 0 ? this.q : null);
        } catch (e) {
          this.attendMany(group, withWeights, deferred);
          throw e;
        }
        this.notify({ type: 'append', position: t, length: t + 1 });
        for (; this.emitted + o.lookahead <= t; this.emitted++) group.push(this.promptQuery(this.emitted, t, qs, t0));
        if (group.length >= size || (i === n - 1 && attendLast)) {
          for (const step of this.attendMany(group, withWeights, deferred)) steps.push(step);
          group = [];
        }
      }
      return { emittedBefore, steps, events, deferred, pending: group };
    } catch (e) {
      this.takeBack({ emittedBefore });
      throw e;
    } finally {
      this.heldEvents = null;
    }
  }

  /** Undoes an {@link AttentionEngine.appendHeld} not yet released: its rows leave the cache, which is as it was before. */
  private takeBack(held: Pick<HeldPrompt, 'emittedBefore'>): void {
    this.cache.takeBack();
    this.emitted = held.emittedBefore;
  }

  /** Sends an {@link AttentionEngine.appendHeld}'s events and lets the window release what it no longer reaches. */
  private release(held: HeldPrompt): void {
    this.cache.commit();
    // All of the prompt's events are queued before the first listener runs: one that calls into
    // the engine then hears its own call's events after the prompt's.
    AttentionEngine.together([this], () => held.events.forEach((event) => this.notify(event)));
    this.releaseUnreachable();
  }

  pushQKV(q: Vector, k: Vector, v: Vector, options?: StepOptions): AttentionStep[] {
    this.assertLive('pushQKV');
    this.assertRoom('pushQKV', 1);
    this.options.threads?.wake(this);
    const o = this.options;
    const t = this.cache.length;
    const withWeights = InputReading.during([this.reading], 'pushQKV', () => {
      readVector(q, o.heads * o.headDim, this.q, 0, 'q', t, this.finite);
      readVector(k, o.kvHeads * o.headDim, this.k, 0, 'k', t, this.finite);
      readVector(v, o.kvHeads * o.headDim, this.v, 0, 'v', t, this.finite);
      return stepWeights(options, 'pushQKV', o.withWeights);
    });
    return this.appendAndAttend(withWeights);
  }

  flush(options?: StepOptions): AttentionStep[] {
    this.assertLive('flush');
    const withWeights = InputReading.during([this.reading], 'flush', () => stepWeights(options, 'flush', this.options.withWeights));
    const steps: AttentionStep[] = [];
    const last = this.cache.length - 1;
    const emittedBefore = this.emitted;
    try {
      while (this.emitted <= last) steps.push(this.emitNext(last, withWeights));
    } catch (e) {
      // A pending query's score overflowed: the outputs before it wait too, so a refused flush changes nothing.
      this.emitted = emittedBefore;
      throw e;
    }
    this.releaseUnreachable();
    return steps;
  }

  truncate(n: number): void {
    this.assertLive('truncate');
    const refusal = this.truncationRefusal(n);
    if (refusal !== null) throw refusal;
    const length = this.cache.length;
    this.cache.truncate(n);
    this.emitted = Math.max(0, n - this.options.lookahead);
    this.notify({ type: 'truncate', from: length, length: n });
  }

  /** Why truncate(n) would refuse, or null when it can go ahead: the plan half of truncate. */
  truncationRefusal(n: number): AttentionError | null {
    const o = this.options;
    const length = this.cache.length;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > length) {
      return new AttentionError('OUT_OF_RANGE', `truncate: expected an integer from 0 to ${length}, got ${describeValue(n)}`, {
        field: 'n',
        expected: `0..${length}`,
        actual: shownValue(n),
      });
    }
    const oldest = oldestAttendable(o, Math.max(0, n - o.lookahead));
    if (!this.cache.holds(oldest, n)) {
      return new AttentionError(
        'EVICTED',
        `truncate(${n}): tokens from ${oldest} on are needed but the window (${o.window}) already evicted some of them`,
        { field: 'n', actual: n },
      );
    }
    return null;
  }

  fork(): Attention {
    this.assertLive('fork');
    const twin = new AttentionEngine({ options: this.options, cache: this.cache.fork(), emitted: this.emitted }, this);
    this.notify({ type: 'fork', length: this.cache.length });
    return twin;
  }

  reset(): void {
    this.assertLive('reset');
    this.cache.clear();
    this.emitted = 0;
    this.notify({ type: 'reset', length: 0 });
  }

  dispose(): void {
    this.assertIdle('dispose');
    if (this.isDisposed) return;
    this.cache.dispose();
    this.arenaWeights?.releaseFor(this);
    this.isDisposed = true;
    // Its listeners go once they have heard this (after the events before it, when it happens while
    // listeners run or events are deferred).
    this.notify({ type: 'dispose', length: 0 });
    this.events.close();
  }

  stats(): CacheStats {
    return this.cache.stats();
  }

  snapshot(options: SnapshotOptions = {}): ReturnType<Uint8Array['slice']> {
    // The options first: a getter in them may change the engine, which the snapshot then shows.
    const { withWeights, metadata: user } = snapshotChoices(options);
    this.assertLive('snapshot');
    const { tensors, metadata } = this.state('', withWeights);
    return encodeSafetensors(tensors, { format: ATTENTION_FORMAT, version: snapshotVersion([this.options], withWeights, tensors), ...metadata, ...user });
  }

  /** The tensors and metadata of this engine, names prefixed by `prefix` (stacks prefix each layer). */
  state(prefix: string, withWeights: boolean): ReturnType<typeof stateTensors> {
    return stateTensors({ options: this.options, cache: this.cache, emitted: this.emitted }, prefix, withWeights);
  }

  addCacheListener(listener: CacheListener): () => void {
    if (typeof listener !== 'function') {
      throw new AttentionError('INVALID_ARGUMENT', `addCacheListener: expected a function, got ${describeValue(listener)}`, { field: 'listener' });
    }
    return this.events.add(listener);
  }

  private projectChecked(x: Float64Array, t: number): void {
    const o = this.options;
    if (o.weights !== null) this.projectToken(this.qkv, x, o.dim);
    else {
      // Seed mode: q = k = v = x.
      this.q.set(x);
      this.k.set(x);
      this.v.set(x);
    }
    assertFinite(this.q, o.heads * o.headDim, 'projected query', t, this.finite);
    assertFinite(this.k, o.kvHeads * o.headDim, 'projected key', t, this.finite);
    assertFinite(this.v, o.kvHeads * o.headDim, 'projected value', t, this.finite);
  }

  /** Rotates this.k by its position (RoPE), refusing a key the rotation took past the type's range. */
  private rotateKey(t: number): void {
    const o = this.options;
    if (o.invFreq === null) return;
    const interleaved = o.ropeStyle === 'interleaved';
    const angles = this.keyAngles!.at(t);
    for (let g = 0; g < o.kvHeads; g++) ropeRotateBy(this.k, g * o.headDim, angles, interleaved);
    // A rotated pair can grow by up to √2: a key near the type's largest overflows, and one
    // cached as Infinity would refuse every later step (a capped score or a −∞ one lets this
    // step through) and make the snapshot unreadable.
    assertFinite(this.k, o.kvHeads * o.headDim, 'rotated key', t, this.finite);
  }

  /** Caches this.k / this.v (and this.q when outputs wait), then emits every output now ready, with weights when `withWeights`. */
  private appendAndAttend(withWeights: boolean): AttentionStep[] {
    const o = this.options;
    const t = this.cache.length;
    this.rotateKey(t);
    const emittedBefore = this.emitted;
    this.cache.hold();
    const steps: AttentionStep[] = [];
    try {
      // A refused append (an int8 entry out of range) changes nothing, and ends the hold below.
      this.cache.append(this.k, this.v, o.lookahead > 0 ? this.q : null);
      while (this.emitted + o.lookahead <= t) steps.push(this.emitNext(t, withWeights));
    } catch (e) {
      // A score overflowed (or the append was refused): take the token back out, so a refused push changes nothing.
      this.cache.takeBack();
      this.emitted = emittedBefore;
      throw e;
    }
    this.cache.commit();
    this.notify({ type: 'append', position: t, length: t + 1 });
    this.releaseUnreachable();
    return steps;
  }

  private emitNext(last: number, withWeights: boolean): AttentionStep {
    const o = this.options;
    const i = this.emitted;
    let step: AttentionStep;
    if (o.lookahead === 0) {
      step = this.attend(i, last, this.q, 0, withWeights);
    } else {
      const block = this.cache.blockAt(i)!;
      step = this.attend(i, last, block.queries!, (i % o.blockSize) * o.heads * o.headDim, withWeights);
    }
    this.emitted = i + 1;
    return step;
  }

  /** Releases the blocks no future query can attend (out of the window and `retain`, sinks kept); a prompt calls it once it is in. */
  private releaseUnreachable(): void {
    const o = this.options;
    if (o.window === Infinity) return;
    // Kept: what truncate(length − k) needs for every k ≤ lookahead + retain. The last L tokens'
    // outputs are still pending, so taking them back (the way past a refused score under look-ahead)
    // always works, and retain's R come on top, whether or not a flush emitted the pending outputs.
    const n = Math.max(0, this.cache.length - o.lookahead - o.retain);
    const released = this.cache.releaseBetween(o.sinks, oldestAttendable(o, Math.max(0, n - o.lookahead)));
    if (released !== null) this.notify({ type: 'evict', ...released, length: this.cache.length });
  }

  /** `out = W · x + b` for one token's row x: {@link projectWeights} on this engine's weights. */
  private projectToken(products: readonly (readonly [Projection, FloatArray])[], x: Float64Array, cols: number): void {
    projectWeights(this.options, this.arenaWeights, products, x, 1, cols);
  }

  /** Query `i` of a prompt whose rows `qs` begin at position `t0`, over keys up to `last`: its row there, or cached (look-ahead). */
  private promptQuery(i: number, last: number, qs: FloatArray, t0: number): PromptQuery {
    const o = this.options;
    if (o.lookahead === 0) return { i, last, qSource: qs, qOffset: (i - t0) * o.heads * o.headDim };
    return { i, last, qSource: this.cache.blockAt(i)!.queries!, qOffset: (i % o.blockSize) * o.heads * o.headDim };
  }

  /** The steps of a prompt's queries, attended together ({@link HeadAttention.computeTogether}), as {@link AttentionEngine.attend} gives each. */
  private attendMany(queries: readonly PromptQuery[], withWeights: boolean, deferred: DeferredHeads | null): AttentionStep[] {
    if (queries.length === 1) return [this.attend(queries[0]!.i, queries[0]!.last, queries[0]!.qSource, queries[0]!.qOffset, withWeights, deferred)];
    const parts = queries.map((query) => this.headPart(query, withWeights));
    const finish = HeadAttention.computeTogether(parts);
    return parts.map((part, g) => {
      finish[g]!();
      return this.stepOf(part, deferred);
    });
  }

  /** Query `query` laid out for {@link HeadAttention.computeTogether}: its keys, and arrays of its own for its outputs and weights. */
  private headPart(query: PromptQuery, withWeights: boolean): HeadPart & { readonly output: FloatArray; readonly headOut: Float64Array } {
    const o = this.options;
    const keys = attendedKeys(o, query.i, query.last, { sinkEnd: 0, from: 0, to: 0 });
    const output = new o.Float(o.outputDim);
    // Head outputs of its own: they wait for wo until every query of the group is attended.
    const headOut = new Float64Array(o.projectsOutput ? o.heads * o.headDim : 0);
    const count = keys.sinkEnd + (keys.to - keys.from);
    const weights: FloatArray[] | null = withWeights ? [] : null;
    const { i, qSource, qOffset } = query;
    return { head: this.headAttention, query: { i, keys, count, qSource, qOffset, out: o.projectsOutput ? headOut : output, weights }, output, headOut };
  }

  /** The step of a part {@link HeadAttention.computeTogether} finished. */
  private stepOf(part: ReturnType<AttentionEngine['headPart']>, deferred: DeferredHeads | null): AttentionStep {
    const { query } = part;
    return this.step(query.i, query.keys, query.count, part.headOut, part.output, query.weights, deferred);
  }

  /**
   * Output of query `i` (its row at `qSource[qOffset …]`) over keys up to `last`, with its positions
   * and weights when `withWeights`; its head outputs held back in `deferred` when a prompt applies wo later.
   */
  private attend(i: number, last: number, qSource: FloatArray, qOffset: number, withWeights: boolean, deferred: DeferredHeads | null = null): AttentionStep {
    const o = this.options;
    const keys = attendedKeys(o, i, last, this.keys);
    const count = keys.sinkEnd + (keys.to - keys.from);
    const weights: FloatArray[] | null = withWeights ? [] : null;
    const output = new o.Float(o.outputDim);
    const headOut = this.headAttention.headOut;
    // Without wo the head outputs are the step's output, in its precision.
    this.headAttention.compute(i, keys, count, qSource, qOffset, o.projectsOutput ? headOut : output, weights);
    return this.step(i, keys, count, headOut, output, weights, deferred);
  }

  /**
   * Query i's step from its head outputs (`headOut`, the output itself without wo): wo applied,
   * or held back in `deferred` for a prompt's one product; its positions and weights when `weights` holds them.
   */
  private step(i: number, keys: AttendedKeys, count: number, headOut: Float64Array, output: FloatArray, weights: FloatArray[] | null, deferred: DeferredHeads | null): AttentionStep {
    const o = this.options;
    const { heads, headDim } = o;
    if (o.projectsOutput) {
      if (deferred !== null) deferred.rows.set(headOut, deferred.count++ * headOut.length);
      else {
        this.projectToken([['wo', output]], headOut, heads * headDim);
        // Inside the push's (or flush's) try: an overflowed output refuses it, as a score would.
        assertFinite(output, o.outputDim, 'output', i, this.finite);
      }
    } else if (o.precision === 'float64') {
      // Values near the largest double, weighed by weights whose rounding sums past 1, overflow a
      // float64 engine's sum; refused as an overflowed wo is. Not checked on the float32 path's
      // every step: its sums are float64 rounded to float32 (the kernels' `merge` reruns a block
      // sum that overflows), which would need some 5·10⁸ keys, each within 2⁻²⁴ of float32's
      // largest, to round past it.
      assertFinite(output, o.outputDim, 'output', i, this.finite);
    }
    if (weights === null) return { index: i, output };
    const positions = new Int32Array(count);
    let n = 0;
    for (let p = 0; p < keys.sinkEnd; p++) positions[n++] = p;
    for (let p = keys.from; p < keys.to; p++) positions[n++] = p;
    return { index: i, output, positions, weights };
  }

  /** Refuses a call that would take the stream past {@link MAX_STREAM_LENGTH} tokens. */
  private assertRoom(operation: string, count: number): void {
    const after = this.cache.length + count;
    if (after <= MAX_STREAM_LENGTH) return;
    throw new AttentionError(
      'OUT_OF_RANGE',
      `${operation}: the stream would hold ${after} tokens, past the ${MAX_STREAM_LENGTH} (2^31) whose positions fit an Int32; reset() starts it again`,
      { field: operation, expected: `0..${MAX_STREAM_LENGTH}`, actual: after },
    );
  }

  private assertLive(operation: string): void {
    this.assertIdle(operation);
    if (this.isDisposed) throw new AttentionError('DISPOSED', `${operation}: this engine was disposed`, { field: operation });
  }

  /** Sends `event` to the listeners, or, while a prompt is held ({@link AttentionEngine.appendHeld}), keeps it with the prompt. */
  private notify(event: CacheEvent): void {
    if (!this.events.heard) return;
    if (this.heldEvents !== null) {
      this.heldEvents.push(event);
      return;
    }
    this.events.send(event);
  }

  /**
   * Runs `change` (which must not throw half-way) over `engines` with their events held until all
   * of them have changed (and any enclosing `together` ends), then sends each engine's in order: a
   * listener, which may dispose an engine or push into one, cannot stop a change of several engines
   * (or of one engine's several events, a prompt's) part-way or hear of a later change before an
   * earlier one.
   */
  static together<T>(engines: readonly AttentionEngine[], change: () => T): T {
    return CacheEventDispatch.together(engines.map((engine) => engine.events), change);
  }

  /**
   * Refuses `operation` while this engine reads a call's inputs: a stack checks every layer before
   * it changes any.
   */
  assertIdle(operation: string): void {
    this.reading.assertIdle(operation);
  }

}
