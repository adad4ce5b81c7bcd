import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { batchAttention, batchAttentionQKV, createAttention, restoreAttention } from '../src/index.js';
import type { AttentionOptions, AttentionStep } from '../src/index.js';
import { decodeSafetensors, encodeSafetensors } from '../src/cache/safetensors.js';
import { referenceAttention } from '../src/testing/index.js';
import { expectClose, sum } from './support/close.js';
import { configArbitrary, mulberry32 } from './support/engine-arbitraries.js';

// An engine whose caller projects: weights without wq, wk and wv (only wo and bo, or nothing), fed
// q, k and v by pushQKV, as a model that normalizes q and k after projecting them must be.

/** Projected configs (any head layout, positions, window, look-ahead, kernels) and the same engine without its input projections. */
const projectedCase = configArbitrary({ precision: 'float64' })
  .filter((o) => o.weights !== undefined)
  .chain((options) => fc.integer({ min: 1, max: 12 }).map((length) => ({ options, length })));

function withoutInputProjections(options: AttentionOptions): AttentionOptions {
  const { wq: _q, wk: _k, wv: _v, bq: _bq, bk: _bk, bv: _bv, ...rest } = options.weights!;
  return { ...options, weights: rest };
}

/** `w·x + b` in float64, w row-major. */
function project(w: ArrayLike<number>, b: ArrayLike<number> | undefined, x: readonly number[]): number[] {
  return Array.from({ length: w.length / x.length }, (_, r) => x.reduce((s, v, c) => s + w[r * x.length + c]! * v, 0) + (b?.[r] ?? 0));
}

const flushed = (steps: AttentionStep[], engine: { flush(): AttentionStep[] }) => [...steps, ...engine.flush()];

