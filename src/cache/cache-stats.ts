/**
 * What a cache holds and what it costs.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * const attn = createAttention({ dim: 2, window: 8, blockSize: 4 });
 * for (let t = 0; t < 20; t++) attn.push([1, t / 20]);
 * const { tokens, retained, blocks } = attn.stats();
 * console.log(tokens, retained, blocks); // 20 8 2: the window's 8 keys fill two blocks of 4
 * console.log(attn.fork().stats().sharedBlocks); // 2: a fork copies a block only when written into
 * ```
 */
export interface CacheStats {
  /** Tokens appended so far (the stream length). */
  readonly tokens: number;
  /**
   * Positions whose keys are still held: every slot filled so far in the blocks held, so the sinks
   * and the window rounded out to whole blocks (all tokens without a window).
   */
  readonly retained: number;
  /** Blocks this cache holds. */
  readonly blocks: number;
  /** Tokens per block. */
  readonly blockSize: number;
  /** Token slots in the blocks held plus the free blocks kept for reuse. */
  readonly capacity: number;
  /**
   * Bytes of key, value and query storage allocated: blocks held plus free blocks kept for reuse.
   * A block shared with forks counts in every engine that holds it, so a sum over forks counts it
   * once per holder (`sharedBlocks` says how many of an engine's blocks are shared).
   */
  readonly bytes: number;
  /** Blocks held that another fork holds too (copied on the next write into them). */
  readonly sharedBlocks: number;
}
