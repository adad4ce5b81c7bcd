import fc from 'fast-check';
import { asyncScheduler, firstValueFrom, lastValueFrom, Subject, switchMap, take, takeUntil, tap, toArray, VirtualTimeScheduler } from 'rxjs';
import type { Observable, SchedulerLike } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { AttentionError, batchAttention, createAttention } from '../../src/index.js';
import type { AttentionOptions, AttentionStep, Vector } from '../../src/index.js';
import { generate } from '../../src/rx/index.js';
import type { GenerateOptions, GenerationEngine } from '../../src/rx/index.js';
import { expectClose } from '../support/close.js';
import { configArbitrary } from '../support/engine-arbitraries.js';

/** A feedback rule that works for any output size: the next input is a squashed, shifted copy of the output. */
function feedback(dim: number, inputs: number[][]) {
  return (step: AttentionStep): Vector => {
    const x = Array.from({ length: dim }, (_, c) => Math.tanh(step.output[(c + 1) % step.output.length]! + 0.1 * c));
    inputs.push(x);
    return x;
  };
}

/** Current call stack depth, counted on a full stack trace. */
function stackDepth(): number {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = Infinity;
  const depth = new Error().stack!.split('\n').length;
  Error.stackTraceLimit = limit;
  return depth;
}

describe('generate: the feedback loop', () => {
  it('each output decides the next input, and the outputs equal batchAttention over the inputs it was fed', async () => {
    await fc.assert(
      fc.asyncProperty(configArbitrary({ precision: 'float64' }), fc.integer({ min: 1, max: 25 }), async (drawn, maxTokens) => {
        const { lookahead: _, ...options } = drawn;
        const first = Array.from({ length: options.dim }, (_, c) => Math.cos(c));
        const inputs = [first];
        const steps = await lastValueFrom(generate({ options, first, next: feedback(options.dim, inputs), maxTokens }).pipe(toArray()));
        expect(steps.map((s) => s.index)).toEqual(Array.from({ length: maxTokens }, (_, i) => i));
        // next is not asked for an input that would never be pushed.
        expect(inputs).toHaveLength(maxTokens);
        const reference = batchAttention(inputs, options);
        steps.forEach((step, i) => expectClose(step.output, reference[i]!.output, 1e-12, `output ${i}`));
      }),
      { numRuns: 100 },
    );
  });

  it('reads the options once, when generate is called: later changes to the weight arrays reach no engine', async () => {
    const weights = { wq: [1, 0, 0, 1], wk: [0.5, 1, -1, 2], wv: [2, 0, 1, 1] };
    const options = { dim: 2, precision: 'float64', weights } as const;
    const inputs: number[][] = [[1, 0]];
    const loop = generate({ options, first: [1, 0], next: feedback(2, inputs), maxTokens: 4 });
    const expected = batchAttention(inputs.slice(0, 1), options);
    weights.wk.fill(Number.NaN);
    weights.wq[0] = -3;
    const steps = await lastValueFrom(loop.pipe(toArray()));
    expect(steps).toHaveLength(4);
    expectClose(steps[0]!.output, expected[0]!.output, 1e-12, 'output 0');
    const reference = batchAttention(inputs, { ...options, weights: { wq: [1, 0, 0, 1], wk: [0.5, 1, -1, 2], wv: [2, 0, 1, 1] } });
    steps.forEach((step, i) => expectClose(step.output, reference[i]!.output, 1e-12, `output ${i}`));
  });

  it('stops when next returns null, after emitting the step it was given', async () => {
    const seen: number[] = [];
    const steps = await lastValueFrom(
      generate({ options: { dim: 2 }, first: [1, 0], next: (step) => (seen.push(step.index), step.index === 2 ? null : [0, 1]), maxTokens: 100 }).pipe(toArray()),
    );
    expect(steps.map((s) => s.index)).toEqual([0, 1, 2]);
    expect(seen).toEqual([0, 1, 2]);
  });

  it('maxTokens counts the first token: maxTokens 1 pushes first only and never calls next', async () => {
    let calls = 0;
    const steps = await lastValueFrom(generate({ options: { dim: 2 }, first: [1, 0], next: () => (calls++, [0, 1]), maxTokens: 1 }).pipe(toArray()));
    expect(steps).toHaveLength(1);
    expect(calls).toBe(0);
  });

  it('take(5) computes 5 tokens, not 6, and asks next for only 4 inputs', async () => {
    const engine = createAttention({ dim: 2 });
    let calls = 0;
    const steps = await lastValueFrom(generate({ engine, first: [1, 0], next: () => (calls++, [0, 1]), maxTokens: Infinity }).pipe(take(5), toArray()));
    expect(steps).toHaveLength(5);
    expect(engine.length).toBe(5);
    expect(calls).toBe(4);
  });
});

