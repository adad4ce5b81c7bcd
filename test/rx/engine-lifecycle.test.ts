import { asapScheduler, from, share, Subject, take } from 'rxjs';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { Attention, CacheEvent, Vector } from '../../src/index.js';
import { attend, generate } from '../../src/rx/index.js';

/** Every engine attend or generate creates, with the cache events it sent, seen where they make it. */
const engines = vi.hoisted(() => [] as { engine: Attention; events: CacheEvent[] }[]);

vi.mock('../../src/attention/index.js', async (importOriginal) => {
  const core = await importOriginal<typeof import('../../src/attention/index.js')>();
  return {
    ...core,
    attentionFromResolved: (options: Parameters<typeof core.attentionFromResolved>[0]) => {
      const engine = core.attentionFromResolved(options);
      const events: CacheEvent[] = [];
      engine.addCacheListener((event) => events.push(event));
      engines.push({ engine, events });
      return engine;
    },
  };
});

const appended = (events: readonly CacheEvent[]) => events.filter((e) => e.type === 'append').length;
const disposed = (events: readonly CacheEvent[]) => events.some((e) => e.type === 'dispose');
const token = (i: number): Vector => [Math.cos(i), Math.sin(i), 1, i % 3];

beforeEach(() => {
  engines.length = 0;
});

describe('attend: the engine behind each subscription', () => {
  it('no engine exists until someone subscribes', () => {
    from([token(0)]).pipe(attend({ dim: 4 }));
    expect(engines).toHaveLength(0);
  });

  it('unsubscribing mid-stream stops all engine work and releases the cache', () => {
    const tokens = new Subject<Vector>();
    const subscription = tokens.pipe(attend({ dim: 4, blockSize: 2 })).subscribe();
    for (let i = 0; i < 5; i++) tokens.next(token(i));
    const [{ engine, events }] = engines as [(typeof engines)[0]];
    expect(engine.stats().blocks).toBe(3);

    subscription.unsubscribe();
    expect(disposed(events)).toBe(true);
    expect(engine.stats()).toMatchObject({ tokens: 0, blocks: 0, bytes: 0 });
    tokens.next(token(5));
    tokens.next(token(6));
    expect(appended(events)).toBe(5);
    expect(tokens.observed).toBe(false);
  });

  it('take(3) on a long synchronous source computes 3 tokens, then releases the cache', () => {
    const outputs: number[] = [];
    from(Array.from({ length: 1000 }, (_, i) => token(i)))
      .pipe(attend({ dim: 4 }), take(3))
      .subscribe((step) => outputs.push(step.index));
    expect(outputs).toEqual([0, 1, 2]);
    expect(appended(engines[0]!.events)).toBe(3);
    expect(disposed(engines[0]!.events)).toBe(true);
  });

  it('completion and error both release the cache', () => {
    from([token(0), token(1)]).pipe(attend({ dim: 4 })).subscribe();
    from([token(0), [1, 2]]).pipe(attend({ dim: 4 })).subscribe({ error: () => {} });
    expect(engines).toHaveLength(2);
    expect(engines.map(({ events }) => disposed(events))).toEqual([true, true]);
  });

  it('completion flushes look-ahead outputs, then releases the cache', () => {
    const indices: number[] = [];
    let completed = false;
    from([0, 1, 2, 3].map(token))
      .pipe(attend({ dim: 4, lookahead: 2 }))
      .subscribe({ next: (step) => indices.push(step.index), complete: () => (completed = true) });
    expect(indices).toEqual([0, 1, 2, 3]);
    expect(completed).toBe(true);
    expect(disposed(engines[0]!.events)).toBe(true);
  });

  it('resubscribing starts a new, empty engine', () => {
    const attended = from([token(0), token(1)]).pipe(attend({ dim: 4 }));
    const runs: number[][] = [];
    for (let n = 0; n < 2; n++) {
      const indices: number[] = [];
      attended.subscribe((step) => indices.push(step.index));
      runs.push(indices);
    }
    expect(runs).toEqual([[0, 1], [0, 1]]);
    expect(engines).toHaveLength(2);
    expect(engines[0]!.engine).not.toBe(engines[1]!.engine);
    expect(engines.map(({ events }) => appended(events))).toEqual([2, 2]);
  });

  it('two subscribers at once get two engines; after share() they get one', () => {
    const tokens = new Subject<Vector>();
    const cold = tokens.pipe(attend({ dim: 4 }));
    cold.subscribe();
    cold.subscribe();
    expect(engines).toHaveLength(2);

    engines.length = 0;
    const shared = tokens.pipe(attend({ dim: 4 }), share());
    shared.subscribe();
    shared.subscribe();
    tokens.next(token(0));
    expect(engines).toHaveLength(1);
    expect(appended(engines[0]!.events)).toBe(1);
  });

  it('a consumer unsubscribing while the engine reads its input (a getter of it) leaves without an error, and the engine is disposed once the push returns (a reentrancy audit)', () => {
    const tokens = new Subject<Vector>();
    const seen: number[] = [];
    const subscription = tokens.pipe(attend({ dim: 4 })).subscribe((step) => seen.push(step.index));
    tokens.next(token(0));
    let thrown: unknown = null;
    // Before: unsubscribe() threw (the engine refuses dispose while it reads a call's inputs), and the engine was never disposed.
    tokens.next(unsubscribingOnRead(token(1), () => {
      try {
        subscription.unsubscribe();
      } catch (error) {
        thrown = error;
      }
    }));
    expect(thrown).toBeNull();
    expect(subscription.closed).toBe(true);
    expect(seen).toEqual([0]);
    expect(disposed(engines[0]!.events)).toBe(true);
    tokens.next(token(2));
    expect(appended(engines[0]!.events)).toBe(2);
  });
});

