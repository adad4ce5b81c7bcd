import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AttentionError, createAttention, createAttentionStack, createLinear, restoreAttention, restoreAttentionStack, ThreadPool } from '../src/index.js';
import type { Attention, AttentionOptions, AttentionStack, AttentionStep } from '../src/index.js';
import { compareStep } from '../src/testing/internal/compare-step.js';
import { errorBounds } from '../src/testing/internal/error-bounds.js';
import { defaultTolerance } from '../src/testing/internal/tolerance.js';
import { Worker } from 'node:worker_threads';
import { startThreadPool } from '../src/kernels/wasm/start-thread-pool.js';
import { WORKER_LOOP_SOURCE } from '../src/kernels/wasm/thread-pool.js';
import { writeTokenRows } from '../src/kernels/wasm/project-in-arena.js';
import { createThreadPool } from '../src/threads/index.js';
import { configArbitrary, mulberry32, tokensArbitrary } from './support/engine-arbitraries.js';
import { sameBits } from './support/same-bits.js';

let pool2: ThreadPool;
let pool3: ThreadPool;

beforeAll(async () => {
  [pool2, pool3] = await Promise.all([createThreadPool(2), createThreadPool(3)]);
});

afterAll(async () => {
  await Promise.all([pool2.close(), pool3.close()]);
});

/** Float32 configurations, with float32 or int8 caches: the SIMD kernels run all of them. */
const threadedCase = fc
  .tuple(configArbitrary({ precision: 'float32', wideHeads: true }), fc.boolean())
  .map(([o, int8]): AttentionOptions => ({ ...o, kernels: 'auto', ...(int8 ? { cacheDtype: 'int8' as const } : {}) }))
  .chain((options) =>
    fc.record({
      options: fc.constant(options),
      xs: tokensArbitrary(options.dim, 1, 40),
      more: tokensArbitrary(options.dim, 0, 8),
      rollback: fc.nat(),
      pool: fc.constantFrom(2, 3),
      prompt: fc.boolean(),
    }),
  );

/** The steps of a session: a prompt (pushMany or one by one), a rollback, a fork and more tokens, then flush. */
function session(attn: Attention, c: { xs: number[][]; more: number[][]; rollback: number; prompt: boolean }): AttentionStep[] {
  const steps = c.prompt ? attn.pushMany(c.xs) : c.xs.flatMap((x) => attn.push(x));
  try {
    attn.truncate(Math.max(0, attn.length - (c.rollback % 4)));
  } catch (e) {
    // A window may have released the keys a rollback needs: both engines refuse it alike.
    if (!(e instanceof AttentionError && e.code === 'EVICTED')) throw e;
  }
  const fork = attn.fork();
  for (const x of c.more) steps.push(...fork.push(x), ...attn.push(x));
  steps.push(...fork.flush(), ...attn.flush());
  fork.dispose();
  return steps;
}

