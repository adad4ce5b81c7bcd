/** What a cache holds and what it costs. */
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
  /** Bytes of key, value and query storage allocated: blocks held plus free blocks kept for reuse. */
  readonly bytes: number;
  /** Blocks held that another fork holds too (copied on the next write into them). */
  readonly sharedBlocks: number;
}