/** `x`, with `onRead` called the first time its element 0 is read. */
function unsubscribingOnRead(x: Vector, onRead: () => void): Vector {
  let read = false;
  return new Proxy(Array.from(x), {
    get(target, key, receiver) {
      if (key === '0' && !read) {
        read = true;
        onRead();
      }
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
}

describe('generate: the engine made from options', () => {
  it('is made per subscription and disposed at completion, error and unsubscription', () => {
    const run = (maxTokens: number, next: (i: number) => Vector) =>
      generate({ options: { dim: 4 }, first: token(0), next: (step) => next(step.index), maxTokens });
    run(3, token).subscribe();
    run(3, (i) => (i === 1 ? [1] : token(i))).subscribe({ error: () => {} });
    const subscription = run(10, token).pipe(take(2)).subscribe();
    subscription.unsubscribe();
    expect(engines).toHaveLength(3);
    expect(engines.map(({ events }) => appended(events))).toEqual([3, 2, 2]);
    expect(engines.map(({ events }) => disposed(events))).toEqual([true, true, true]);
  });

  it('a consumer unsubscribing while the engine reads the input next returned leaves without an error, and the engine is disposed once the push returns', async () => {
    let thrown: unknown = null;
    const seen: number[] = [];
    const subscription = generate({
      options: { dim: 4 },
      first: token(0),
      maxTokens: 10,
      yieldEvery: 1,
      scheduler: asapScheduler,
      next: (step) =>
        step.index < 2
          ? token(step.index + 1)
          : unsubscribingOnRead(token(3), () => {
              try {
                subscription.unsubscribe();
              } catch (error) {
                thrown = error;
              }
            }),
    }).subscribe((step) => seen.push(step.index));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(thrown).toBeNull();
    expect(seen).toEqual([0, 1, 2]);
    expect(disposed(engines[0]!.events)).toBe(true);
  });

  it('is made only on subscription', () => {
    generate({ options: { dim: 4 }, first: token(0), next: () => null, maxTokens: 1 });
    expect(engines).toHaveLength(0);
  });
});