describe('threads: a step split across a ThreadPool', () => {
  it('gives bit for bit the steps of one thread, for every configuration the SIMD kernels run', () => {
    fc.assert(
      fc.property(threadedCase, (c) => {
        const threads = c.pool === 2 ? pool2 : pool3;
        const one = createAttention(c.options);
        const split = createAttention({ ...c.options, threads });
        expect(split.options.threads).toBe(threads);
        expect(session(split, c)).toEqual(session(one, c));
        one.dispose();
        split.dispose();
      }),
      { numRuns: 150 },
    );
  });

  it('a score overflow on a worker’s share of the heads runs the step in float64, as kernels: "js" computes it, and the engine goes on as a fresh one', () => {
    // 4 heads of 1: head 3 is the last thread's share. Seed mode: q·k = 1e40, +∞ in float32.
    // Given q, k and v with scale 1e-42: q·k = 1e20 · −1e20 = −1e40 is −∞ in float32, but −0.01
    // scaled in float64, so head 3's weights are near even, where a kernel that took the −∞ as it
    // came would give key 0 weight 0.
    type Feed = (attn: Attention) => AttentionStep[];
    const cases: { options: AttentionOptions; tokens: Feed[]; next: Feed }[] = [
      { options: { dim: 4, heads: 4 }, tokens: [(a) => a.push([1, 2, 3, 4]), (a) => a.push([0.5, 0.5, 0.5, 1e20])], next: (a) => a.push([1, 1, 1, 1]) },
      {
        options: { dim: 4, heads: 4, scale: 1e-42, weights: {} },
        tokens: [(a) => a.pushQKV([1, 1, 1, 1], [1, 2, 3, -1e20], [1, 2, 3, 4]), (a) => a.pushQKV([0.5, 0.5, 0.5, 1e20], [1, 1, 1, 1], [4, 3, 2, -4])],
        next: (a) => a.pushQKV([1, 1, 1, 1], [0.5, 0.5, 0.5, 0.5], [1, 1, 1, 1]),
      },
    ];
    for (const { options, tokens, next } of cases) {
      const plain = createAttention({ ...options, kernels: 'js', withWeights: true });
      const expected = tokens.flatMap((feed) => feed(plain));
      for (const threads of [pool2, null]) {
        const attn = createAttention({ ...options, withWeights: true, ...(threads === null ? {} : { threads }) });
        expect(attn.options.kernels).toBe('wasm');
        expect(tokens.flatMap((feed) => feed(attn))).toEqual(expected);
        const fresh = createAttention({ ...options, withWeights: true, threads: pool2 });
        tokens.forEach((feed) => feed(fresh));
        expect(next(attn)).toEqual(next(fresh));
      }
    }
    // The −∞ case's head 3 at token 1, by hand: scores −0.01 (key 0) and 1e-22 (key 1).
    const even = createAttention({ ...cases[1]!.options, withWeights: true, threads: pool2 });
    const [, step] = cases[1]!.tokens.flatMap((feed) => feed(even));
    const w0 = Math.exp(-0.01) / (Math.exp(-0.01) + 1);
    expect(Math.abs(step!.weights![3]![0]! - w0)).toBeLessThan(1e-6);
    expect(Math.abs(step!.output[3]! - (w0 * 4 + (1 - w0) * -4))).toBeLessThan(1e-5);
  });

  it('a score overflow in the last stretch of a long one-head cache (the worker’s item) runs the step in float64, as kernels: "js" computes it, and changes nothing else', () => {
    // 1,101 keys in 18 blocks make two stretches of nine blocks: the caller's item holds the first
    // 576 keys, the worker's the rest, this token's among them. Its own score overflows float32:
    // seed mode, q·k = 1e40 (+∞); given q, k and v with scale 1e-42, q·k = −1e40 (−∞), −0.01 in
    // float64, so its weight is about every other key's, where the −∞ taken as it came gives 0.
    const xs = Array.from({ length: 1100 }, (_, t) => [Math.sin(t), 1, -1, 0.5]);
    type Feed = (attn: Attention) => AttentionStep[];
    const cases: { options: AttentionOptions; prompt: Feed; bad: Feed }[] = [
      { options: { dim: 4 }, prompt: (a) => a.pushMany(xs), bad: (a) => a.push([0.5, 0.5, 0.5, 1e20]) },
      { options: { dim: 4, scale: 1e-42, weights: {} }, prompt: (a) => a.pushManyQKV(xs, xs, xs), bad: (a) => a.pushQKV([0, 0, 0, 1e20], [0.5, 0.5, 0.5, -1e20], [1, 2, 3, 4]) },
    ];
    const next = (a: Attention) => a.pushQKV([1, 1, 1, 1], [0.5, 0.5, 0.5, 0.5], [1, 1, 1, 1]);
    for (const { options, prompt, bad } of cases) {
      const plain = createAttention({ ...options, kernels: 'js', withWeights: true });
      prompt(plain);
      const [expected] = bad(plain);
      for (const threads of [pool2, null]) {
        const attn = createAttention({ ...options, withWeights: true, ...(threads === null ? {} : { threads }) });
        prompt(attn);
        const [step] = bad(attn);
        expect(step).toEqual(expected);
        expect(attn.length).toBe(1101);
        const fresh = createAttention({ ...options, withWeights: true, threads: pool2 });
        prompt(fresh);
        bad(fresh);
        expect(next(attn)).toEqual(next(fresh));
      }
    }
    // The −∞ case by hand: scores near 0 (1e20 · 0.5 · 1e-42) but the last one, −0.01.
    const even = createAttention({ ...cases[1]!.options, withWeights: true, threads: pool2 });
    cases[1]!.prompt(even);
    const [step] = cases[1]!.bad(even);
    expect(Math.abs(step!.weights![0]![1100]! - Math.exp(-0.01) / (1100 + Math.exp(-0.01)))).toBeLessThan(1e-9);
  });

  it('two overflowing heads of one kv head on a long cache: the step runs in float64, as kernels: "js" computes it, wherever the pool ran them', () => {
    // Two query heads read one kv head of two channels; 1,101 cached keys make two stretches of
    // nine blocks. A kv head's query heads take each stretch in turn, so the caller's share holds
    // stretch 0 of both heads and the worker's stretch 1: key 10 (stretch 0) overflows head 1's
    // float32 score to ±∞, key 700 (stretch 1) head 0's to −∞. Scaled by 1e-42 in float64 they
    // are ±0.01 and −0.01 among 1,101 scores near 0: the weights are near even, key 700's too.
    const options: AttentionOptions = {
      dim: 4,
      heads: 2,
      kvHeads: 1,
      scale: 1e-42,
      weights: { wq: new Float32Array(16), wk: new Float32Array(8), wv: new Float32Array(8) },
      withWeights: true,
    };
    for (const sign of [1, -1]) {
      const fill = (attn: Attention) => {
        for (let t = 0; t < 1101; t++) {
          const k = t === 10 ? [sign * 1e20, 0] : t === 700 ? [0, -1e20] : [Math.sin(t), Math.cos(t)];
          attn.pushQKV([0, 0, 0, 0], k, [Math.cos(t), 1]);
        }
      };
      const plain = createAttention({ ...options, kernels: 'js' });
      fill(plain);
      const [expected] = plain.pushQKV([0, 1e20, 1e20, 0], [0, 0], [1, 1]);
      const near = (w: number, score: number) => expect(Math.abs(w - Math.exp(score) / (1101 + Math.exp(score)))).toBeLessThan(1e-9);
      near(expected!.weights![0]![700]!, -0.01);
      near(expected!.weights![1]![10]!, sign * 0.01);
      for (const threads of [pool2, null]) {
        const attn = createAttention({ ...options, ...(threads === null ? {} : { threads }) });
        fill(attn);
        expect(attn.pushQKV([0, 1e20, 1e20, 0], [0, 0], [1, 1]), `sign ${sign}`).toEqual([expected]);
        expect(attn.length).toBe(1102);
        const fresh = createAttention({ ...options, threads: pool2 });
        fill(fresh);
        fresh.pushQKV([0, 1e20, 1e20, 0], [0, 0], [1, 1]);
        expect(attn.pushQKV([1, 0, 0, 1], [0.5, 0.5], [1, 2])).toEqual(fresh.pushQKV([1, 0, 0, 1], [0.5, 0.5], [1, 2]));
      }
    }
  });

  it('works through a stack, a snapshot restored onto the pool, and a memory that grows mid-stream', () => {
    const options = { dim: 96, heads: 6, kvHeads: 3, headDim: 16, withWeights: true, weights: projections(96, 6, 3, 16) };
    const stack = createAttentionStack({ layers: 2, ...options, threads: pool3 });
    const alone = createAttentionStack({ layers: 2, ...options });
    const x = (t: number) => Array.from({ length: 96 }, (_, c) => Math.sin(0.3 * t + 0.7 * c));
    // A decoder's loop: each layer's output is the next layer's input.
    const through = (s: AttentionStack, input: number[]) => {
      let h: ArrayLike<number> = input;
      const steps: AttentionStep[] = [];
      for (let i = 0; i < s.depth; i++) {
        const [step] = s.layer(i).push(h);
        steps.push(step!);
        h = step!.output;
      }
      return steps;
    };
    const arena = pool3.arena;
    const generation = arena.generation;
    let filler = -1;
    let fillerBytes = 0;
    for (let t = 0; t < 600; t++) {
      // Halfway, the shared memory must grow: the workers see the grown memory, the engines remake their views.
      if (t === 300) {
        fillerBytes = arena.buffer.byteLength;
        filler = arena.allocate(fillerBytes);
      }
      expect(through(stack, x(t))).toEqual(through(alone, x(t)));
    }
    expect(filler).toBeGreaterThan(0);
    expect(arena.generation).toBeGreaterThan(generation);
    arena.release(filler, fillerBytes);
    const single = createAttention({ ...options, threads: pool2 });
    for (let t = 0; t < 50; t++) single.push(x(t));
    const restored = restoreAttention(single.snapshot(), { ...options, threads: pool3 });
    expect(restored.options.threads).toBe(pool3);
    const reference = restoreAttention(single.snapshot(), options);
    for (let t = 50; t < 60; t++) expect(restored.push(x(t))).toEqual(reference.push(x(t)));
    // A stack's snapshot comes back onto a pool too (run choices alone will do), and on one thread without it.
    const threadedStack = restoreAttentionStack(stack.snapshot(), { threads: pool3 });
    expect(restoreAttentionStack(stack.snapshot(), { layers: [options, options], threads: pool2 }).layer(1).options.threads).toBe(pool2);
    const plainStack = restoreAttentionStack(stack.snapshot(), { layers: 2, ...options });
    expect([0, 1].map((i) => threadedStack.layer(i).options.threads)).toEqual([pool3, pool3]);
    expect(plainStack.layer(0).options.threads).toBeNull();
    for (let t = 0; t < 5; t++) expect(through(threadedStack, x(t))).toEqual(through(plainStack, x(t)));
    // ~20 s alone, ~35 s beside the other files on two cores (a pool of three there oversubscribes).
  }, 120_000);

  it('splits one head across threads on a long cache (stretches merged by log-sum-exp): bit for bit one thread, within float32 rounding of the TypeScript kernels', () => {
    // Past 1,024 keys a head's keys are cut into stretches, so even one head has items for every
    // thread; windows and sinks make the runs uneven, ALiBi biases each stretch differently.
    const configs: AttentionOptions[] = [
      { dim: 8, withWeights: true },
      { dim: 12, heads: 3, kvHeads: 1, headDim: 4, weights: projections(12, 3, 1, 4), positions: 'alibi', withWeights: true },
      { dim: 16, heads: 2, positions: 'rope', window: 1300, sinks: 3, blockSize: 48 },
      { dim: 8, heads: 1, blockSize: 7, withWeights: true },
    ];
    const longCase = fc.record({
      options: fc.constantFrom(...configs),
      length: fc.integer({ min: 1025, max: 2100 }),
      seed: fc.integer(),
      magnitude: fc.constantFrom(0.5, 4),
      repeats: fc.boolean(),
      pool: fc.constantFrom(2, 3),
    });
    fc.assert(
      fc.property(longCase, ({ options, length, seed, magnitude, repeats, pool }) => {
        const random = mulberry32(seed);
        // With repeats, runs of identical tokens: equal scores across stretch boundaries.
        let token: number[] = [];
        const xs = Array.from({ length }, (_, t) => {
          if (!repeats || t % 300 === 0) token = Array.from({ length: options.dim }, () => magnitude * (2 * random() - 1));
          return token;
        });
        const one = createAttention(options).pushMany(xs);
        const split = createAttention({ ...options, threads: pool === 2 ? pool2 : pool3 }).pushMany(xs);
        // Every step's output bit for bit (a plain loop: toEqual over millions of weights is slow),
        // and every hundredth step whole.
        for (let t = 0; t < length; t++) {
          if (!sameBits(split[t]!.output, one[t]!.output)) expect(split[t]).toEqual(one[t]);
          if (t % 100 === 99) expect(split[t]).toEqual(one[t]);
        }
        // Past the stretches' threshold, within float32's honest error of the TypeScript kernels
        // (the testing kit's bound, both sides float32: a fixed tolerance on weights fails at
        // scores near 100). The batch reference would take seconds per case here.
        const plain = createAttention({ ...options, kernels: 'js', withWeights: true }).pushMany(xs);
        const sampled = plain.filter((step) => step.index >= 1000 && step.index % 97 === 0);
        const bounds = errorBounds(xs, options, sampled, defaultTolerance(options), 2);
        sampled.forEach((step, n) => expect(compareStep(one[step.index]!, step, bounds[n]!, 'pushMany')).toBeNull());
      }),
      { numRuns: 8 },
    );
    // ~13 s alone, twice that beside the other files on two cores.
  }, 120_000);

  it('refuses configurations it cannot split, and anything that is not a pool', async () => {
    const refusal = (options: AttentionOptions, message: string) =>
      expect(() => createAttention(options)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining(message) }));
    refusal({ dim: 4, precision: 'float64', threads: pool2 }, 'needs the WebAssembly kernels');
    refusal({ dim: 4, precision: 'float64', cacheDtype: 'int8', threads: pool2 }, 'needs the WebAssembly kernels');
    refusal({ dim: 4, kernels: 'js', threads: pool2 }, 'needs the WebAssembly kernels');
    refusal({ dim: 4, threads: { threads: 2 } as unknown as ThreadPool }, 'must be a ThreadPool');
    // An object with the prototype and nothing behind it passed instanceof: a TypeError from inside at the first step.
    const hollow = Object.create(ThreadPool.prototype) as ThreadPool;
    refusal({ dim: 4, threads: hollow }, 'must be a ThreadPool');
    expect(() => createLinear({ rows: 2, cols: 2, weight: [1, 0, 0, 1], threads: hollow })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'threads' } }),
    );
    for (const bad of [0, 1.5, -1, Number.NaN, 2 ** 40, 1025, '2']) {
      await expect(createThreadPool(bad as number)).rejects.toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'threads' } }));
    }
    await expect(createThreadPool('2' as unknown as number)).rejects.toThrow('threads must be an integer from 1 to 1024, got "2" (a string)');
    // The class is exported (instanceof, the type); made by hand it was a TypeError from inside.
    const byHand = () => new (ThreadPool as unknown as new () => ThreadPool)();
    expect(byHand).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('createThreadPool(threads) from attnstream/threads') }));
  });

  it('refuses a pool where shared memory cannot be handed to workers (a page that is not cross-origin isolated)', async () => {
    const global = globalThis as { SharedArrayBuffer?: unknown };
    const saved = global.SharedArrayBuffer;
    delete global.SharedArrayBuffer;
    try {
      await expect(createThreadPool(2)).rejects.toThrow(expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining('cross-origin isolated') }));
    } finally {
      global.SharedArrayBuffer = saved;
    }
    // A page with SharedArrayBuffer that is not isolated is told so, not that it lacks the type.
    const page = globalThis as { crossOriginIsolated?: boolean };
    page.crossOriginIsolated = false;
    try {
      await expect(createThreadPool(2)).rejects.toThrow(expect.objectContaining({ code: 'INVALID_OPTION', message: 'threads: this page is not cross-origin isolated, so its shared memory cannot go to workers' }));
    } finally {
      delete page.crossOriginIsolated;
    }
  });

  it('says why where the kernels cannot compile, not that the page must be isolated (a page whose Content-Security-Policy forbids WebAssembly was told so)', async () => {
    const validate = vi.spyOn(WebAssembly, 'validate').mockReturnValue(false);
    try {
      const refused = createThreadPool(2);
      await expect(refused).rejects.toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'threads' }, message: expect.stringContaining("a Content-Security-Policy without 'wasm-unsafe-eval'") }));
      await expect(refused).rejects.toThrow(expect.not.objectContaining({ message: expect.stringContaining('cross-origin isolated') }));
    } finally {
      validate.mockRestore();
    }
  });

  it('a closed pool leaves its engines running, on their own thread, with the same numbers', async () => {
    const pool = await createThreadPool(2);
    const options = { dim: 32, heads: 4, withWeights: true };
    const attn = createAttention({ ...options, threads: pool });
    const one = createAttention(options);
    const x = (t: number) => Array.from({ length: 32 }, (_, c) => Math.cos(t * c));
    for (let t = 0; t < 20; t++) expect(attn.push(x(t))).toEqual(one.push(x(t)));
    await pool.close();
    expect(pool.closed).toBe(true);
    for (let t = 20; t < 40; t++) expect(attn.push(x(t))).toEqual(one.push(x(t)));
  });

  it('close() resolves once the workers have stopped, the second call too (found by a pool audit: it resolved at once)', async () => {
    // Workers whose terminate takes a while, and says when it is done.
    let stopped = 0;
    const slow = await startThreadPool(3, async () => ({ terminate: () => new Promise<void>((resolve) => setTimeout(() => resolve(void stopped++), 30)) }));
    const first = slow.close();
    const second = slow.close();
    expect(second).toBe(first);
    await second;
    expect(stopped).toBe(2);
    expect(slow.closed).toBe(true);
  });

  it('a worker that never takes its share (gone, or never started) costs time, not a hang: the calling thread runs the share, bit for bit', async () => {
    const absent = await startThreadPool(3, async () => ({ terminate: () => undefined }));
    const options = { dim: 64, heads: 8, withWeights: true, weights: projections(64, 8, 8, 8) };
    const attn = createAttention({ ...options, threads: absent });
    const one = createAttention(options);
    const x = (t: number) => Array.from({ length: 64 }, (_, c) => Math.cos(t * 0.3 + c));
    const prompt = Array.from({ length: 40 }, (_, t) => x(t));
    expect(attn.pushMany(prompt)).toEqual(one.pushMany(prompt));
    for (let t = 40; t < 300; t++) expect(attn.push(x(t))).toEqual(one.push(x(t)));
    await absent.close();
  });

  it('a worker stalled inside its first chunk of every step leaves the rest of its share to the calling thread, bit for bit', async () => {
    // The worker's kernels, wrapped: each step's first attend call sleeps 20 ms (a thread the host
    // descheduled), and every call counts its items in a buffer the test reads.
    const counts = new Int32Array(new SharedArrayBuffer(8));
    const stalled = await startThreadPool(2, async (data) => {
      const worker = new Worker(
        `import('node:worker_threads').then(({ workerData }) => {
          const Instance = WebAssembly.Instance;
          const counts = new Int32Array(workerData.counts);
          WebAssembly.Instance = function (module, imports) {
            const { attend, project } = new Instance(module, imports).exports;
            let step = -1;
            return { exports: { project, attend: (job, i0, i1) => {
              if (Atomics.load(counts, 1) !== step) {
                step = Atomics.load(counts, 1);
                Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
              }
              Atomics.add(counts, 0, i1 - i0);
              return attend(job, i0, i1);
            } } };
          };
          (${WORKER_LOOP_SOURCE})(workerData, () => {});
        });`,
        { eval: true, workerData: { ...data, counts: counts.buffer } },
      );
      worker.unref();
      return worker;
    });
    // 8 heads of 64 over ~1,500 keys: 16 items (each head's keys in two stretches), shares of 8,
    // chunks of 2; the calling thread's share takes long enough for the worker to join.
    const options = { dim: 512, heads: 8 };
    const attn = createAttention({ ...options, threads: stalled });
    const one = createAttention(options);
    const x = (t: number) => Array.from({ length: 512 }, (_, c) => Math.sin(t * 0.4 + c));
    for (let t = 0; t < 1500; t++) expect(sameBits(attn.push(x(t))[0]!.output, one.push(x(t))[0]!.output)).toBe(true);
    // Steps until the worker has joined three (a loaded machine may keep it off a core for a while).
    const ran: number[] = [];
    for (let t = 1500; ran.filter((items) => items > 0).length < 3 && t < 20_000; t++) {
      Atomics.store(counts, 0, 0);
      Atomics.store(counts, 1, t);
      expect(sameBits(attn.push(x(t))[0]!.output, one.push(x(t))[0]!.output)).toBe(true);
      ran.push(Atomics.load(counts, 0));
      // Back to 1,500 keys, so every step has the same items.
      attn.truncate(1500);
      one.truncate(1500);
    }
    // Each step it ran the chunk it held when it stalled, or nothing when it joined too late: the
    // other three chunks of its share ran here (a whole share, 8 items, before chunks).
    expect(ran.every((items) => items === 0 || items === 2)).toBe(true);
    expect(ran.filter((items) => items === 2).length).toBe(3);
    await stalled.close();
  }, 60_000);

  it('a worker that starts while steps are running joins them mid-stream, bit for bit', async () => {
    let control: Int32Array | null = null;
    // Not waiting for the worker to be ready: the steps begin while its thread still boots.
    const late = await startThreadPool(2, async (data) => {
      control = new Int32Array(data.control);
      const worker = new Worker(`import('node:worker_threads').then(({ workerData }) => (${WORKER_LOOP_SOURCE})(workerData, () => {}));`, { eval: true, workerData: data });
      worker.unref();
      return worker;
    });
    const options = { dim: 64, heads: 8, weights: projections(64, 8, 8, 8) };
    const attn = createAttention({ ...options, threads: late });
    const one = createAttention(options);
    const x = (t: number) => Array.from({ length: 64 }, (_, c) => Math.sin(t * 0.7 + c));
    // Slot 0's DONE (its second Int32) counts up once the worker has finished a share of its own.
    const workerFinished = () => control![1]! > 0;
    let t = 0;
    for (; t < 2000 || (!workerFinished() && t < 100_000); t++) {
      if (!sameBits(attn.push(x(t))[0]!.output, one.push(x(t))[0]!.output)) break;
      if (attn.length === 512) {
        attn.truncate(256);
        one.truncate(256);
      }
    }
    expect(workerFinished()).toBe(true);
    expect(sameBits(attn.push(x(t))[0]!.output, one.push(x(t))[0]!.output)).toBe(true);
    await late.close();
  }, 60_000);

  it('a pool of 1 is the calling thread alone', async () => {
    const pool = await createThreadPool(1);
    expect(pool.threads).toBe(1);
    const attn = createAttention({ dim: 8, heads: 2, threads: pool });
    expect(Array.from(attn.push([1, 2, 3, 4, 5, 6, 7, 8])[0]!.output)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    await pool.close();
  });
});

