import type { AsyncIncrementalAttention, Awaitable, IncrementalAttention } from './incremental-attention.js';

/**
 * What {@link checkCacheLaws} needs of an implementation: push/flush plus the cache operations of
 * the core's `Attention`, which fits as it is. `snapshot` and `dispose` are checked when present.
 *
 * @example
 * ```ts
 * import { createAttention, restoreAttention } from 'attnstream';
 * import type { AttentionOptions } from 'attnstream';
 * import { checkCacheLaws } from 'attnstream/testing';
 * import type { CachedAttention } from 'attnstream/testing';
 * // The core's engine is a CachedAttention as it is; its snapshots are bytes.
 * const factory = (options: AttentionOptions): CachedAttention<Uint8Array> => createAttention(options);
 * checkCacheLaws(factory, { numRuns: 20, restore: (bytes) => restoreAttention(bytes) });
 * ```
 */
export interface CachedAttention<Snapshot = unknown> extends IncrementalAttention {
  /** Tokens held. */
  readonly length: number;
  /** An independent engine with the same history. */
  fork(): CachedAttention<Snapshot>;
  /** Rolls back to the first `n` tokens; may refuse (throw) only when a window evicted what they need. */
  truncate(n: number): void;
  /** The state, for `restore` in {@link CheckCacheLawsParameters}. */
  readonly snapshot?: (() => Snapshot) | undefined;
  /** Releases the engine; the others (forks included) must go on unaffected. */
  readonly dispose?: (() => void) | undefined;
}

/**
 * What {@link checkCacheLawsAsync} needs of an implementation: {@link CachedAttention} whose calls
 * may return promises. The check awaits each call before it makes the next (a `length` read too);
 * a synchronous implementation fits as well.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import type { AttentionOptions, Attention } from 'attnstream';
 * import { checkCacheLawsAsync } from 'attnstream/testing';
 * import type { AsyncCachedAttention } from 'attnstream/testing';
 * // The core engine behind a promise per call.
 * function answeringLater(engine: Attention): AsyncCachedAttention {
 *   return {
 *     get length() { return engine.length; },
 *     push: async (x) => engine.push(x),
 *     flush: async () => engine.flush(),
 *     fork: async () => answeringLater(engine.fork()),
 *     truncate: async (n) => engine.truncate(n),
 *     dispose: async () => engine.dispose(),
 *   };
 * }
 * await checkCacheLawsAsync((options: AttentionOptions) => answeringLater(createAttention(options)), { numRuns: 20 });
 * ```
 */
export interface AsyncCachedAttention<Snapshot = unknown> extends AsyncIncrementalAttention {
  /** Tokens held. */
  readonly length: number;
  /** An independent engine with the same history. */
  fork(): Awaitable<AsyncCachedAttention<Snapshot>>;
  /** Rolls back to the first `n` tokens; may refuse (throw or reject) only when a window evicted what they need. */
  truncate(n: number): Awaitable<void>;
  /** The state, for `restore` in {@link CheckCacheLawsAsyncParameters}. */
  readonly snapshot?: (() => Awaitable<Snapshot>) | undefined;
  /** Releases the engine; the others (forks included) must go on unaffected. */
  readonly dispose?: (() => Awaitable<void>) | undefined;
}