describe('an engine whose caller projects (weights without wq, wk, wv)', () => {
  it('gives through pushQKV exactly what an engine holding the projections gives through pushQKV, and within 1e-12 what it gives through push', () => {
    fc.assert(
      fc.property(projectedCase, fc.integer(), ({ options, length }, seed) => {
        const random = mulberry32(seed);
        const w = options.weights!;
        const xs = Array.from({ length }, () => Array.from({ length: options.dim }, () => random() * 4 - 2));
        const qkv = xs.map((x) => [project(w.wq!, w.bq, x), project(w.wk!, w.bk, x), project(w.wv!, w.bv, x)] as const);
        const caller = createAttention(withoutInputProjections(options));
        const holder = createAttention(options);
        const pushedQKV = flushed(qkv.flatMap(([q, k, v]) => caller.pushQKV(q, k, v)), caller);
        expect(pushedQKV).toEqual(flushed(qkv.flatMap(([q, k, v]) => holder.pushQKV(q, k, v)), holder));
        const pushed = createAttention(options);
        flushed(xs.flatMap((x) => pushed.push(x)), pushed).forEach((step, n) => expectClose(pushedQKV[n]!.output, step.output, 1e-12, `output ${step.index}`));
      }),
      { numRuns: 80 },
    );
  });

  it('batchAttentionQKV gives what pushQKV row by row and a flush give, outputs and weights: 1e-12 in float64, 1e-5 in float32, hostile rows too (identical, zero, 1e4-scale, one row)', () => {
    // At 1e4 scale scores reach 1e8, where one rounding is ~1e-8 absolute and the engine's dot
    // product adds in another order than the batch's plain loop: two keys whose scores lie within
    // that of each other could trade weight. Random rows never draw such a near tie (gaps are
    // ~1e8 wide, so weights are one-hot, or exactly tied for identical rows and capped scores),
    // so float64 is held to 1e-12 there too. In float32 the scores are past its resolution (the
    // spacing at 1e8 is 8): finite outputs and normalized weights are what it owes.
    const rowsCase = fc.constantFrom('float64' as const, 'float32' as const).chain((precision) =>
      configArbitrary({ precision })
        .filter((o) => o.weights !== undefined)
        .chain((options) => fc.record({ options: fc.constant(withoutInputProjections(options)), length: fc.integer({ min: 1, max: 12 }), kind: fc.constantFrom('random', 'identical', 'zeros', 'large') })),
    );
    fc.assert(
      fc.property(rowsCase, fc.integer(), ({ options, length, kind }, seed) => {
        const random = mulberry32(seed);
        const { heads = 1, kvHeads = heads } = options;
        const headDim = options.headDim ?? options.dim / heads;
        const draw = (width: number): number[] => Array.from({ length: width }, () => (kind === 'zeros' ? 0 : kind === 'large' ? 1e4 : 1) * (random() * 4 - 2));
        const row = (width: number): number[][] => {
          const drawn = Array.from({ length }, () => draw(width));
          return kind === 'identical' ? drawn.map(() => drawn[0]!) : drawn;
        };
        const [qs, ks, vs] = [row(heads * headDim), row(kvHeads * headDim), row(kvHeads * headDim)];
        const engine = createAttention(options);
        const pushed = flushed(qs.flatMap((q, i) => engine.pushQKV(q, ks[i]!, vs[i]!)), engine);
        const batch = batchAttentionQKV(qs, ks, vs, options);
        const tolerance = options.precision === 'float64' ? 1e-12 : 1e-5;
        expect(batch.map((step) => step.index)).toEqual(pushed.map((step) => step.index));
        batch.forEach((step, n) => {
          const mine = pushed[n]!;
          expect(Array.from(mine.positions!)).toEqual(Array.from(step.positions!));
          expect(mine.weights).toHaveLength(heads);
          if (kind === 'large' && options.precision === 'float32') {
            expect(mine.output.every(Number.isFinite), `output ${step.index}`).toBe(true);
            for (const w of mine.weights!) {
              expect(w.every((a) => a >= 0), `weights ${step.index}`).toBe(true);
              // Sink logits take their share of the weight; without them the keys' weights sum to 1.
              if (options.sinkLogits === undefined) expect(Math.abs(sum(w) - 1), `weight sum ${step.index}`).toBeLessThanOrEqual(1e-5);
              else expect(sum(w), `weight sum ${step.index}`).toBeLessThanOrEqual(1 + 1e-5);
            }
          } else {
            expectClose(mine.output, step.output, tolerance, `output ${step.index}`);
            mine.weights!.forEach((w, h) => expectClose(w, step.weights![h]!, tolerance, `weights of head ${h}, token ${step.index}`));
          }
        });
      }),
      { numRuns: 120 },
    );
  });

  it('batchAttentionQKV refuses lists of different lengths, a bad row (naming its token) and options that project inputs', () => {
    const options = { dim: 2, heads: 1, weights: {} };
    expect(() => batchAttentionQKV([[1, 0]], [[1, 0]], [], options)).toThrow(expect.objectContaining({ code: 'DIMENSION_MISMATCH', details: expect.objectContaining({ field: 'vs' }) }));
    expect(() => batchAttentionQKV([[1, 0], [0, 1]], [[1, 0], [0]], [[1, 0], [0, 1]], options)).toThrow(expect.objectContaining({ code: 'DIMENSION_MISMATCH', details: expect.objectContaining({ field: 'k', token: 1 }) }));
    expect(() => batchAttentionQKV([[NaN, 0]], [[1, 0]], [[1, 0]], options)).toThrow(expect.objectContaining({ code: 'NON_FINITE', details: expect.objectContaining({ field: 'q', token: 0 }) }));
    expect(() => batchAttentionQKV('q' as never, [], [], options)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'qs' } }));
    // Within a token, q, k and v are read before the key turns, as pushQKV reads them (a review).
    const rope = { dim: 2, heads: 1, precision: 'float64' as const, positions: 'rope' as const, weights: {} };
    const big = Number.MAX_VALUE;
    const readFirst = expect.objectContaining({ code: 'NON_FINITE', details: expect.objectContaining({ field: 'v', token: 1 }) });
    expect(() => createAttention(rope).pushManyQKV([[1, 0], [1, 0]], [[1, 0], [big, big]], [[1, 0], [NaN, 0]])).toThrow(readFirst);
    expect(() => batchAttentionQKV([[1, 0], [1, 0]], [[1, 0], [big, big]], [[1, 0], [NaN, 0]], rope)).toThrow(readFirst);
    const projecting = { dim: 2, weights: { wq: [1, 0, 0, 1], wk: [1, 0, 0, 1], wv: [1, 0, 0, 1] } };
    expect(() => batchAttentionQKV([[1, 0]], [[1, 0]], [[1, 0]], projecting)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'options' } }));
  });

  it('pushManyQKV equals pushQKV row by row, bit for bit, split anywhere, in both precisions and on both kernel paths', () => {
    fc.assert(
      fc.property(projectedCase, fc.constantFrom<'float32' | 'float64'>('float32', 'float64'), fc.nat(), fc.integer(), ({ options, length }, precision, split, seed) => {
        const random = mulberry32(seed);
        const o: AttentionOptions = { ...withoutInputProjections(options), precision };
        const qw = o.heads! * o.headDim!;
        const kw = o.kvHeads! * o.headDim!;
        const rows = (width: number) => Array.from({ length }, () => Array.from({ length: width }, () => random() * 4 - 2));
        const [qs, ks, vs] = [rows(qw), rows(kw), rows(kw)];
        const one = createAttention(o);
        const expected = flushed(qs.flatMap((q, i) => one.pushQKV(q, ks[i]!, vs[i]!)), one);
        const many = createAttention(o);
        const cut = split % (length + 1);
        const actual = [...many.pushManyQKV(qs.slice(0, cut), ks.slice(0, cut), vs.slice(0, cut)), ...many.pushManyQKV(qs.slice(cut), ks.slice(cut), vs.slice(cut))];
        expect(flushed(actual, many)).toEqual(expected);
      }),
      { numRuns: 80 },
    );
  });

  it('pushManyQKV is all or nothing: rows of different counts or one bad row, and nothing is cached', () => {
    const engine = createAttention({ dim: 4, heads: 2, kvHeads: 1, headDim: 2, weights: {} });
    const row = (n: number) => new Array(n).fill(0.5);
    expect(() => engine.pushManyQKV([row(4), row(4)], [row(2)], [row(2), row(2)])).toThrow(
      expect.objectContaining({ code: 'DIMENSION_MISMATCH', details: { field: 'ks', expected: 2, actual: 1 } }),
    );
    expect(() => engine.pushManyQKV([row(4), row(4)], [row(2), row(2)], [row(2)])).toThrow(
      expect.objectContaining({ code: 'DIMENSION_MISMATCH', details: { field: 'vs', expected: 2, actual: 1 } }),
    );
    expect(() => engine.pushManyQKV([row(4), row(4)], [row(2), [0.5, Number.NaN]], [row(2), row(2)])).toThrow(
      expect.objectContaining({ code: 'NON_FINITE', details: expect.objectContaining({ field: 'k', token: 1 }) }),
    );
    expect(() => engine.pushManyQKV(null as never, [], [])).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'qs' } }));
    expect(engine.length).toBe(0);
  });

  it('holds no input weights, refuses inputs x (push, pushMany, batchAttention, the testing kit) and changes nothing', () => {
    const options: AttentionOptions = { dim: 6, heads: 4, kvHeads: 2, headDim: 8, positions: 'rope', weights: { wo: new Array(6 * 32).fill(0.01) } };
    const engine = createAttention(options);
    expect(engine.options.weights).toMatchObject({ wq: null, wk: null, wv: null });
    expect(engine.options.scale).toBeCloseTo(1 / Math.sqrt(8), 15);
    engine.pushQKV(new Array(32).fill(0.5), new Array(16).fill(1), new Array(16).fill(2));
    for (const refused of [() => engine.push(new Array(6).fill(1)), () => engine.pushMany([new Array(6).fill(1)]), () => batchAttention([new Array(6).fill(1)], options)]) {
      expect(refused).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('give q, k and v to pushQKV') }));
    }
    expect(() => referenceAttention([new Array(6).fill(1)], options)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'weights' } }));
    expect(engine.length).toBe(1);
  });

  it('saves and restores without input projections (a version-3 file), continuing bit for bit', () => {
    const options: AttentionOptions = { dim: 4, heads: 2, kvHeads: 1, headDim: 4, weights: { wo: Array.from({ length: 32 }, (_, i) => Math.sin(i)), bo: [1, 2, 3, 4] } };
    const engine = createAttention(options);
    const row = (n: number, k: number) => Array.from({ length: n }, (_, i) => Math.cos(i * k));
    engine.pushQKV(row(8, 1), row(4, 2), row(4, 3));
    const bytes = engine.snapshot();
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect([...tensors.keys()].filter((name) => name.startsWith('weights.')).sort()).toEqual(['weights.bo', 'weights.wo']);
    expect(metadata['version']).toBe('3');
    expect(restoreAttention(bytes).pushQKV(row(8, 4), row(4, 5), row(4, 6))).toEqual(engine.pushQKV(row(8, 4), row(4, 5), row(4, 6)));
  });

  it('saves and restores an engine that holds no matrix at all (weights: {}): marked "none", not mistaken for seed mode', () => {
    // GQA and heads·headDim ≠ dim: a seed-mode engine could not even have these options.
    const options: AttentionOptions = { dim: 6, heads: 2, kvHeads: 1, headDim: 4, weights: {} };
    const engine = createAttention(options);
    const row = (n: number, k: number) => Array.from({ length: n }, (_, i) => Math.cos(i * k));
    engine.pushQKV(row(8, 1), row(4, 2), row(4, 3));
    const bytes = engine.snapshot();
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect([...tensors.keys()].filter((name) => name.startsWith('weights.'))).toEqual([]);
    expect(metadata['weights']).toBe('none');
    expect(metadata['version']).toBe('3');
    for (const restored of [restoreAttention(bytes), restoreAttention(bytes, options), restoreAttention(bytes, { kernels: 'auto' })]) {
      expect(restored.options.weights).not.toBeNull();
      expect(() => restored.push(row(6, 7))).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'push' } }));
      expect(restored.pushQKV(row(8, 4), row(4, 5), row(4, 6))).toEqual(engine.fork().pushQKV(row(8, 4), row(4, 5), row(4, 6)));
    }
    // A seed-mode engine's options are refused against it, and "none" beside weight tensors is corrupt.
    expect(() => restoreAttention(bytes, { dim: 8, heads: 2 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    const withTensor = createAttention({ ...options, weights: { wo: new Array(48).fill(0.5) } }).snapshot();
    const forged = encodeSafetensors(Object.fromEntries(decodeSafetensors(withTensor).tensors), { ...decodeSafetensors(withTensor).metadata, weights: 'none' });
    expect(() => restoreAttention(forged)).toThrow(expect.objectContaining({ code: 'CORRUPT_SNAPSHOT', message: expect.stringContaining('"none" but the file holds weight tensors') }));
  });

  it('refuses some of wq, wk, wv without the others, and an input bias without its matrix', () => {
    const w = new Array(16).fill(0.1);
    expect(() => createAttention({ dim: 4, weights: { wq: w, wk: w } })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', message: 'option weights must give wq, wk and wv together (got wq and wk), or none of them when pushQKV brings q, k and v' }),
    );
    expect(() => createAttention({ dim: 4, weights: { bk: [1, 2, 3, 4] } })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'weights.bk' } }));
    expect(createAttention({ dim: 4, heads: 2, kvHeads: 1, weights: {} }).options.outputDim).toBe(4);
  });
});

describe('batchAttentionQKV: mutation audit', () => {
  it('names the count that differs: ks shorter than qs is actual ks.length, even when vs matches', () => {
    const options: AttentionOptions = { dim: 2, weights: {} };
    expect(() => batchAttentionQKV([[1, 0], [0, 1]], [[1, 0]], [[1, 0], [0, 1]], options)).toThrow(
      expect.objectContaining({ code: 'DIMENSION_MISMATCH', details: { field: 'ks', expected: 2, actual: 1 } }),
    );
  });

  it('takes q, k and v in the precision as pushQKV stores them: float32 rows and their float64 originals give the same steps', () => {
    const random = mulberry32(5);
    const options: AttentionOptions = { dim: 4, heads: 2, headDim: 2, precision: 'float32', weights: {}, withWeights: true };
    const rows = (n: number) => Array.from({ length: 6 }, () => Array.from({ length: n }, () => random() * 4 - 2));
    const [qs, ks, vs] = [rows(4), rows(4), rows(4)];
    const rounded = (list: number[][]) => list.map((row) => Float32Array.from(row));
    expect(batchAttentionQKV(qs, ks, vs, options)).toEqual(batchAttentionQKV(rounded(qs), rounded(ks), rounded(vs), options));
  });
});
