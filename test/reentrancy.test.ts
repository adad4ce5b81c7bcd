import { describe, expect, it } from 'vitest';
import { AttentionError, createAttention } from '../src/index.js';
import type { CacheEvent } from '../src/index.js';

const token = (i: number) => [Math.cos(i), Math.sin(i)];

describe('cache listeners', () => {
  it('hear an event if they listened when it happened and were not removed before their turn, as a DOM event dispatch', () => {
    const engine = createAttention({ dim: 2 });
    const heard: string[] = [];
    let stopB: (() => void) | null = null;
    const b = (e: CacheEvent) => heard.push(`b${e.length}`);
    engine.addCacheListener((e) => {
      heard.push(`a${e.length}`);
      // Added during the first event: hears from the second on.
      if (e.length === 1) stopB = engine.addCacheListener(b);
      // Removed during the third event, before its turn: misses it.
      if (e.length === 3) stopB!();
    });
    for (let i = 0; i < 3; i++) engine.push(token(i));
    expect(heard).toEqual(['a1', 'a2', 'b2', 'a3']);
  });

  it('hear each event once even when one removes and adds itself again while hearing it', () => {
    const engine = createAttention({ dim: 2 });
    let heard = 0;
    const listener = () => {
      heard++;
      stop();
      // A guard, so that the defect (the event heard again, for ever) fails rather than hangs.
      if (heard < 10) stop = engine.addCacheListener(listener);
    };
    let stop = engine.addCacheListener(listener);
    engine.push(token(0));
    expect(heard).toBe(1);
    engine.push(token(1));
    expect(heard).toBe(2);
  });

  it('must be functions: anything else is refused when added, not when the next event fails', () => {
    const engine = createAttention({ dim: 2 });
    for (const listener of [null, undefined, 3, {}, 'listener']) {
      const refusal = (() => {
        try {
          engine.addCacheListener(listener as never);
        } catch (e) {
          return e;
        }
        return null;
      })();
      expect(refusal).toBeInstanceOf(AttentionError);
      expect(refusal).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'listener' } });
    }
    expect(engine.push(token(0))).toHaveLength(1);
  });
});