describe('generate: long loops do not grow the stack', () => {
  // The window only keeps each step cheap so the test is quick: the loop, not the cache, is what
  // could grow the stack.
  it('20,000 synchronous steps complete, at the same stack depth from the first step to the last', () => {
    const depths: number[] = [];
    let count = 0;
    generate({
      options: { dim: 4, window: 256 },
      first: [1, 0, 0, 0],
      next: (step) => {
        if (step.index === 1 || step.index === 19_998) depths.push(stackDepth());
        return [Math.sin(step.index), step.output[0]!, 0.5, -0.5];
      },
      maxTokens: 20_000,
    }).subscribe(() => count++);
    expect(count).toBe(20_000);
    expect(depths).toHaveLength(2);
    expect(depths[1]).toBe(depths[0]);
  });

  it('100,000 steps with a sliding window complete in constant memory', () => {
    const engine = createAttention({ dim: 2, window: 64 });
    const bytes: number[] = [];
    let last = -1;
    generate({
      engine,
      first: [1, 0],
      next: (step) => {
        if (step.index === 1_000 || step.index === 99_998) bytes.push(engine.stats().bytes);
        return [step.output[1]!, Math.cos(step.index)];
      },
      maxTokens: 100_000,
    }).subscribe((step) => (last = step.index));
    expect(last).toBe(99_999);
    expect(bytes[1]).toBe(bytes[0]);
  });
});

describe('generate: yieldEvery', () => {
  it('computes yieldEvery tokens synchronously, then lets other tasks run before each next chunk', async () => {
    const log: string[] = [];
    setTimeout(() => log.push('timer'), 0);
    const done = lastValueFrom(
      generate({ options: { dim: 2 }, first: [1, 0], next: (step) => [step.output[1]!, step.output[0]!], maxTokens: 7, yieldEvery: 3 }).pipe(toArray()),
    ).then((steps) => log.push(`done ${steps.length}`));
    log.push('subscribed');
    await done;
    // The timer was queued before the loop, so it runs at the first yield, after tokens 0-2.
    expect(log).toEqual(['subscribed', 'timer', 'done 7']);
  });

  it('emits exactly yieldEvery steps before subscribe returns', () => {
    const indices: number[] = [];
    const subscription = generate({ options: { dim: 2 }, first: [1, 0], next: () => [0, 1], maxTokens: 10, yieldEvery: 4 }).subscribe((s) => indices.push(s.index));
    expect(indices).toEqual([0, 1, 2, 3]);
    subscription.unsubscribe();
  });

  it('continues on the given scheduler: nothing after the first chunk runs until that scheduler runs its work', () => {
    const scheduler = new VirtualTimeScheduler();
    const indices: number[] = [];
    let completed = false;
    generate({ options: { dim: 2 }, first: [1, 0], next: () => [0, 1], maxTokens: 7, yieldEvery: 3, scheduler }).subscribe({
      next: (s) => indices.push(s.index),
      complete: () => (completed = true),
    });
    expect(indices).toEqual([0, 1, 2]);
    scheduler.flush();
    expect(indices).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(completed).toBe(true);
  });

  it('a first input that is not a vector is refused at once, naming first; one of the wrong length errors the stream at token 0', () => {
    expect(() => generate({ options: { dim: 2 }, first: null as unknown as number[], next: () => [0, 1], maxTokens: 3 })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', details: expect.objectContaining({ field: 'first' }) }),
    );
    let error: unknown = null;
    generate({ options: { dim: 2 }, first: [1, 0, 0], next: () => [0, 1], maxTokens: 3 }).subscribe({ error: (e) => (error = e) });
    expect(error).toMatchObject({ code: 'DIMENSION_MISMATCH', details: expect.objectContaining({ token: 0 }) });
  });

  it('unsubscribing while yielded cancels the rest: no further token is computed, and next is not asked for one', async () => {
    // Found by a bug hunt: next was asked before the yield, for a token the subscriber then never let come.
    const engine = createAttention({ dim: 2 });
    let asked = 0;
    const next = (): number[] => (asked++, [0, 1]);
    const subscription = generate({ engine, first: [1, 0], next, maxTokens: 100, yieldEvery: 2 }).subscribe();
    expect([engine.length, asked]).toEqual([2, 1]);
    subscription.unsubscribe();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect([engine.length, asked]).toEqual([2, 1]);
  });
});

