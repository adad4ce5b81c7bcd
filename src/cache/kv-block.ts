import type { FloatArray } from '../kernels/index.js';

/**
 * A page of the cache: `blockSize` token slots. Within a block each kv head's rows are contiguous:
 * the key of slot s for kv head g starts at `(g·blockSize + s)·headDim`, so attending one head reads
 * one run of memory.
 */
export interface KVBlock {
  readonly keys: FloatArray;
  readonly values: FloatArray;
  /** Query rows `[s·queryWidth …]`, kept only when outputs wait for look-ahead tokens. */
  readonly queries: FloatArray | null;
  /** How many caches (forks) hold this block. A block with refs > 1 is copied before a write. */
  refs: number;
}
