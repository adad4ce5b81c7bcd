import type { CacheStats } from '../cache/index.js';
import { encodeSafetensors } from '../cache/safetensors.js';
import { AttentionError, describeValue, placedError, shownValue } from '../errors.js';
import { AttentionEngine, createAttention } from './create-attention.js';
import type { Attention } from './attention.js';
import type { AttentionOptions, Float32Precision, Float64Precision } from './options.js';
import { snapshotChoices, snapshotVersion, STACK_FORMAT } from './snapshot-state.js';
import type { SnapshotOptions } from './snapshot-state.js';
import type { FloatArray } from '../kernels/float-array.js';

/**
 * Options of a stack: `layers` engines alike, or one options object per layer.
 *
 * @example
 * ```ts
 * import { createAttentionStack } from 'attnstream';
 * import type { AttentionStackOptions } from 'attnstream';
 * const alike: AttentionStackOptions = { layers: 4, dim: 8, heads: 2 };
 * const perLayer: AttentionStackOptions = { layers: [{ dim: 8 }, { dim: 8, window: 16 }] };
 * // What every layer shares beside the list, each layer's own weights (and anything it overrides) in it.
 * const shared: AttentionStackOptions = { dim: 8, heads: 2, window: 16, sinks: 4, layers: [{}, { window: 64 }] };
 * console.log(createAttentionStack(alike).depth, createAttentionStack(perLayer).depth, createAttentionStack(shared).layer(1).options.window); // 4 2 64
 * ```
 */
export type AttentionStackOptions =
  | (AttentionOptions & {
      /** Number of layers, a positive integer; each gets the options beside it. */
      readonly layers: number;
    })
  | (Partial<AttentionOptions> & {
      /**
       * The options of each layer, in order. Options beside them (a model's `dim`, `heads`,
       * `window`, `positions`, a thread pool …) apply to every layer that does not set its own (a
       * layer's option left `undefined` is not set); each layer's, shared ones added, must be
       * options `createAttention` takes.
       */
      readonly layers: readonly Partial<AttentionOptions>[];
    });

/**
 * Per-layer cache figures and their sums.
 *
 * @example
 * ```ts
 * import { createAttentionStack } from 'attnstream';
 * const stack = createAttentionStack({ layers: 3, dim: 2, blockSize: 4 });
 * for (let i = 0; i < stack.depth; i++) stack.layer(i).pushMany([[1, 0], [0, 1]]);
 * const { layers, total } = stack.fork().stats();
 * console.log(layers.length, total); // 3 { blocks: 3, bytes: 192, sharedBlocks: 3 }
 * ```
 */
export interface StackStats {
  /** The {@link CacheStats} of each layer, in layer order. */
  readonly layers: readonly CacheStats[];
  /** Sums over the layers. */
  readonly total: {
    /** Blocks held, as {@link CacheStats.blocks}. */
    readonly blocks: number;
    /** Bytes allocated, as {@link CacheStats.bytes}. */
    readonly bytes: number;
    /** Blocks shared with a fork, as {@link CacheStats.sharedBlocks}. */
    readonly sharedBlocks: number;
  };
}

/**
 * The KV caches of a whole decoder: one engine per layer, forked, truncated and saved together so
 * no layer can drift from the others. Push through `layer(i)` as the model's forward pass goes.
 *
 * @example
 * ```ts
 * import { createAttentionStack, restoreAttentionStack } from 'attnstream';
 * import type { Vector } from 'attnstream';
 * const stack = createAttentionStack({ layers: 2, dim: 2 });
 * // One forward pass: each layer's output is the next layer's input.
 * const forward = (x: Vector): Vector => {
 *   let h = x;
 *   for (let i = 0; i < stack.depth; i++) h = stack.layer(i).push(h)[0]!.output;
 *   return h;
 * };
 * forward([1, 0]);
 * forward([0, 1]);
 * const saved = stack.snapshot();
 * const first = forward([1, 1]);
 * stack.truncate(2); // every layer back to two tokens
 * const again = forward([1, 1]); // the same numbers as first
 * console.log(stack.length, restoreAttentionStack(saved).length); // 3 2
 * ```
 */
