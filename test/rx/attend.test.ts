import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { concat, defer, firstValueFrom, from, lastValueFrom, Observable, of, retry, share, Subject, take, throwError, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { AttentionError, batchAttention, createAttention } from '../../src/index.js';
import type { AttentionOptions, AttentionStep, Vector } from '../../src/index.js';
import { attend, generate } from '../../src/rx/index.js';
import { expectClose } from '../support/close.js';
import { caseArbitrary } from '../support/engine-arbitraries.js';
import { stepScheduler } from './support/step-marbles.js';

const options: AttentionOptions = { dim: 2, precision: 'float64' };
const a = [1, 0];
const b = [0, 2];
const c = [1, 1];
/** What batch attention says each prefix's tokens get: the values the marbles expect. */
const [x, y, z] = batchAttention([a, b, c], options);

function expectSteps(actual: readonly AttentionStep[], expected: readonly AttentionStep[], tolerance: number): void {
  expect(actual.map((s) => s.index)).toEqual(expected.map((s) => s.index));
  actual.forEach((step, n) => {
    expectClose(step.output, expected[n]!.output, tolerance, `output of token ${step.index}`);
    step.weights?.forEach((w, h) => expectClose(w, expected[n]!.weights![h]!, tolerance, `weights of head ${h}, token ${step.index}`));
  });
}

describe('attend: timing, completion, errors, unsubscription (marbles)', () => {
  it('emits each token\'s output in the frame the token arrives and completes with the source', () => {
    stepScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a--b-c-|', { a, b, c });
      expectObservable(source.pipe(attend(options))).toBe('-x--y-z-|', { x, y, z });
      expectSubscriptions(source.subscriptions).toBe('^-------!');
    });
  });

  it('an empty source completes at once, a silent one stays silent', () => {
    stepScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold<Vector>('|').pipe(attend(options))).toBe('|');
      expectObservable(cold<Vector>('---').pipe(attend(options))).toBe('---');
    });
  });

  it('with lookahead 1, an output waits for the next token, and completion flushes the last', () => {
    const ahead = { ...options, lookahead: 1 };
    const [p, q, r] = batchAttention([a, b, c], ahead);
    stepScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('-a-b-c-|', { a, b, c }).pipe(attend(ahead))).toBe('---p-q-(r|)', { p, q, r });
    });
  });

  it('with lookahead 2 and a window, completion flushes both waiting outputs in order', () => {
    const ahead = { ...options, lookahead: 2, window: 2 };
    const [p, q, r] = batchAttention([a, b, c], ahead);
    stepScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('-a-b-c-|', { a, b, c }).pipe(attend(ahead))).toBe('-----p-(qr|)', { p, q, r });
    });
  });

  it('a factory that returns no engine errors the subscription (INVALID_ARGUMENT), and teardown does not crash (a fuzz audit: dispose on null)', async () => {
    for (const made of [null, { push: () => [], flush: () => [] }, 5]) {
      const error = await firstValueFrom(from([[1, 0]]).pipe(attend(() => made as never))).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AttentionError);
      expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'options' }, message: expect.stringMatching(/^attend: the factory returned .*, not an engine/) });
    }
  });

  it('passes a source error through after the outputs before it', () => {
    const failure = new Error('upstream failed');
    stepScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('-a-#', { a }, failure).pipe(attend(options))).toBe('-x-#', { x }, failure);
    });
  });

  it('a vector of the wrong length errors with the core AttentionError naming its token index, and unsubscribes the source', () => {
    const error = new AttentionError('DIMENSION_MISMATCH', '', { field: 'x', token: 1, expected: 2, actual: 3 });
    stepScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-c-|', { a, b: [1, 2, 3], c });
      expectObservable(source.pipe(attend(options))).toBe('-x-#', { x }, error);
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });

  it('a NaN at token 2 errors with NON_FINITE naming token 2 and the element', () => {
    const error = new AttentionError('NON_FINITE', '', { field: 'x', token: 2, element: 1, actual: 'NaN' });
    stepScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('ab-c|', { a, b, c: [0, NaN] }).pipe(attend(options))).toBe('xy-#', { x, y }, error);
    });
  });

  it('unsubscribing stops the outputs and unsubscribes the source in the same frame', () => {
    stepScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a--b-c-|', { a, b, c });
      expectObservable(source.pipe(attend(options)), '^---!').toBe('-x---', { x });
      expectSubscriptions(source.subscriptions).toBe('^---!');
    });
  });

  it('an endless synchronous source is stopped by take: exactly as many vectors are read as outputs taken', async () => {
    let read = 0;
    const endless = new Observable<Vector>((subscriber) => {
      for (let i = 0; !subscriber.closed; i++) {
        read++;
        subscriber.next([Math.sin(i), Math.cos(i)]);
      }
    });
    const steps = await firstValueFrom(endless.pipe(attend(options), take(4), toArray()));
    expect(steps.map((s) => s.index)).toEqual([0, 1, 2, 3]);
    expect(read).toBe(4);
  });
});

