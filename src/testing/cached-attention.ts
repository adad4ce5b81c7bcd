import type { IncrementalAttention } from './incremental-attention.js';

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
  snapshot?(): Snapshot;
  /** Releases the engine; the others (forks included) must go on unaffected. */
  dispose?(): void;
}