describe('generate: a mistyped configuration is refused, not ignored', () => {
  const base = { options: { dim: 2 }, first: [1, 0], next: (step: AttentionStep) => step.output, maxTokens: 5 };

  it('a key that is not an option of generate is refused with INVALID_OPTION naming it and listing the known ones', () => {
    for (const key of ['yieldevery', 'maxToken', 'option', 'schedular', 'lookahead']) {
      const config = { ...base, [key]: 2 } as unknown as GenerateOptions;
      expect(() => generate(config), key).toThrow(
        expect.objectContaining({
          code: 'INVALID_OPTION',
          details: { field: key },
          message: `generate: ${key} is not an option of generate (known: options, engine, first, next, maxTokens, yieldEvery, scheduler)`,
        }),
      );
    }
  });

  it('a scheduler without yieldEvery is refused, saying that it is only used with yieldEvery', () => {
    expect(() => generate({ ...base, scheduler: asyncScheduler })).toThrow(/generate: scheduler is used only to continue after yieldEvery tokens; give yieldEvery too/);
  });

  it('known keys given as undefined are the defaults', async () => {
    const steps = await lastValueFrom(generate({ ...base, engine: undefined, yieldEvery: undefined, scheduler: undefined }).pipe(toArray()));
    expect(steps).toHaveLength(5);
  });
});

describe('generate: who owns the engine', () => {
  it('a given engine is left alive with what was pushed; subscribing again continues its stream', async () => {
    const engine = createAttention({ dim: 2 });
    const run = generate({ engine, first: [1, 0], next: () => [0, 1], maxTokens: 3 });
    const first = await lastValueFrom(run.pipe(toArray()));
    const second = await lastValueFrom(run.pipe(toArray()));
    expect(first.map((s) => s.index)).toEqual([0, 1, 2]);
    expect(second.map((s) => s.index)).toEqual([3, 4, 5]);
    expect(engine.length).toBe(6);
    expect(() => engine.push([1, 1])).not.toThrow();
  });

  it('a run on a given engine that would push after a later run started errors, rather than interleave the two in one cache', async () => {
    // Found by a power-user hunt: two runs with yieldEvery pushed tokens 0, 1, 4, 5 … and 2, 3, 6, 7 …
    const engine = createAttention({ dim: 2 });
    const run = generate({ engine, first: [1, 0], next: () => [0, 1], maxTokens: 6, yieldEvery: 2 });
    const first = lastValueFrom(run.pipe(toArray())).catch((e: unknown) => e);
    const second = await lastValueFrom(run.pipe(toArray()));
    // The later run holds the engine and continues its stream; the earlier one stops, saying why.
    expect(second.map((s) => s.index)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(await first).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'engine', token: 2 } });
    expect(engine.length).toBe(8);
    // A run started as the last one ends (from its complete, after take, through switchMap) is no
    // second run at once: found by a review, which the first version of this refusal broke.
    const chained = await new Promise<number[]>((resolve, reject) => {
      const indices: number[] = [];
      run.pipe(take(2)).subscribe({
        next: (s) => indices.push(s.index),
        complete: () => run.subscribe({ next: (s) => indices.push(s.index), complete: () => resolve(indices), error: reject }),
        error: reject,
      });
    });
    expect(chained).toEqual([8, 9, 10, 11, 12, 13, 14, 15]);
    const switched = await lastValueFrom(run.pipe(toArray(), switchMap(() => run.pipe(toArray()))));
    expect(switched.map((s) => s.index)).toEqual([22, 23, 24, 25, 26, 27]);
  });

  it('a run a later one took the engine from stops before asking next for a token it would not push', async () => {
    // From an audit: the earlier run called next(step 1) on resuming, then found it no longer held
    // the engine; next is called only when another token will really be computed.
    const engine = createAttention({ dim: 2 });
    const asked: number[] = [];
    const run = generate({ engine, first: [1, 0], next: (step) => (asked.push(step.index), [0, 1]), maxTokens: 4, yieldEvery: 2 });
    const first = lastValueFrom(run.pipe(toArray())).catch((e: unknown) => e);
    const second = await lastValueFrom(run.pipe(toArray()));
    expect(second.map((s) => s.index)).toEqual([2, 3, 4, 5]);
    expect(await first).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'engine', token: 2 } });
    // The earlier run's next(step 0) decided token 1, which it pushed; no next(step 1) for a token 2 it never pushed.
    expect(asked.sort((a, b) => a - b)).toEqual([0, 2, 3, 4]);
    // A next that starts a later run itself is still refused before its input is pushed.
    const inner = createAttention({ dim: 2 });
    const stolen: Observable<AttentionStep> = generate({ engine: inner, first: [1, 0], next: (step) => (step.index === 0 ? (stolen.pipe(take(1)).subscribe(), [0, 1]) : [0, 1]), maxTokens: 3 });
    expect(await lastValueFrom(stolen).catch((e: unknown) => e)).toMatchObject({ code: 'INVALID_ARGUMENT', details: { token: 1 } });
    expect(inner.length).toBe(2);
  });

  it('with options, every subscription starts from token 0', async () => {
    const run = generate({ options: { dim: 2 }, first: [1, 0], next: () => [0, 1], maxTokens: 2 });
    expect((await lastValueFrom(run.pipe(toArray()))).map((s) => s.index)).toEqual([0, 1]);
    expect((await lastValueFrom(run.pipe(toArray()))).map((s) => s.index)).toEqual([0, 1]);
  });

  it('gives next the last step of a push that returns several, and pushes nothing once the subscriber left during next', async () => {
    // Found by a mutation test: next given the first step, or a token pushed after the subscriber
    // left from inside next, passed every test.
    const seen: number[] = [];
    const twoSteps: GenerationEngine = { push: (x) => [{ index: 2 * x[0]!, output: Float64Array.of(0) }, { index: 2 * x[0]! + 1, output: Float64Array.of(x[0]! + 1) }] };
    await lastValueFrom(generate({ engine: twoSteps, first: [0], next: (step) => (seen.push(step.index), step.output), maxTokens: 3 }));
    expect(seen).toEqual([1, 3]);
    const engine = createAttention({ dim: 2 });
    const stop = new Subject<void>();
    const steps = await lastValueFrom(generate({ engine, first: [1, 0], next: (step) => (stop.next(), step.output), maxTokens: 10 }).pipe(takeUntil(stop), toArray()));
    expect(steps.map((s) => s.index)).toEqual([0]);
    expect(engine.length).toBe(1);
  });

  it('accepts any object with push, such as a model that runs several layers per token', async () => {
    const layers = [createAttention({ dim: 2 }), createAttention({ dim: 2 })];
    const model: GenerationEngine = {
      push: (x) => layers.reduce<AttentionStep[]>((steps, layer) => layer.push(steps.length === 0 ? x : steps[0]!.output), []),
    };
    const steps = await lastValueFrom(generate({ engine: model, first: [1, 0], next: (s) => [s.output[1]!, 1], maxTokens: 4 }).pipe(toArray()));
    expect(steps.map((s) => s.index)).toEqual([0, 1, 2, 3]);
    expect(layers.map((l) => l.length)).toEqual([4, 4]);
  });
});

