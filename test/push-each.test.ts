import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AttentionError, createAttention, createAttentionStack, pushEach, pushEachQKV, resolveOptions } from '../src/index.js';
import type { Attention, AttentionOptions, AttentionStep, CacheEvent } from '../src/index.js';
import { createThreadPool } from '../src/threads/index.js';
import { configArbitrary, tokensArbitrary } from './support/engine-arbitraries.js';

// pushEach(engines, xs): one token into each of several forks, projected together. The claim is
// exact: every engine ends as if it had been pushed its own token alone, bit for bit.

/** A step as plain numbers, so that toEqual compares every bit of it. */
const plain = (steps: AttentionStep[]) =>
  steps.map((s) => ({ index: s.index, output: Array.from(s.output), positions: s.positions && Array.from(s.positions), weights: s.weights?.map((w) => Array.from(w)) }));

const beamCase = configArbitrary({ precision: 'float32', wideHeads: true })
  .chain((options) =>
    fc.record({
      options: fc.constant(options),
      prompt: tokensArbitrary(options.dim, 0, 12),
      // Per beam: the tokens it took alone before the batched step, then its batched token.
      beams: fc.array(fc.record({ before: tokensArbitrary(options.dim, 0, 3), x: tokensArbitrary(options.dim, 1, 1) }), { minLength: 1, maxLength: 5 }),
    }),
  );