describe("docs/guides/reactive.md's Timing diagram", () => {
  const guide = readFileSync(new URL('../../docs/guides/reactive.md', import.meta.url), 'utf8');
  const block = /### Timing[\s\S]*?```\n([\s\S]*?)\n```/.exec(guide)![1]!;
  /** Each row's label, its marbles, and the column they start at. */
  const rows = block.split('\n').map((line) => {
    const [, label, gap, marbles] = /^(\S.*?\S)(\s{2,})(\S+)/.exec(line)!;
    return { label: label!, marbles: marbles!, column: label!.length + gap!.length };
  });

  it('starts every row at the same column, so a frame is one column in every row', () => {
    expect(rows.map((row) => row.label)).toEqual(['source', 'attend(o)', 'attend({...o, lookahead: 1})', 'attend({...o, lookahead: 2})']);
    expect(new Set(rows.map((row) => row.column)).size).toBe(1);
  });

  it('shows what attend emits for the source row, with the options of each label', () => {
    const [source, ...outputs] = rows;
    for (const row of outputs) {
      const lookahead = Number(/lookahead: (\d)/.exec(row.label)?.[1] ?? 0);
      const rowOptions = { ...options, lookahead };
      const [x, y, z] = batchAttention([a, b, c], rowOptions);
      stepScheduler().run(({ cold, expectObservable }) => {
        expectObservable(cold(source!.marbles, { a, b, c }).pipe(attend(rowOptions))).toBe(row.marbles, { x, y, z });
      });
    }
  });
});

