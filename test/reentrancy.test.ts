import { describe, expect, it } from 'vitest';
import { AttentionError, createAttention, createAttentionStack, createCrossAttention, createLinear, pushEach, restoreAttention } from '../src/index.js';
import type { Attention, AttentionStack, CacheEvent } from '../src/index.js';

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

  it('stopped and added again (the same function), are a new listener: it does not hear the event it was stopped for', () => {
    // Found by a review: the delivery went by the function, so the event reached it after all.
    const engine = createAttention({ dim: 2 });
    const heard: string[] = [];
    const b = (e: CacheEvent) => heard.push(`b${e.length}`);
    let stopB = () => {};
    engine.addCacheListener((e) => {
      if (e.length !== 1) return;
      stopB();
      stopB = engine.addCacheListener(b);
    });
    stopB = engine.addCacheListener(b);
    engine.addCacheListener((e) => heard.push(`a${e.length}`));
    engine.push(token(0));
    engine.push(token(1));
    expect(heard).toEqual(['a1', 'a2', 'b2']);
    // A stale stopper does not stop the new registration.
    const stale = engine.addCacheListener(b);
    stopB();
    stale();
    engine.push(token(2));
    expect(heard.at(-1)).toBe('a3');
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

describe('events of several changes', () => {
  it('reach every listener in the order they happened, when a listener pushes into the engine it hears', () => {
    const engine = createAttention({ dim: 2 });
    const heard: string[] = [];
    engine.addCacheListener((e) => {
      heard.push(`a${e.length}`);
      if (e.length === 1) engine.push(token(1));
    });
    engine.addCacheListener((e) => heard.push(`b${e.length}`));
    engine.push(token(0));
    // Before, the second push's event reached both listeners before b heard of the first.
    expect(heard).toEqual(['a1', 'b1', 'a2', 'b2']);
  });

  it('of a prompt reach every listener before those of a call a listener makes while hearing the first', () => {
    // Found by a review: only the prompt's first event was queued before listeners ran.
    for (const nested of [(e: Attention) => e.push(token(9)), (e: Attention) => e.reset()]) {
      const engine = createAttention({ dim: 2 });
      const heard: string[] = [];
      let once = true;
      engine.addCacheListener((e) => {
        heard.push(`${e.type}${e.length}`);
        if (once) {
          once = false;
          nested(engine);
        }
      });
      engine.pushMany([token(0), token(1), token(2)]);
      expect(heard.slice(0, 3)).toEqual(['append1', 'append2', 'append3']);
      expect(heard[3]).toBe(engine.length === 0 ? 'reset0' : 'append4');
    }
  });

  it("of pushEach reach each engine's listeners in order, when a listener pushes into another engine of the call", () => {
    const root = createAttention({ dim: 2 });
    root.pushMany([token(0), token(1), token(2)]);
    const [a, b] = [root.fork(), root.fork()];
    const heardB: number[] = [];
    a.addCacheListener(() => b.push(token(9)));
    b.addCacheListener((e) => heardB.push(e.length));
    pushEach([a, b], [token(3), token(4)]);
    expect(b.length).toBe(5);
    expect(heardB).toEqual([4, 5]);
  });
});

describe("a stack's truncate, reset and fork", () => {
  const stackOf = () => {
    const stack = createAttentionStack({ layers: 2, dim: 2, precision: 'float64' });
    for (let t = 0; t < 4; t++) stack.layer(1).push(stack.layer(0).push(token(t))[0]!.output);
    return stack;
  };

  it('change every layer before any listener hears, so a listener that disposes a layer cannot stop them half-way', () => {
    for (const [type, change, lengths] of [
      ['truncate', (s: AttentionStack) => s.truncate(2), [2, 2]],
      ['reset', (s: AttentionStack) => s.reset(), [0, 0]],
    ] as const) {
      const stack = stackOf();
      const heard: number[] = [];
      stack.layer(0).addCacheListener((e) => {
        if (e.type !== type) return;
        heard.push(...[0, 1].map((l) => stack.layer(l).length));
        stack.layer(1).dispose();
      });
      // Before, layer 1's change came after layer 0's listener had disposed it: DISPOSED, with layer 0 changed.
      expect(() => change(stack)).not.toThrow();
      expect(heard).toEqual(lengths);
    }
  });

  it("called from a layer's listener while the stack is disposed are refused as calls on a disposed stack", () => {
    // A reentrancy audit: the message said layer 0 "was disposed on its own".
    const stack = stackOf();
    const refusals: unknown[] = [];
    stack.layer(0).addCacheListener((e) => {
      if (e.type !== 'dispose') return;
      for (const call of [() => stack.truncate(1), () => stack.fork(), () => stack.snapshot()]) {
        try {
          call();
        } catch (error) {
          refusals.push(error);
        }
      }
    });
    stack.dispose();
    expect(refusals).toEqual([0, 1, 2].map(() => expect.objectContaining({ code: 'DISPOSED', message: expect.stringContaining('the stack was disposed') })));
    expect(stack.disposed).toBe(true);
  });

  it('called from a getter in a layer\'s input are refused before any layer changes', () => {
    // Found by a review: the refusal came from the second layer, the first already changed.
    for (const [name, call] of [
      ['truncate', (s: AttentionStack) => s.truncate(2)],
      ['reset', (s: AttentionStack) => s.reset()],
      ['fork', (s: AttentionStack) => s.fork()],
      ['dispose', (s: AttentionStack) => s.dispose()],
    ] as const) {
      const stack = stackOf();
      const heard: string[] = [];
      stack.layer(0).addCacheListener((e) => heard.push(e.type));
      let inner: unknown = null;
      const x = [0.5, 0.5];
      Object.defineProperty(x, 1, {
        get: () => {
          try {
            call(stack);
          } catch (e) {
            inner = e;
          }
          return 0.5;
        },
      });
      stack.layer(1).push(x);
      expect(inner, name).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: name } });
      expect([stack.layer(0).length, stack.layer(1).length, stack.layer(0).disposed]).toEqual([4, 5, false]);
      expect(stack.layer(0).stats().sharedBlocks).toBe(0);
      expect(heard).toEqual([]);
    }
  });

  it('fork every layer at one length, whatever a listener of the forks does', () => {
    const stack = stackOf();
    stack.layer(0).addCacheListener((e) => {
      if (e.type === 'fork') stack.layer(1).push(token(7));
    });
    const fork = stack.fork();
    expect([fork.layer(0).length, fork.layer(1).length]).toEqual([4, 4]);
    expect(() => fork.snapshot()).not.toThrow();
  });
});

