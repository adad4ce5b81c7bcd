import { firstValueFrom, map, repeat, take, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { AttentionError, createAttention } from '../../src/index.js';
import type { Attention, CacheEvent } from '../../src/index.js';
import { cacheEvents } from '../../src/rx/index.js';

const token = (i: number) => [Math.cos(i), Math.sin(i)];

function listened(engine: Attention): CacheEvent[] {
  const events: CacheEvent[] = [];
  engine.addCacheListener((event) => events.push(event));
  return events;
}

describe('cacheEvents', () => {
  it('emits the same events, in the same order, as a cache listener, and completes on dispose', async () => {
    const engine = createAttention({ dim: 2, window: 3, blockSize: 2 });
    const expected = listened(engine);
    const all = firstValueFrom(cacheEvents(engine).pipe(toArray()));
    for (let i = 0; i < 9; i++) engine.push(token(i));
    engine.fork().dispose();
    engine.truncate(8);
    engine.reset();
    engine.dispose();
    const events = await all;
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['append', 'evict', 'fork', 'truncate', 'reset', 'dispose']));
    expect(events).toEqual(expected);
    expect(events.at(-1)).toEqual({ type: 'dispose', length: 0 });
  });

  it('sees evictions live: stats read in the subscriber already reflect each event', () => {
    const engine = createAttention({ dim: 2, window: 4, blockSize: 2 });
    const retained: [string, number][] = [];
    cacheEvents(engine)
      .pipe(map((event) => [event.type, engine.stats().retained] as [string, number]))
      .subscribe((entry) => retained.push(entry));
    for (let i = 0; i < 8; i++) engine.push(token(i));
    // Blocks of 2, window 4: the cache never holds more than the window plus one partly used block.
    expect(Math.max(...retained.map(([, r]) => r))).toBeLessThanOrEqual(6);
    expect(retained.filter(([type]) => type === 'evict').length).toBeGreaterThan(0);
    expect(retained.filter(([type]) => type === 'append').map(([, r]) => r).slice(0, 4)).toEqual([1, 2, 3, 4]);
  });

  it('only sees events after subscription; unsubscribing removes its listener', () => {
    const engine = createAttention({ dim: 2 });
    engine.push(token(0));
    const seen: CacheEvent[] = [];
    const subscription = cacheEvents(engine).subscribe((event) => seen.push(event));
    engine.push(token(1));
    subscription.unsubscribe();
    engine.push(token(2));
    expect(seen).toEqual([{ type: 'append', position: 1, length: 2 }]);
  });

  it('each subscriber has its own listener', () => {
    const engine = createAttention({ dim: 2 });
    const first: CacheEvent[] = [];
    const second: CacheEvent[] = [];
    cacheEvents(engine).subscribe((e) => first.push(e));
    const events = cacheEvents(engine);
    events.subscribe((e) => second.push(e));
    engine.push(token(0));
    expect(first).toEqual(second);
    expect(first).toHaveLength(1);
  });

  it('errors with DISPOSED on an engine already disposed (its dispose event is past), and waits on its live fork', async () => {
    const engine = createAttention({ dim: 2 });
    engine.push(token(0));
    engine.dispose();
    const error = await firstValueFrom(cacheEvents(engine).pipe(toArray())).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AttentionError);
    expect(error).toMatchObject({ code: 'DISPOSED', details: { field: 'cacheEvents' }, message: expect.stringMatching(/^cacheEvents: this engine was disposed/) });
    const fork = createAttention({ dim: 2 });
    const live = fork.fork();
    fork.dispose();
    // Its fork is not disposed: its stream waits for its own events.
    const events = firstValueFrom(cacheEvents(live).pipe(toArray()));
    live.push(token(1));
    live.dispose();
    expect((await events).map((e) => e.type)).toEqual(['append', 'dispose']);
  });

  it('take(1) + repeat() hears the dispose event, then stops with DISPOSED instead of resubscribing for ever (an audit: a stack overflow)', () => {
    const engine = createAttention({ dim: 2 });
    const seen: string[] = [];
    let error: unknown;
    const subscription = cacheEvents(engine)
      .pipe(take(1), repeat())
      .subscribe({ next: (event) => seen.push(event.type), error: (e: unknown) => (error = e) });
    engine.push(token(0));
    engine.dispose();
    expect(seen).toEqual(['append', 'dispose']);
    expect(error).toMatchObject({ code: 'DISPOSED', details: { field: 'cacheEvents' } });
    expect(subscription.closed).toBe(true);
  });

  it('refuses something that is not an engine at once', () => {
    expect(() => cacheEvents({} as Attention)).toThrow(AttentionError);
  });
  it('hands each event once to take(1) + repeat(): the subscription made while an event is delivered waits for the next one', () => {
    const engine = createAttention({ dim: 2 });
    const seen: number[] = [];
    const subscription = cacheEvents(engine)
      .pipe(take(1), repeat())
      .subscribe((event) => {
        seen.push(event.length);
        // A guard, so that the defect (this event delivered again, for ever) fails rather than hangs.
        if (seen.length > 10) subscription.unsubscribe();
      });
    for (let i = 0; i < 3; i++) engine.push(token(i));
    subscription.unsubscribe();
    expect(seen).toEqual([1, 2, 3]);
  });

  it('does not show a subscription made inside another subscriber the event being delivered', () => {
    const engine = createAttention({ dim: 2 });
    const inner: number[] = [];
    cacheEvents(engine).subscribe((event) => {
      if (event.length === 1) cacheEvents(engine).subscribe((e) => inner.push(e.length));
    });
    engine.push(token(0));
    engine.push(token(1));
    expect(inner).toEqual([2]);
  });
});