describe('attend: one engine per subscription', () => {
  it('is cold: a second subscriber starts from token 0 with an empty cache', () => {
    const tokens = new Subject<Vector>();
    const attended = tokens.pipe(attend(options));
    const first: AttentionStep[] = [];
    const second: AttentionStep[] = [];
    attended.subscribe((step) => first.push(step));
    tokens.next(a);
    tokens.next(b);
    attended.subscribe((step) => second.push(step));
    tokens.next(c);
    tokens.complete();
    expectSteps(first, batchAttention([a, b, c], options), 1e-12);
    // The late subscriber saw only c, so its cache holds only c: token 0 attends itself alone.
    expectSteps(second, batchAttention([c], options), 1e-12);
  });

  it('reads the options once, when the operator is made: later changes to the weight arrays reach no engine', async () => {
    const weights = { wq: [1, 0, 0, 1], wk: [0.5, 1, -1, 2], wv: [2, 0, 1, 1], wo: [1, 1, 0, 1] };
    const projected = { dim: 2, precision: 'float64', weights } as const;
    const expected = batchAttention([a, b, c], projected);
    const operator = attend(projected);
    // Each subscription makes its engine from the copy taken above, not from these arrays.
    weights.wk.fill(Number.NaN);
    weights.wv[0] = 100;
    for (let subscription = 0; subscription < 2; subscription++) {
      expectSteps(await firstValueFrom(from([a, b, c]).pipe(operator, toArray())), expected, 1e-12);
    }
  });

  it('share() multicasts one engine: every subscriber receives the same step objects', () => {
    const tokens = new Subject<Vector>();
    const attended = tokens.pipe(attend(options), share());
    const first: AttentionStep[] = [];
    const second: AttentionStep[] = [];
    attended.subscribe((step) => first.push(step));
    tokens.next(a);
    attended.subscribe((step) => second.push(step));
    tokens.next(b);
    tokens.next(c);
    tokens.complete();
    expectSteps(first, batchAttention([a, b, c], options), 1e-12);
    expect(second).toEqual(first.slice(1));
    second.forEach((step, n) => expect(step).toBe(first[n + 1]));
  });

  it('refuses bad options at once, when the operator is made', () => {
    expect(() => attend({ dim: 0 })).toThrow(AttentionError);
    expect(() => attend({ dim: 4, window: 3, sinks: 1, lookahead: -1 })).toThrow(/lookahead/);
    expect(() => attend({ dim: 4, heads: 3 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });
});

describe('attend: a subscriber feeding outputs back into the source', () => {
  it('runs 100,000 tokens in a loop, not recursion: a second subscriber sees them in order, and they equal an engine fed the same tokens', () => {
    // From an audit: each fed-back value was pushed inside the emission of the step before it, a
    // stack frame per token, so about 700 tokens overflowed the stack, and after share() a second
    // subscriber saw the steps backwards. The window only keeps each step cheap.
    const o = { dim: 4, window: 8 };
    const tokens = new Subject<Vector>();
    const steps$ = tokens.pipe(attend(o), share());
    const fed: Vector[] = [[1, 0, 0, 1]];
    const outputs: Float32Array[] = [];
    let completed = false;
    steps$.subscribe({
      next: (step) => {
        if (step.index === 99_999) return tokens.complete();
        const x = [step.output[0]!, step.output[1]!, Math.sin(step.index), Math.cos(step.index)];
        fed.push(x);
        tokens.next(x);
      },
      complete: () => (completed = true),
    });
    const order: number[] = [];
    steps$.subscribe((step) => {
      order.push(step.index);
      outputs.push(Float32Array.from(step.output));
    });
    tokens.next(fed[0]!);
    expect(completed).toBe(true);
    expect(order.length).toBe(100_000);
    expect(order.every((index, n) => index === n)).toBe(true);
    const direct = createAttention(o);
    const differing = fed.filter((x, n) => !direct.push(x)[0]!.output.every((v, c) => v === outputs[n]![c]));
    expect(differing).toEqual([]);
  });

  it('a value and the completion sent from inside a subscriber wait for the steps being emitted, look-ahead flushed last', () => {
    const o = { ...options, lookahead: 1 };
    const tokens = new Subject<Vector>();
    const indices: number[] = [];
    let completed = false;
    tokens.pipe(attend(o)).subscribe({
      next: (step) => {
        indices.push(step.index);
        if (step.index === 0) {
          tokens.next(c);
          tokens.complete();
        }
      },
      complete: () => (completed = true),
    });
    tokens.next(a);
    tokens.next(b);
    expect(indices).toEqual([0, 1, 2]);
    expect(completed).toBe(true);
  });
});

describe('attend: a factory must return a new engine for each subscription', () => {
  it('refuses an engine a live subscription is pushing into, rather than interleave two streams in one cache', async () => {
    // From an audit: `() => engine` subscribed twice pushed tokens 0, 2, 4 and 1, 3, 5 into one cache.
    const engine = createAttention(options);
    const tokens = new Subject<Vector>();
    const attended = tokens.pipe(attend(() => engine));
    const first: AttentionStep[] = [];
    attended.subscribe((step) => first.push(step));
    const second = lastValueFrom(attended).catch((e: unknown) => e);
    for (const x of [a, b, c]) tokens.next(x);
    // Only the first subscription's tokens are in the engine; it is disposed as that one completes.
    expect(engine.length).toBe(3);
    tokens.complete();
    expect(await second).toBeInstanceOf(AttentionError);
    expect(await second).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'options' }, message: expect.stringMatching(/live subscription .*new engine \(or a fork\)/) });
    expectSteps(first, batchAttention([a, b, c], options), 1e-12);
  });

  it('refuses an engine already disposed: a retry says what went wrong, not DISPOSED', async () => {
    const engine = createAttention(options);
    let attempt = 0;
    const flaky = defer(() => (attempt++ === 0 ? concat(of(a), throwError(() => new Error('network blip'))) : of(a, b)));
    const error = await lastValueFrom(flaky.pipe(attend(() => engine), retry(1))).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'options' }, message: expect.stringMatching(/already disposed.*new engine \(or a fork\)/) });
    // A factory that forks a model each time retries cleanly.
    const model = createAttention(options);
    attempt = 0;
    const steps = await lastValueFrom(flaky.pipe(attend(() => model.fork()), toArray(), retry(1)));
    expectSteps(steps, batchAttention([a, b], options), 1e-12);
    expect(model.disposed).toBe(false);
  });

  it('refuses an engine a generate run holds, and leaves it to that run', async () => {
    const engine = createAttention(options);
    const run = lastValueFrom(generate({ engine, first: a, next: () => b, maxTokens: 4, yieldEvery: 1 }).pipe(toArray()));
    const error = await firstValueFrom(from([c]).pipe(attend(() => engine))).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'options' } });
    expect((await run).map((step) => step.index)).toEqual([0, 1, 2, 3]);
    expect(engine.disposed).toBe(false);
  });

  it("is not taken over by a generate run on its engine: the run errors, and the subscription's cache holds its own tokens alone (a review: both pushed into one cache)", () => {
    const engine = createAttention(options);
    const input = new Subject<Vector>();
    const seen: number[] = [];
    input.pipe(attend(() => engine)).subscribe((step) => seen.push(step.index));
    input.next(a);
    const refused: unknown[] = [];
    generate({ engine, first: b, next: () => c, maxTokens: 3 }).subscribe({ error: (e: unknown) => refused.push(e) });
    expect(refused).toEqual([expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'engine' } })]);
    input.next(b);
    expect(seen).toEqual([0, 1]);
    expect(engine.length).toBe(2);
    // Still held: a second attend on it is refused too.
    const error = (() => {
      let caught: unknown = null;
      from([c]).pipe(attend(() => engine)).subscribe({ error: (e: unknown) => (caught = e) });
      return caught;
    })();
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'options' } });
    input.complete();
  });
});

describe('attend equals batchAttention on the same vectors', () => {
  const cases = [
    { precision: 'float64', tolerance: 1e-12, maxLength: 30, numRuns: 200 },
    { precision: 'float32', tolerance: 1e-5, maxLength: 20, numRuns: 100 },
  ] as const;
  for (const { precision, tolerance, maxLength, numRuns } of cases) {
    it(`for every engine option (windows, sinks, lookahead, RoPE, ALiBi, GQA), ${precision} within ${tolerance} scaled`, async () => {
      await fc.assert(
        fc.asyncProperty(caseArbitrary({ precision }, maxLength), async ({ options: o, xs }) => {
          const steps = await firstValueFrom(from(xs).pipe(attend(o), toArray()));
          expectSteps(steps, batchAttention(xs, o), tolerance);
        }),
        { numRuns },
      );
    });
  }
});