function projections(dim: number, heads: number, kvHeads: number, headDim: number): AttentionOptions['weights'] {
  const matrix = (rows: number, cols: number, seed: number) => Float64Array.from({ length: rows * cols }, (_, i) => Math.sin(seed + 0.61 * i) / Math.sqrt(cols));
  return {
    wq: matrix(heads * headDim, dim, 1),
    wk: matrix(kvHeads * headDim, dim, 2),
    wv: matrix(kvHeads * headDim, dim, 3),
    wo: matrix(dim, heads * headDim, 4),
  };
}

describe('threads: projections split across a ThreadPool', () => {
  it("the project kernel, a prompt's tokens or a token's rows in shares, gives every number one thread does", () => {
    fc.assert(
      fc.property(
        fc.record({ n: fc.integer({ min: 1, max: 13 }), rows: fc.integer({ min: 64, max: 300 }), cols: fc.integer({ min: 200, max: 300 }), seed: fc.integer(), three: fc.boolean() }),
        ({ n, rows, cols, seed, three }) => {
          const pool = three ? pool3 : pool2;
          const arena = pool.arena;
          const random = mulberry32(seed);
          const wAt = arena.allocate(4 * rows * cols);
          const xAt = arena.allocate(4 * n * cols);
          const split = arena.allocate(4 * n * rows);
          const alone = arena.allocate(4 * n * rows);
          const { f32 } = arena.views();
          for (let i = 0; i < rows * cols; i++) f32[(wAt >>> 2) + i] = random() - 0.5;
          writeTokenRows(f32, xAt >>> 2, Float64Array.from({ length: n * cols }, () => Math.fround((random() - 0.5) * 4)), n, cols);
          const before = (pool as unknown as { sequence: number }).sequence;
          pool.project(split, xAt, wAt, n, rows, cols);
          // From 2^16 multiply-adds a product is worth a hand-over to the workers, below it stays here;
          // up to three tokens go one by one, each token's rows shared; a group of exactly four stays here.
          const handOvers = n < 4 ? (rows * cols >= 2 ** 16 ? n : 0) : n > 4 && n * rows * cols >= 2 ** 16 ? 1 : 0;
          expect((pool as unknown as { sequence: number }).sequence).toBe(before + handOvers);
          arena.project(alone, xAt, wAt, n, rows, cols);
          const views = arena.views();
          expect(views.f32.slice(split >>> 2, (split >>> 2) + n * rows)).toEqual(views.f32.slice(alone >>> 2, (alone >>> 2) + n * rows));
          for (const [at, bytes] of [[wAt, 4 * rows * cols], [xAt, 4 * n * cols], [split, 4 * n * rows], [alone, 4 * n * rows]] as const) arena.release(at, bytes);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('an engine with projections on a pool pushes, prompts and forks bit for bit as on one thread', () => {
    // dim 264: every product but k and v (132 rows) is big enough to be split.
    const random = mulberry32(5);
    const matrix = (rows: number, cols: number) => Float32Array.from({ length: rows * cols }, () => (random() * 2 - 1) / Math.sqrt(cols));
    const dim = 264;
    const options: AttentionOptions = {
      dim,
      heads: 4,
      kvHeads: 2,
      headDim: 66,
      positions: 'rope',
      withWeights: true,
      weights: { wq: matrix(264, dim), wk: matrix(132, dim), wv: matrix(132, dim), wo: matrix(dim, 264) },
    };
    const xs = Array.from({ length: 24 }, () => Array.from({ length: dim }, () => (random() - 0.5) * 4));
    for (const pool of [pool2, pool3]) {
      const run = (attn: Attention): AttentionStep[] => {
        const steps = [...attn.pushMany(xs.slice(0, 9)), ...xs.slice(9, 15).flatMap((x) => attn.push(x))];
        const twin = attn.fork();
        steps.push(...twin.pushMany(xs.slice(15, 18)), ...twin.pushMany(xs.slice(18)));
        twin.dispose();
        attn.dispose();
        return steps;
      };
      expect(run(createAttention({ ...options, threads: pool }))).toEqual(run(createAttention(options)));
    }
  });
});