export interface AttentionStack<Output extends FloatArray = FloatArray> {
  /** Number of layers. */
  readonly depth: number;
  /** Tokens every layer holds (the smallest layer length while a token is half-way through). */
  readonly length: number;
  /** Whether every layer was disposed ({@link AttentionStack.dispose}); its forks live on. */
  readonly disposed: boolean;
  /** The engine of layer `i`. @throws AttentionError OUT_OF_RANGE for a layer that does not exist. */
  layer(i: number): Attention<Output>;
  /** All layers forked together, copy-on-write. @throws AttentionError LAYER_MISMATCH mid-token; DISPOSED when a layer was disposed. */
  fork(): AttentionStack<Output>;
  /**
   * All layers rolled back to `n` tokens, or none: every layer is checked before any changes.
   * Mid-token (the layers hold different numbers of tokens, as after a layer refused its input)
   * any `n` every layer holds is accepted: that is how a failed forward pass is undone.
   * @throws AttentionError LAYER_MISMATCH for an `n` past a layer's length mid-token; OUT_OF_RANGE or EVICTED as {@link Attention.truncate};
   *   DISPOSED when a layer was disposed.
   */
  truncate(n: number): void;
  /**
   * Every layer in one safetensors file, tensor names prefixed `layers.<i>.`; with
   * `{ weights: false }` without the layers' weights (see {@link Attention.snapshot}).
   * @throws AttentionError LAYER_MISMATCH mid-token; INVALID_ARGUMENT and OUT_OF_RANGE as
   *   {@link Attention.snapshot}; DISPOSED when a layer was disposed.
   */
  snapshot(options?: SnapshotOptions): ReturnType<Uint8Array['slice']>;
  /** Each layer's {@link CacheStats} and their sums. */
  stats(): StackStats;
  /** Empties every layer. @throws AttentionError DISPOSED when a layer was disposed (then no layer changes). */
  reset(): void;
  /** Releases every layer. */
  dispose(): void;
}

/**
 * Creates one engine per layer.
 *
 * @throws AttentionError INVALID_OPTION for a bad `layers` or layer options; DIMENSION_MISMATCH or
 *   NON_FINITE for a layer's weights, as {@link createAttention}, naming the layer (`details.layer`,
 *   and ` (layers[i])` after the message). A refusal leaves nothing behind: the layers made before
 *   the refused one give their weights' memory back at once.
 * @example
 * ```ts
 * import { createAttentionStack } from 'attnstream';
 * const stack = createAttentionStack({ layers: 2, dim: 4 });
 * let h = [1, 0, 0, 1];
 * for (let i = 0; i < stack.depth; i++) h = Array.from(stack.layer(i).push(h)[0]!.output);
 * const beam = stack.fork(); // both layers share their prefix with the original
 * ```
 */
export function createAttentionStack(options: AttentionStackOptions & Float64Precision & { readonly layers: number | readonly (Partial<AttentionOptions> & Partial<Float64Precision>)[] }): AttentionStack<Float64Array>;
export function createAttentionStack(options: AttentionStackOptions & Float32Precision & { readonly layers: number | readonly (Partial<AttentionOptions> & Float32Precision)[] }): AttentionStack<Float32Array>;
export function createAttentionStack(options: AttentionStackOptions): AttentionStack;
export function createAttentionStack(options: AttentionStackOptions): AttentionStack {
  const engines: AttentionEngine[] = [];
  try {
    for (const [i, o] of layerOptions(options).entries()) {
      try {
        engines.push(createAttention(o) as AttentionEngine);
      } catch (error) {
        if (!(error instanceof AttentionError)) throw error;
        throw placedError(error, `layers[${i}]`, { layer: i });
      }
    }
  } catch (error) {
    // Not left to the garbage collector: a model's layers hold megabytes of weights each.
    for (const engine of engines) engine.dispose();
    throw error;
  }
  return new EngineStack(engines);
}

/** The most layers a stack holds (made, or read from a file): past any model, and a bound a corrupt count cannot exceed. */
export const MAX_LAYERS = 4096;

/**
 * Each layer's options from a stack's: `layers` copies of the shared ones, or the list given.
 *
 * @throws AttentionError INVALID_OPTION for options that are not an object or a bad `layers`.
 */
export function layerOptions(options: AttentionStackOptions): AttentionOptions[] {
  if (options === null || typeof options !== 'object') {
    throw new AttentionError('INVALID_OPTION', 'option options must be an object { layers, …the options of each layer }', { field: 'options' });
  }
  const { layers, ...shared } = options as { layers: unknown } & AttentionOptions;
  let perLayer: AttentionOptions[];
  if (Array.isArray(layers)) {
    // Options beside the list (a model's sizes, its window, a thread pool) go to every layer that
    // does not set its own: a real model's layers differ in their weights alone.
    // Array.from, not map: a hole in the list is read as undefined (and refused), not skipped.
    perLayer = Array.from(layers as unknown[], (layer, i) => {
      if (layer === null || typeof layer !== 'object') {
        throw new AttentionError('INVALID_OPTION', `option layers: layer ${i} must be an options object, got ${describeValue(layer)}`, { field: 'layers', element: i });
      }
      // A layer's key left undefined is not set (as createAttention reads it), so it keeps the shared choice.
      const own = Object.entries(layer).filter(([, value]) => value !== undefined);
      return { ...shared, ...(Object.fromEntries(own) as AttentionOptions) };
    });
  } else if (typeof layers === 'number' && Number.isInteger(layers) && layers >= 1) {
    if (layers > MAX_LAYERS) throw new AttentionError('INVALID_OPTION', `option layers must be at most ${MAX_LAYERS}, got ${layers}`, { field: 'layers' });
    perLayer = Array.from({ length: layers }, () => shared);
  } else {
    throw new AttentionError('INVALID_OPTION', `option layers must be a positive integer or an array of layer options, got ${describeValue(layers)}`, { field: 'layers' });
  }
  if (perLayer.length === 0) throw new AttentionError('INVALID_OPTION', 'option layers must hold at least one layer', { field: 'layers' });
  if (perLayer.length > MAX_LAYERS) throw new AttentionError('INVALID_OPTION', `option layers must hold at most ${MAX_LAYERS} layers, got ${perLayer.length}`, { field: 'layers' });
  return perLayer;
}

