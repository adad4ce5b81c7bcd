import { PagedKVCache } from '../cache/paged-kv-cache.js';
import { kernelArena } from './kernel-arena.js';
import type { ResolvedOptions } from './options.js';

/**
 * An empty cache laid out for `o`: in the kernels' memory when they run, with room for queries
 * under look-ahead, and for an int8 cache the float keys that keep `truncate(length − k)` exact for
 * every k ≤ retain + lookahead.
 */
export function newCache(o: ResolvedOptions): PagedKVCache {
  const int8 = o.cacheDtype === 'int8';
  return new PagedKVCache({
    kvHeads: o.kvHeads,
    headDim: o.headDim,
    queryWidth: o.lookahead > 0 ? o.heads * o.headDim : 0,
    blockSize: o.blockSize,
    Float: o.Float,
    int8,
    exactReach: int8 ? o.retain + o.lookahead : 0,
    arena: kernelArena(o),
  });
}
