import type { CacheEvent, CacheListener } from './cache-event.js';

// Present in browsers and Node; declared here because the core compiles against plain ES2022.
declare function queueMicrotask(callback: () => void): void;

/** One {@link CacheEventDispatch.add}'s listener, told apart from the same function added again later. */
interface Registration {
  readonly listener: CacheListener;
}

/**
 * An engine's cache events on their way to its listeners. As a DOM event's dispatch: an event goes
 * to the registrations of the moment it happened, less those removed before their turn (iterating
 * the live set, a listener added by another, as `cacheEvents` under `take(1)` + `repeat()` does,
 * would hear the same event again, for ever). An event that happens while listeners run (one
 * pushes, say) or while delivery is deferred ({@link CacheEventDispatch.together}) waits until the
 * events before it have reached everyone, so every listener hears them in order.
 */
export class CacheEventDispatch {
  /**
   * Each listener's registration, by the function: a function stopped and added again is a new
   * registration, which hears only events that happen after it.
   */
  private readonly listeners = new Map<CacheListener, Registration>();
  /** Events waiting for their listeners, in the order they happened, each with the registrations of that moment. */
  private readonly pending: { readonly event: CacheEvent; readonly to: readonly Registration[] }[] = [];
  /** While listeners run: an event that happens meanwhile waits its turn. */
  private delivering = false;
  /** How many {@link CacheEventDispatch.together}s (which may nest) hold these events back. */
  private deferrals = 0;
  /** Set by {@link CacheEventDispatch.close}: the listeners go once the events sent have reached them. */
  private closing = false;

  /** Whether any listener would hear an event now: without one, an engine need not make its events. */
  get heard(): boolean {
    return this.listeners.size > 0;
  }

  /** Registers `listener` for the events that happen from now on; returns the function that stops it. */
  add(listener: CacheListener): () => void {
    let registration = this.listeners.get(listener);
    if (registration === undefined) this.listeners.set(listener, (registration = { listener }));
    const added = registration;
    return () => {
      if (this.listeners.get(listener) === added) this.listeners.delete(listener);
    };
  }

  /** Sends `event` to the listeners of this moment, now or, while delivery waits, in its turn. */
  send(event: CacheEvent): void {
    if (this.listeners.size === 0) return;
    this.pending.push({ event, to: [...this.listeners.values()] });
    this.deliver();
  }

  /** No listener hears events sent after this; those sent before still reach theirs (the last is `dispose`). */
  close(): void {
    this.closing = true;
    if (this.pending.length === 0) this.listeners.clear();
  }

  /**
   * Runs `change` (which must not throw half-way) with the events of `dispatches` held until it
   * has run (and any enclosing `together` ends), then sends each one's in order: a listener, which
   * may dispose an engine or push into one, cannot stop a change of several engines (or of one
   * engine's several events, a prompt's) part-way or hear of a later change before an earlier one.
   */
  static together<T>(dispatches: readonly CacheEventDispatch[], change: () => T): T {
    for (const dispatch of dispatches) dispatch.deferrals++;
    try {
      return change();
    } finally {
      for (const dispatch of dispatches) dispatch.deferrals--;
      for (const dispatch of dispatches) dispatch.deliver();
    }
  }

  /**
   * Sends the pending events in the order they happened. Listeners run synchronously, but an
   * exception from one is rethrown on a fresh task rather than here: the engine's state is already
   * final, and a throwing observer must not turn a successful change into a half-finished one.
   */
  private deliver(): void {
    if (this.delivering || this.deferrals > 0) return;
    this.delivering = true;
    for (let i = 0; i < this.pending.length; i++) {
      const { event, to } = this.pending[i]!;
      for (const registration of to) {
        if (this.listeners.get(registration.listener) !== registration) continue;
        try {
          registration.listener(event);
        } catch (e) {
          queueMicrotask(() => {
            throw e;
          });
        }
      }
    }
    this.pending.length = 0;
    this.delivering = false;
    if (this.closing) this.listeners.clear();
  }
}