describe('an input whose getter or Proxy calls back into the engine reading it', () => {
  /** A vector whose element 1 runs `reenter` when read. */
  const trapped = (values: number[], reenter: () => void): number[] => {
    const vector = values.slice();
    Object.defineProperty(vector, 1, {
      get: () => {
        reenter();
        return values[1];
      },
    });
    return vector;
  };

  const refusalOf = (call: () => unknown): unknown => {
    try {
      call();
    } catch (e) {
      return e;
    }
    return null;
  };

  it('is refused, the engine unchanged, whichever call reads it and whatever the getter calls', () => {
    const options = { dim: 2, precision: 'float64' } as const;
    const reentries: [string, (engine: Attention) => unknown][] = [
      ['push', (e) => e.push(token(8))],
      ['pushMany', (e) => e.pushMany([token(8)])],
      ['truncate', (e) => e.truncate(1)],
      ['fork', (e) => e.fork()],
      ['reset', (e) => e.reset()],
      ['snapshot', (e) => e.snapshot()],
      ['dispose', (e) => e.dispose()],
    ];
    const calls: [string, (engine: Attention, x: number[]) => unknown][] = [
      ['push', (e, x) => e.push(x)],
      ['pushMany', (e, x) => e.pushMany([token(5), x])],
      ['pushQKV', (e, x) => e.pushQKV(token(5), x, token(6))],
      ['pushManyQKV', (e, x) => e.pushManyQKV([token(5)], [token(6)], [x])],
      ['pushEach', (e, x) => pushEach([e], [x])],
    ];
    for (const [callName, call] of calls) {
      for (const [name, reenter] of reentries) {
        const engine = createAttention(options);
        engine.pushMany([token(0), token(1)]);
        const before = engine.snapshot();
        let inner: unknown = null;
        const x = trapped(token(3), () => {
          inner = refusalOf(() => reenter(engine));
        });
        // The getter swallowed the refusal: the outer call goes on, with the numbers it read.
        const steps = call(engine, x) as unknown[];
        expect(inner, `${name} inside ${callName}`).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: name } });
        expect(engine.disposed).toBe(false);
        const twin = restoreAttention(before, options);
        expect(steps).toEqual(call(twin, token(3)));
        expect(engine.snapshot()).toEqual(twin.snapshot());
      }
    }
  });

  it("is refused by a cross-attention too, whose memory stays the one attended", () => {
    const cross = createCrossAttention({ dim: 2, precision: 'float64' });
    cross.setMemory([token(0), token(1), token(2)]);
    let inner: unknown = null;
    const x = trapped(token(3), () => {
      inner = refusalOf(() => cross.setMemory([token(9)]));
    });
    const step = cross.attend(x);
    expect(inner).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'setMemory' } });
    expect(cross.memoryLength).toBe(3);
    const twin = createCrossAttention({ dim: 2, precision: 'float64' });
    twin.setMemory([token(0), token(1), token(2)]);
    expect(step).toEqual(twin.attend(token(3)));
  });

  it('is refused by a linear layer too, which applies the weights it had', () => {
    const linear = createLinear({ rows: 2, cols: 2, weight: [1, 2, 3, 4] });
    let inner: unknown = null;
    const x = trapped([1, 1], () => {
      inner = refusalOf(() => linear.dispose());
      // Before, the disposed layer's weights were released and taken by the next allocation.
      createLinear({ rows: 2, cols: 2, weight: [9, 9, 9, 9] });
    });
    expect(Array.from(linear.apply(x))).toEqual([3, 7]);
    expect(inner).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'dispose' } });
    // The list's length and out's are read under the same rule (a review found them read before it).
    const disposing = () => {
      inner = refusalOf(() => linear.dispose());
      return 1;
    };
    inner = null;
    const list = new Proxy([[1, 1]], { get: (target, key, receiver) => (key === 'length' ? disposing() : Reflect.get(target, key, receiver)) });
    expect(Array.from(linear.applyMany(list))).toEqual([3, 7]);
    expect(inner).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'dispose' } });
    // out is measured by its own length: a subclass's getter is not consulted at all.
    class Out extends Float32Array {
      override get length(): number {
        return disposing() + 1;
      }
    }
    inner = null;
    expect(Array.from(linear.apply([1, 1], new Out(2)))).toEqual([3, 7]);
    expect(inner).toBeNull();
    expect(linear.disposed).toBe(false);
  });

  it("snapshot reads its options before the engine: a getter that changes the engine is seen, one that disposes it refused", () => {
    const engine = createAttention({ dim: 2, precision: 'float64' });
    engine.push(token(0));
    const bytes = engine.snapshot({
      get weights() {
        engine.push(token(1));
        return true;
      },
    });
    expect(restoreAttention(bytes).length).toBe(2);
    const stack = createAttentionStack({ layers: 2, dim: 2, precision: 'float64' });
    expect(() =>
      stack.snapshot({
        get weights() {
          stack.layer(1).push(token(1));
          return true;
        },
      }),
    ).toThrow(expect.objectContaining({ code: 'LAYER_MISMATCH' }));
    expect(() =>
      engine.snapshot({
        get weights() {
          engine.dispose();
          return true;
        },
      }),
    ).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
  });
});
