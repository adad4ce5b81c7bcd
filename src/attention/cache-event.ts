/**
 * What happened to an engine's cache. `length` is the stream length after the event.
 *
 * - `append`: token `position` was cached.
 * - `evict`: positions `[from, to)` left the cache (out of the window), `blocks` blocks released.
 * - `fork`: a fork now shares this cache's blocks.
 * - `truncate`: rolled back from `from` tokens to `length`.
 * - `reset`: emptied. `dispose`: released for good.
 */
export type CacheEvent =
  | { readonly type: 'append'; readonly position: number; readonly length: number }
  | { readonly type: 'evict'; readonly from: number; readonly to: number; readonly blocks: number; readonly length: number }
  | { readonly type: 'fork'; readonly length: number }
  | { readonly type: 'truncate'; readonly from: number; readonly length: number }
  | { readonly type: 'reset'; readonly length: number }
  | { readonly type: 'dispose'; readonly length: number };

/** Receives {@link CacheEvent}s synchronously, in order. */
export type CacheListener = (event: CacheEvent) => void;