describe('generate: errors', () => {
  const base = { first: [1, 0], next: () => [0, 1], maxTokens: 5 };

  it('a bad vector from next errors the stream with the AttentionError naming its token index', async () => {
    const run = generate({ ...base, options: { dim: 2 }, next: (step) => (step.index === 2 ? [1, 2, 3] : [0, 1]) });
    await expect(firstValueFrom(run.pipe(toArray()))).rejects.toMatchObject({ code: 'DIMENSION_MISMATCH', details: { token: 3, expected: 2, actual: 3 } });
  });

  it('an error thrown by next errors the stream and stops the loop', async () => {
    const engine = createAttention({ dim: 2 });
    const failure = new Error('no idea what comes next');
    const run = generate({ ...base, engine, next: (step) => { if (step.index === 1) throw failure; return [0, 1]; } });
    await expect(firstValueFrom(run.pipe(toArray()))).rejects.toBe(failure);
    expect(engine.length).toBe(2);
  });

  it('a bad first vector errors at token 0', async () => {
    await expect(firstValueFrom(generate({ ...base, options: { dim: 2 }, first: [NaN, 0] }))).rejects.toMatchObject({ code: 'NON_FINITE', details: { token: 0 } });
  });

  it('an engine whose push returns no step errors the stream', async () => {
    await expect(firstValueFrom(generate({ ...base, engine: { push: () => [] } }))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', details: { token: 0 } });
  });

  it('an engine whose push returns something that is not a step errors the stream before emitting any of that push', async () => {
    // From an audit: [null] was emitted as a step, then next(null) failed with a TypeError.
    const step = { index: 0, output: Float64Array.of(1, 0) };
    const returns: [unknown[], number, string][] = [
      [[null], 0, 'null at element 0'],
      [[step, 7], 1, '7 at element 1'],
      [[{ index: 0 }], 0, 'an object at element 0'],
      [[{ output: [1, 0] }], 0, 'an object at element 0'],
    ];
    for (const [steps, element, what] of returns) {
      const { emitted, error } = await new Promise<{ emitted: unknown[]; error: unknown }>((resolve) => {
        const seen: unknown[] = [];
        generate({ ...base, engine: { push: () => steps as AttentionStep[] } }).subscribe({
          next: (s) => seen.push(s),
          error: (e: unknown) => resolve({ emitted: seen, error: e }),
          complete: () => resolve({ emitted: seen, error: null }),
        });
      });
      expect(emitted, what).toEqual([]);
      expect(error, what).toBeInstanceOf(AttentionError);
      expect(error, what).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'engine', token: 0, element } });
      expect((error as AttentionError).message, what).toBe(`generate: the push of token 0 returned ${what}, not a step (an object with a numeric index and an output array)`);
    }
  });

  it('errors the stream naming next when next returns neither an input nor null (a forgotten return)', async () => {
    for (const returned of [undefined, 3, {}]) {
      const emitted: number[] = [];
      const run = lastValueFrom(
        generate({ options: { dim: 2 }, first: [1, 0], next: (step) => (step.index === 1 ? (returned as unknown as number[]) : [0, 1]), maxTokens: 5 }).pipe(
          tap((step) => emitted.push(step.index)),
        ),
      );
      const error = await run.catch((e: unknown) => e);
      expect(emitted).toEqual([0, 1]);
      expect(error).toBeInstanceOf(AttentionError);
      expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'next', token: 2 } });
      expect((error as Error).message).toMatch(/^generate: next returned .* after token 1, not an input; return null to stop$/);
    }
  });

  it('refuses a bad configuration at once, naming the field', () => {
    const refusals: [Parameters<typeof generate>[0], string][] = [
      [{ ...base } as unknown as Parameters<typeof generate>[0], 'options'],
      [{ ...base, options: { dim: 2 }, engine: createAttention({ dim: 2 }) } as unknown as Parameters<typeof generate>[0], 'options'],
      [{ ...base, options: { dim: 2, lookahead: 1 } }, 'lookahead'],
      [{ ...base, engine: createAttention({ dim: 2, lookahead: 2 }) }, 'lookahead'],
      [{ ...base, options: { dim: 2 }, maxTokens: 0 }, 'maxTokens'],
      [{ ...base, options: { dim: 2 }, maxTokens: 2.5 }, 'maxTokens'],
      [{ ...base, options: { dim: 2 }, yieldEvery: 0 }, 'yieldEvery'],
      [{ ...base, options: { dim: 2 }, next: undefined as unknown as () => null }, 'next'],
      [{ ...base, options: { dim: 2 }, first: undefined as unknown as number[] }, 'first'],
      [{ ...base, options: { dim: 2 }, first: 'ab' as unknown as number[] }, 'first'],
      [{ ...base, engine: {} as GenerationEngine }, 'engine'],
      [{ ...base, options: { dim: 3, heads: 2 } as AttentionOptions }, 'heads'],
      [{ ...base, options: { dim: 2 }, scheduler: asyncScheduler }, 'scheduler'],
      [{ ...base, options: { dim: 2 }, yieldEvery: 2, scheduler: {} as SchedulerLike }, 'scheduler'],
    ];
    for (const [config, field] of refusals) {
      expect(() => generate(config), field).toThrow(AttentionError);
      expect(() => generate(config), field).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: expect.objectContaining({ field }) }));
    }
  });
});

describe('generate: mutation audit', () => {
  it('a maxTokens or yieldEvery that is no number is refused (INVALID_OPTION) without running its toString', () => {
    let ran = 0;
    const sneaky = {
      toString: () => {
        ran++;
        return '3';
      },
    };
    for (const key of ['maxTokens', 'yieldEvery'] as const) {
      const config = { options: { dim: 2 }, first: [1, 0], next: () => null, maxTokens: 2, [key]: sneaky } as unknown as GenerateOptions;
      expect(() => generate(config)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: expect.objectContaining({ field: key }), message: expect.stringContaining('got an object') }));
    }
    expect(ran).toBe(0);
  });
});
