import { Observable } from 'rxjs';
import type { Attention, CacheEvent } from '../attention/index.js';
import { AttentionError } from '../errors.js';

/**
 * The cache events of `engine` as an Observable, so a UI can show memory and evictions live.
 *
 * 1. Subscribing adds a cache listener; each event (append, evict, fork, truncate, reset,
 *    dispose) is emitted synchronously, while the engine call that caused it is still running, so
 *    `engine.stats()` read in a subscriber already reflects it.
 * 2. Only events after subscription are seen; each subscriber has its own listener.
 * 3. The `dispose` event is emitted and then the stream completes: a disposed engine has no more.
 *    Subscribing to an engine already disposed errors the subscription with AttentionError
 *    DISPOSED (field `cacheEvents`): its events are past, and completing at once would make
 *    `take(1)` + `repeat()` resubscribe for ever (a stack overflow) once the engine is disposed.
 * 4. Unsubscribing removes the listener; the engine is not touched otherwise.
 *
 * @throws AttentionError INVALID_ARGUMENT at once when `engine` has no `addCacheListener`. The
 *   subscription errors with DISPOSED when the engine is disposed by then.
 * @example
 * ```ts
 * import { filter } from 'rxjs';
 * import { createAttention } from 'attnstream';
 * import { cacheEvents } from 'attnstream/rx';
 * const engine = createAttention({ dim: 8, window: 256, blockSize: 64 });
 * cacheEvents(engine)
 *   .pipe(filter((event) => event.type === 'evict'))
 *   .subscribe(() => console.log(`${engine.stats().bytes} bytes after eviction`));
 * ```
 */
export function cacheEvents(engine: Pick<Attention, 'addCacheListener'> & Partial<Pick<Attention, 'disposed'>>): Observable<CacheEvent> {
  if (engine === null || typeof engine !== 'object' || typeof engine.addCacheListener !== 'function') {
    throw new AttentionError('INVALID_ARGUMENT', 'cacheEvents: expected an attention engine (with addCacheListener)', { field: 'engine' });
  }
  return new Observable<CacheEvent>((subscriber) => {
    // Its dispose event is past: listening would wait for ever, and completing at once sent
    // take(1) + repeat() round for ever; an error stops the repeat and says why.
    if (engine.disposed === true) {
      subscriber.error(new AttentionError('DISPOSED', 'cacheEvents: this engine was disposed, so it has no more events (subscribe before disposing it; its dispose event ends the stream)', { field: 'cacheEvents' }));
      return undefined;
    }
    return engine.addCacheListener((event) => {
      subscriber.next(event);
      if (event.type === 'dispose') subscriber.complete();
    });
  });
}