describe('pushEach: one token into each fork, projected as one product', () => {
  it('leaves every fork exactly as its own push would (outputs, weights, positions, later steps), for every option, both kernel paths and precisions', () => {
    for (const precision of ['float32', 'float64'] as const) {
      fc.assert(
        fc.property(beamCase, ({ options: drawn, prompt, beams }) => {
          const options: AttentionOptions = { ...drawn, precision };
          const root = createAttention(options);
          if (prompt.length > 0) root.pushMany(prompt);
          const batched = beams.map(() => root.fork());
          const alone = beams.map(() => root.fork());
          beams.forEach((b, i) => {
            for (const x of b.before) {
              batched[i]!.push(x);
              alone[i]!.push(x);
            }
          });
          const heard = beams.map(() => [[], []] as [CacheEvent[], CacheEvent[]]);
          beams.forEach((_, i) => {
            batched[i]!.addCacheListener((e) => heard[i]![0].push(e));
            alone[i]!.addCacheListener((e) => heard[i]![1].push(e));
          });
          const together = pushEach(batched, beams.map((b) => b.x[0]!));
          beams.forEach((b, i) => {
            expect(plain(together[i]!)).toEqual(plain(alone[i]!.push(b.x[0]!)));
            expect(batched[i]!.length).toBe(alone[i]!.length);
            // The same cache events (appends, a window's evictions), and the same memory after them.
            expect(heard[i]![0]).toEqual(heard[i]![1]);
            expect(batched[i]!.stats()).toEqual(alone[i]!.stats());
            expect(plain(batched[i]!.flush())).toEqual(plain(alone[i]!.flush()));
          });
        }),
        { numRuns: 60 },
      );
    }
  });

  it('on a thread pool and with int8 caches: the same numbers as every fork pushing alone', async () => {
    const pool = await createThreadPool(2);
    try {
      const w = (seed: number, n: number) => Array.from({ length: n }, (_, i) => Math.sin(seed * 5 + i) / 4);
      for (const cacheDtype of ['float32', 'int8'] as const) {
        const options: AttentionOptions = { dim: 16, heads: 4, kvHeads: 2, headDim: 4, blockSize: 4, cacheDtype, threads: pool, weights: { wq: w(1, 256), wk: w(2, 128), wv: w(3, 128), wo: w(4, 256) } };
        const root = createAttention(options);
        root.pushMany(Array.from({ length: 13 }, (_, t) => Array.from({ length: 16 }, (_, c) => Math.cos(t * 3 + c))));
        const beams = [root.fork(), root.fork(), root.fork(), root.fork(), root.fork()];
        const twins = beams.map((b) => b.fork());
        for (let step = 0; step < 6; step++) {
          const xs = beams.map((_, i) => Array.from({ length: 16 }, (_, c) => Math.sin(step * 11 + i * 7 + c)));
          const together = pushEach(beams, xs);
          xs.forEach((x, i) => expect(plain(together[i]!)).toEqual(plain(twins[i]!.push(x))));
        }
      }
    } finally {
      await pool.close();
    }
  });

  it('batches a stack layer by layer across its forks (a beam search step)', () => {
    const w = (seed: number, n: number) => Array.from({ length: n }, (_, i) => Math.sin(seed * 7 + i) / 3);
    const layer = { dim: 8, heads: 4, kvHeads: 2, headDim: 2, positions: 'rope' as const, weights: { wq: w(1, 64), wk: w(2, 32), wv: w(3, 32), wo: w(4, 64), bq: w(5, 8) } };
    const stack = createAttentionStack({ layers: [layer, layer] });
    const token = (t: number) => Array.from({ length: 8 }, (_, c) => Math.cos(t + c));
    for (const t of [0, 1, 2]) {
      let h: ArrayLike<number> = token(t);
      for (let l = 0; l < stack.depth; l++) h = stack.layer(l).push(h)[0]!.output;
    }
    const beams = [stack.fork(), stack.fork(), stack.fork()];
    const twins = beams.map((b) => b.fork());
    let hs: ArrayLike<number>[] = [token(10), token(11), token(12)];
    for (let l = 0; l < stack.depth; l++) {
      const steps = pushEach(beams.map((b) => b.layer(l)), hs);
      hs.forEach((h, i) => expect(Array.from(steps[i]![0]!.output)).toEqual(Array.from(twins[i]!.layer(l).push(h)[0]!.output)));
      hs = steps.map((s) => s[0]!.output);
    }
    expect(beams.map((b) => b.length)).toEqual([4, 4, 4]);
  });

  it('serves sessions of one model: forks of the empty stack, their prompts of different lengths, then decoded together', () => {
    const w = (seed: number, n: number) => Array.from({ length: n }, (_, i) => Math.sin(seed * 5 + i) / 3);
    const layer = { dim: 8, heads: 4, kvHeads: 2, headDim: 2, positions: 'rope' as const, sinkLogits: [0, 1, -1, 2], weights: { wq: w(1, 64), wk: w(2, 32), wv: w(3, 32), wo: w(4, 64) } };
    const model = createAttentionStack({ layers: [layer, { ...layer, window: 3 }] });
    const token = (t: number) => Array.from({ length: 8 }, (_, c) => Math.cos(0.7 * t + c));
    const forward = (stack: typeof model, x: ArrayLike<number>) => {
      let h = x;
      for (let l = 0; l < stack.depth; l++) h = stack.layer(l).push(h)[0]!.output;
      return h;
    };
    // Each session its fork of the empty model (the weights are the model's, shared), and its own prompt.
    const sessions = [1, 4, 6].map((length, s) => {
      const session = model.fork();
      for (let t = 0; t < length; t++) forward(session, token(10 * s + t));
      return session;
    });
    const twins = sessions.map((session) => session.fork());
    for (let step = 0; step < 3; step++) {
      let hs: ArrayLike<number>[] = sessions.map((_, s) => token(100 + 10 * s + step));
      const alone = twins.map((twin, s) => forward(twin, hs[s]!));
      for (let l = 0; l < model.depth; l++) hs = pushEach(sessions.map((session) => session.layer(l)), hs).map((steps) => steps[0]!.output);
      hs.forEach((h, s) => expect(Array.from(h)).toEqual(Array.from(alone[s]!)));
    }
    expect(sessions.map((session) => session.length)).toEqual([4, 7, 9]);
    expect(model.length).toBe(0);
  });

  it('is all or nothing: a score that overflows in one engine leaves every engine as it was, with no events', () => {
    // Identity projections in float64: x = [1e155, …] makes q·k = 4·1e310, past a double. (In
    // float32 no score overflows: the WebAssembly kernels' float32 dot product past 3.4e38 runs
    // the step in float64; the next test refuses an output instead.)
    const eye = Array.from({ length: 16 }, (_, i) => (i % 5 === 0 ? 1 : 0));
    const root = createAttention({ dim: 4, heads: 1, precision: 'float64', weights: { wq: eye, wk: eye, wv: eye }, window: 2 });
    for (let t = 0; t < 5; t++) root.push([t, 1, 0, 0]);
    const beams = [root.fork(), root.fork(), root.fork()];
    const events: CacheEvent[] = [];
    beams.forEach((b) => b.addCacheListener((e) => events.push(e)));
    const before = beams.map((b) => [b.length, b.stats().bytes]);
    // It names the engine: the beams share token 5 (a power-user hunt had to search for it).
    expect(() => pushEach(beams, [[1, 2, 3, 4], [1e155, 1e155, 1e155, 1e155], [4, 3, 2, 1]])).toThrow(
      expect.objectContaining({ code: 'NON_FINITE', message: expect.stringMatching(/\(engines\[1\]\)$/), details: expect.objectContaining({ field: 'score', token: 5, engine: 1 }) }),
    );
    expect(beams.map((b) => [b.length, b.stats().bytes])).toEqual(before);
    expect(events).toEqual([]);
    // They go on exactly as forks that never saw the refused step.
    const fresh = root.fork();
    expect(beams[0]!.push([1, 2, 3, 4])).toEqual(fresh.push([1, 2, 3, 4]));
  });

  it('is all or nothing in float32 too, on both kernel paths: an output that overflows in wo in one engine leaves every engine as it was, with no events', () => {
    // A float32 score no longer overflows (the WebAssembly kernels run such a step in float64); an
    // output does: x = [1e10, …] through wo = 1e30·I is 1e40, past float32's largest. It is found
    // after every engine cached its row and attended, in wo's one product for all of them.
    const eye = Array.from({ length: 16 }, (_, i) => (i % 5 === 0 ? 1 : 0));
    for (const kernels of ['auto', 'js'] as const) {
      const root = createAttention({ dim: 4, heads: 1, kernels, weights: { wq: eye, wk: eye, wv: eye, wo: eye.map((w) => w * 1e30) }, window: 2 });
      expect(root.options.kernels).toBe(kernels === 'auto' ? 'wasm' : 'js');
      for (let t = 0; t < 5; t++) root.push([t, 1, 0, 0]);
      const beams = [root.fork(), root.fork(), root.fork()];
      const events: CacheEvent[] = [];
      beams.forEach((b) => b.addCacheListener((e) => events.push(e)));
      const before = beams.map((b) => [b.length, b.stats(), b.snapshot()]);
      expect(() => pushEach(beams, [[1, 2, 3, 4], [1e10, 0, 0, 0], [4, 3, 2, 1]])).toThrow(
        expect.objectContaining({ code: 'NON_FINITE', message: expect.stringMatching(/\(engines\[1\]\)$/), details: expect.objectContaining({ field: 'output', token: 5, engine: 1 }) }),
      );
      expect(beams.map((b) => [b.length, b.stats(), b.snapshot()])).toEqual(before);
      expect(events).toEqual([]);
      const fresh = root.fork();
      expect(beams[0]!.push([1, 2, 3, 4])).toEqual(fresh.push([1, 2, 3, 4]));
    }
  });

  it("names the engine whose projection or output overflowed too, as its input's (found by a review)", () => {
    const eye = [1, 0, 0, 1];
    const overflowed = (weights: object, x: number[], field: string) => {
      const root = createAttention({ dim: 2, heads: 1, precision: 'float64', weights });
      root.push([1, 1]);
      const beams = [root.fork(), root.fork(), root.fork()];
      expect(() => pushEach(beams, [[1, 1], [1, 1], x])).toThrow(expect.objectContaining({ code: 'NON_FINITE', details: expect.objectContaining({ field, token: 1, engine: 2 }) }));
      expect(beams.map((b) => b.length)).toEqual([1, 1, 1]);
    };
    overflowed({ wq: [1e300, 0, 0, 1], wk: eye, wv: eye }, [1e10, 1], 'projected query');
    overflowed({ wq: eye, wk: eye, wv: eye, wo: [1e300, 0, 0, 1] }, [1e10, 1], 'output');
  });

  it('refuses engines that are not forks of one engine, an engine twice, and bad inputs, changing nothing', () => {
    const options: AttentionOptions = { dim: 2, heads: 1, weights: { wq: [1, 0, 0, 1], wk: [1, 0, 0, 1], wv: [1, 0, 0, 1] } };
    const a = createAttention(options);
    const b = createAttention(options);
    const fork = a.fork();
    const refusal = (engines: Attention[], xs: unknown[], code: string, field: string) =>
      expect(() => pushEach(engines, xs as number[][])).toThrow(expect.objectContaining({ code, details: expect.objectContaining({ field }) }));
    refusal([a, b], [[1, 2], [3, 4]], 'INVALID_ARGUMENT', 'engines');
    refusal([a, a], [[1, 2], [3, 4]], 'INVALID_ARGUMENT', 'engines');
    refusal([], [], 'INVALID_ARGUMENT', 'engines');
    refusal([a, fork], [[1, 2]], 'DIMENSION_MISMATCH', 'xs');
    refusal([a, fork], [[1, 2], [3]], 'DIMENSION_MISMATCH', 'x');
    refusal([a, fork], [[1, 2], [3, Number.NaN]], 'NON_FINITE', 'x');
    expect(() => pushEach([a, fork], [[1, 2], [3, Number.NaN]])).toThrow(expect.objectContaining({ details: { field: 'x', token: 0, element: 1, actual: 'NaN', engine: 1 } }));
    // A hole in the engines (found by a bug hunt: it was skipped, and the next engine took its input).
    const holed = [a, fork, fork.fork()];
    delete holed[1];
    expect(() => pushEach(holed, [[1, 2], [3, 4], [5, 6]])).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'engines', element: 1 } }));
    expect(() => pushEach(null as unknown as Attention[], [])).toThrow(AttentionError);
    expect([a.length, fork.length]).toEqual([0, 0]);
    // An iterator of the array's own is not what pairs engines with rows (a reentrancy audit: one
    // yielding [fork, a] gave fork a's input, silently; one yielding only a left fork out).
    fork.push([5, -6]);
    for (const yielded of [[fork, a], [a]]) {
      const engines = [a, fork];
      Object.defineProperty(engines, Symbol.iterator, { value: () => yielded[Symbol.iterator]() });
      const twins = [a.fork(), fork.fork()];
      const steps = pushEach(engines, [[1, 2], [3, 4]]);
      expect(steps).toEqual([twins[0]!.push([1, 2]), twins[1]!.push([3, 4])]);
      a.truncate(0);
      fork.truncate(1);
    }
    fork.truncate(0);
    fork.dispose();
    refusal([a, fork], [[1, 2], [3, 4]], 'DISPOSED', 'pushEach');
    const callerProjects = createAttention({ dim: 2, heads: 1, weights: {} });
    refusal([callerProjects, callerProjects.fork()], [[1, 2], [3, 4]], 'INVALID_ARGUMENT', 'pushEach');
    expect(a.length).toBe(0);
  });
});

