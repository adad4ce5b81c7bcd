/**
 * What happened to an engine's cache. `length` is the stream length after the event.
 *
 * - `append`: token `position` was cached.
 * - `evict`: positions `[from, to)` left the cache (out of the window), `blocks` blocks released.
 * - `fork`: a fork now shares this cache's blocks.
 * - `truncate`: rolled back from `from` tokens to `length`.
 * - `reset`: emptied. `dispose`: released for good.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import type { CacheEvent } from 'attnstream';
 * const attn = createAttention({ dim: 1, window: 2, blockSize: 1 });
 * const events: CacheEvent[] = [];
 * attn.addCacheListener((event) => events.push(event));
 * for (const x of [[1], [2], [3]]) attn.push(x);
 * for (const event of events) if (event.type === 'evict') console.log(event.from, event.to, event.blocks);
 * // 0 1 1, then 1 2 1: once token t is cached, the next query (t + 1) no longer reaches token t − 1
 * // (a prompt, pushMany([[1], [2], [3]]), releases them together once it is in: 0 2 2)
 * ```
 */
export type CacheEvent =
  | {
      /** Token `position` was cached. */
      readonly type: 'append';
      /** The token's 0-based stream position. */
      readonly position: number;
      /** Stream length after the event. */
      readonly length: number;
    }
  | {
      /** Positions `[from, to)` left the cache (out of the window). */
      readonly type: 'evict';
      /** First position evicted. */
      readonly from: number;
      /** One past the last position evicted. */
      readonly to: number;
      /** Cache blocks released. */
      readonly blocks: number;
      /** Stream length after the event. */
      readonly length: number;
    }
  | {
      /** A fork now shares this cache's blocks. */
      readonly type: 'fork';
      /** Stream length after the event. */
      readonly length: number;
    }
  | {
      /** Rolled back from `from` tokens to `length`. */
      readonly type: 'truncate';
      /** Stream length before the event. */
      readonly from: number;
      /** Stream length after the event. */
      readonly length: number;
    }
  | {
      /** Emptied. */
      readonly type: 'reset';
      /** Stream length after the event: 0. */
      readonly length: number;
    }
  | {
      /** Released for good. */
      readonly type: 'dispose';
      /** Stream length after the event: 0. */
      readonly length: number;
    };

/**
 * Receives {@link CacheEvent}s synchronously, in order.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import type { CacheListener } from 'attnstream';
 * const log: CacheListener = (event) => console.log(event.type, event.length);
 * const attn = createAttention({ dim: 1 });
 * const stop = attn.addCacheListener(log);
 * attn.push([1]); // logs: append 1
 * stop();
 * attn.push([2]); // logs nothing
 * ```
 */
export type CacheListener = (event: CacheEvent) => void;