/** The stack behind {@link AttentionStack}; internal, so restore can build one from engines. */
export class EngineStack implements AttentionStack {
  private readonly engines: readonly AttentionEngine[];
  /** Set by {@link EngineStack.dispose} before its first layer goes: a layer's listener may call the stack while the others are still live. */
  private disposing = false;

  constructor(engines: readonly AttentionEngine[]) {
    this.engines = engines;
  }

  get depth(): number {
    return this.engines.length;
  }

  get length(): number {
    // A loop, not Math.min over a mapped array: a generation loop reads it every token.
    let least = Infinity;
    for (const engine of this.engines) least = Math.min(least, engine.length);
    return least;
  }

  get disposed(): boolean {
    return this.engines.every((e) => e.disposed);
  }

  layer(i: number): Attention {
    // Integer first: indexing with anything else converts it to a key, running its toString.
    const engine = Number.isInteger(i) ? this.engines[i] : undefined;
    if (engine === undefined) {
      throw new AttentionError('OUT_OF_RANGE', `layer: expected an integer from 0 to ${this.engines.length - 1}, got ${describeValue(i)}`, { field: 'layer', expected: `0..${this.engines.length - 1}`, actual: shownValue(i) });
    }
    return engine;
  }

  fork(): AttentionStack {
    this.assertLive('fork');
    this.assertAligned('fork');
    return new EngineStack(AttentionEngine.together(this.engines, () => this.engines.map((e) => e.fork() as AttentionEngine)));
  }

  truncate(n: number): void {
    this.assertLive('truncate');
    // Half-way through a token (a layer refused its input, say) the layers may differ; going back
    // to a length every layer holds is how to recover, so only a longer n needs them aligned.
    if (!(typeof n === 'number' && n <= this.length)) this.assertAligned('truncate');
    this.engines.forEach((engine, i) => {
      const refusal = engine.truncationRefusal(n);
      // Layers may differ in their windows: the one that cannot go back is named.
      if (refusal !== null) throw placedError(refusal, `layer ${i}`, { layer: i });
    });
    // Listeners hear of it once every layer has changed: one that disposes a layer cannot stop it half-way.
    AttentionEngine.together(this.engines, () => this.engines.forEach((engine) => engine.truncate(n)));
  }

  snapshot(options: SnapshotOptions = {}): ReturnType<Uint8Array['slice']> {
    // The options first: a getter in them may change the layers, which the checks then see.
    const { withWeights, metadata: user } = snapshotChoices(options);
    this.assertLive('snapshot');
    this.assertAligned('snapshot');
    const tensors = {};
    const metadata: Record<string, string> = {};
    this.engines.forEach((engine, i) => {
      const state = engine.state(`layers.${i}.`, withWeights);
      Object.assign(tensors, state.tensors);
      Object.assign(metadata, state.metadata);
    });
    const version = snapshotVersion(this.engines.map((e) => e.options), withWeights, tensors);
    return encodeSafetensors(tensors, { format: STACK_FORMAT, version, layers: String(this.engines.length), ...metadata, ...user });
  }

  stats(): StackStats {
    const layers = this.engines.map((e) => e.stats());
    const total = { blocks: 0, bytes: 0, sharedBlocks: 0 };
    for (const s of layers) {
      total.blocks += s.blocks;
      total.bytes += s.bytes;
      total.sharedBlocks += s.sharedBlocks;
    }
    return { layers, total };
  }

  reset(): void {
    this.assertLive('reset');
    AttentionEngine.together(this.engines, () => this.engines.forEach((engine) => engine.reset()));
  }

  dispose(): void {
    for (const engine of this.engines) engine.assertIdle('dispose');
    this.disposing = true;
    for (const engine of this.engines) engine.dispose();
  }

  /**
   * Refuses before any layer changes when a layer's cache was released (the stack's or its own
   * dispose), or while a layer reads a call's inputs (a getter in them calling the stack).
   */
  private assertLive(operation: string): void {
    for (const engine of this.engines) engine.assertIdle(operation);
    const dead = this.engines.findIndex((e) => e.disposed);
    if (dead < 0) return;
    const why = this.disposing || this.disposed ? 'the stack was disposed' : `layer ${dead} was disposed on its own`;
    throw new AttentionError('DISPOSED', `${operation}: ${why}; create or restore a new stack`, { field: operation });
  }

  private assertAligned(operation: string): void {
    const lengths = this.engines.map((e) => e.length);
    if (lengths.some((n) => n !== lengths[0])) {
      throw new AttentionError(
        'LAYER_MISMATCH',
        `${operation}: the layers hold different numbers of tokens (${lengths.map((n, i) => `layer ${i}: ${n}`).join(', ')}); finish the token in every layer first, or truncate to at most ${Math.min(...lengths)}`,
        { field: 'layers' },
      );
    }
  }
}