describe('pushEachQKV: rows the caller projected, one into each fork', () => {
  it('leaves every fork exactly as its own pushQKV would, wo batched, for every option and both precisions', () => {
    for (const precision of ['float32', 'float64'] as const) {
      fc.assert(
        fc.property(beamCase, fc.integer(), ({ options: drawn, prompt, beams }, seed) => {
          const options: AttentionOptions = { ...drawn, precision };
          const { heads, kvHeads, headDim } = resolveOptions(options);
          let state = seed;
          const row = (width: number) => Array.from({ length: width }, () => ((state = (state * 1103515245 + 12345) | 0) % 1000) / 250);
          const root = createAttention(options);
          if (prompt.length > 0) root.pushMany(prompt);
          const batched = beams.map(() => root.fork());
          const alone = beams.map(() => root.fork());
          const rows = beams.map(() => ({ q: row(heads * headDim), k: row(kvHeads * headDim), v: row(kvHeads * headDim) }));
          const together = pushEachQKV(batched, rows.map((r) => r.q), rows.map((r) => r.k), rows.map((r) => r.v));
          rows.forEach((r, i) => {
            expect(plain(together[i]!)).toEqual(plain(alone[i]!.pushQKV(r.q, r.k, r.v)));
            expect(batched[i]!.stats()).toEqual(alone[i]!.stats());
            expect(plain(batched[i]!.flush())).toEqual(plain(alone[i]!.flush()));
          });
        }),
        { numRuns: 40 },
      );
    }
  });

  it('is all or nothing, and refuses what pushEach refuses, naming qs, ks, vs and the row', () => {
    const root = createAttention({ dim: 2, heads: 1, precision: 'float64', weights: { wo: [1, 0, 0, 1] } });
    root.pushQKV([1, 0], [0, 1], [1, 1]);
    const beams = [root.fork(), root.fork()];
    expect(() => pushEachQKV(beams, [[1, 0], [1e200, 1e200]], [[0, 1], [1e200, 1e200]], [[1, 1], [1, 1]])).toThrow(
      expect.objectContaining({ code: 'NON_FINITE', details: expect.objectContaining({ field: 'score', token: 1 }) }),
    );
    expect(beams.map((b) => b.length)).toEqual([1, 1]);
    const refusal = (qs: unknown[], ks: unknown[], vs: unknown[], code: string, field: string) =>
      expect(() => pushEachQKV(beams, qs as number[][], ks as number[][], vs as number[][])).toThrow(expect.objectContaining({ code, details: expect.objectContaining({ field }) }));
    refusal([[1, 0]], [[1, 0], [1, 0]], [[1, 0], [1, 0]], 'DIMENSION_MISMATCH', 'qs');
    refusal([[1, 0], [1, 0]], [[1, 0], [1, 0]], [[1, 0]], 'DIMENSION_MISMATCH', 'vs');
    refusal([[1, 0], [1, 0]], [[1, 0], [1]], [[1, 0], [1, 0]], 'DIMENSION_MISMATCH', 'k');
    expect(() => pushEachQKV(beams, [[1, 0], [1, 0]], [[1, 0], [1]], [[1, 0], [1, 0]])).toThrow(expect.objectContaining({ details: expect.objectContaining({ field: 'k', engine: 1 }) }));
    refusal([[1, 0], [1, 0]], 'ks' as never, [[1, 0], [1, 0]], 'INVALID_ARGUMENT', 'ks');
    expect(() => pushEachQKV([beams[0]!, createAttention({ dim: 2, heads: 1, precision: 'float64', weights: { wo: [1, 0, 0, 1] } })], [[1, 0], [1, 0]], [[1, 0], [1, 0]], [[1, 0], [1, 0]])).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'engines', element: 1 } }),
    );
    expect(beams.map((b) => b.length)).toEqual([1, 1]);
  });
});
