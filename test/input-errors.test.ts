import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lastValueFrom } from 'rxjs';
import { alibiSlopes, AttentionError, batchAttention, createAttention, createAttentionStack, createCrossAttention, createLinear, pushEach, resolveOptions, restoreAttention, restoreAttentionStack } from '../src/index.js';
import { EmbeddingTable, generate, tokenize } from '../src/rx/index.js';
import { attentionOptionsArbitrary, attentionWeightsArbitrary, checkCacheLaws, checkIncremental, referenceAttention } from '../src/testing/index.js';
import type { Attention, AttentionOptions, AttentionStep, CrossAttentionOptions } from '../src/index.js';
import { caseArbitrary } from './support/engine-arbitraries.js';
import { refusal } from './support/refusal.js';


describe('bad options are refused with INVALID_OPTION naming the option', () => {
  const cases: [string, AttentionOptions, string][] = [
    ['dim zero', { dim: 0 }, 'dim'],
    ['dim fractional', { dim: 2.5 }, 'dim'],
    ['heads not dividing dim', { dim: 6, heads: 4 }, 'heads'],
    ['kvHeads not dividing heads', { dim: 12, heads: 4, kvHeads: 3, headDim: 3, weights: { wq: [], wk: [], wv: [] } }, 'kvHeads'],
    ['negative heads', { dim: 4, heads: -1 }, 'heads'],
    ['seed mode with fewer kv heads', { dim: 4, heads: 2, kvHeads: 1 }, 'kvHeads'],
    ['unknown option (a typo)', { dim: 4, head: 2 } as unknown as AttentionOptions, 'head'],
    ['bad precision', { dim: 4, precision: 'float16' as 'float32' }, 'precision'],
    ['zero scale', { dim: 4, scale: 0 }, 'scale'],
    ['NaN scale', { dim: 4, scale: NaN }, 'scale'],
    ['window zero', { dim: 4, window: 0 }, 'window'],
    ['sinks without window', { dim: 4, sinks: 2 }, 'sinks'],
    ['retain without window', { dim: 4, retain: 2 }, 'retain'],
    ['negative lookahead', { dim: 4, lookahead: -1 }, 'lookahead'],
    ['odd head size with RoPE', { dim: 3, positions: 'rope' }, 'positions'],
    ['ropeBase without RoPE', { dim: 4, ropeBase: 500000 }, 'ropeBase'],
    // Found by a positions audit: the list's length was checked first (DIMENSION_MISMATCH, "expected 1.5 numbers").
    ['ropeFrequencies without RoPE, of a length no head has', { dim: 3, ropeFrequencies: [1] }, 'ropeFrequencies'],
    ['unknown positions', { dim: 4, positions: 'learned' as 'rope' }, 'positions'],
    ['block size zero', { dim: 4, blockSize: 0 }, 'blockSize'],
    ['dim past any typed array', { dim: 2 ** 33 }, 'dim'],
    ['heads·headDim too wide', { dim: 4, heads: 2 ** 13, headDim: 2 ** 12, weights: { wq: [], wk: [], wv: [] } }, 'headDim'],
    ['block size past the limit', { dim: 2, blockSize: 2 ** 33 }, 'blockSize'],
    ['a block of keys past the limit', { dim: 2 ** 14, blockSize: 2 ** 14 }, 'blockSize'],
    // Found by a resource hunt: its keys fit, but the first push allocated 8 GiB of queries (a RangeError past 2³²).
    ['a block of look-ahead queries past the limit', { dim: 1, heads: 32768, kvHeads: 1, headDim: 1, weights: {}, lookahead: 1, blockSize: 65536 }, 'blockSize'],
    ['a number given as a string', { dim: '4' } as unknown as AttentionOptions, 'dim'],
  ];
  it.each(cases)('%s', (_, options, field) => {
    const error = refusal(() => createAttention(options));
    expect(error.code).toBe('INVALID_OPTION');
    expect(error.details.field).toBe(field);
    expect(error.message).toContain(field);
  });

  it('weights of the wrong size: DIMENSION_MISMATCH with the expected shape', () => {
    const error = refusal(() => createAttention({ dim: 4, heads: 2, weights: { wq: new Float64Array(16), wk: new Float64Array(15), wv: new Float64Array(16) } }));
    expect(error.code).toBe('DIMENSION_MISMATCH');
    expect(error.message).toBe('weights.wk: expected 4×4 = 16 numbers (row-major), got 15');
  });

  it('a weight that only claims its length is refused at its first missing number, before room for the rest is made', () => {
    // Found by a resource hunt: 128 bytes of JSON options made 8 GiB before element 0 was checked,
    // and past a typed array's limit the allocation threw a RangeError.
    const claim = (length: number) => ({ length }) as unknown as number[];
    for (const [dim, heads] of [[2 ** 13, 8], [2 ** 24, 1]] as const) {
      const before = process.memoryUsage().arrayBuffers;
      const error = refusal(() => createAttention({ dim, heads, precision: 'float64', weights: { wq: claim(dim * dim), wk: claim(dim * dim), wv: claim(dim * dim) } }));
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 2 ** 20);
      expect(error).toMatchObject({ code: 'NON_FINITE', message: 'weights.wq: element 0 (row 0, column 0) is undefined', details: { field: 'weights.wq', element: 0 } });
    }
    expect(refusal(() => createLinear({ rows: 2 ** 15, cols: 2 ** 15, weight: claim(2 ** 30) }))).toMatchObject({ code: 'NON_FINITE', details: { element: 0 } });
    // A typed array whose subclass's length lies is measured by its own, as an input is (found by
    // a review: it threw a RangeError, or zero-filled the missing numbers).
    class Lying extends Float32Array {
      override get length(): number {
        return 4;
      }
    }
    for (const numbers of [[1, 2], [1, 2, 3, 4, 5, 6]]) {
      expect(refusal(() => createAttention({ dim: 2, weights: { wq: new Lying(numbers), wk: [1, 0, 0, 1], wv: [1, 0, 0, 1] } }))).toMatchObject({
        code: 'DIMENSION_MISMATCH',
        details: { field: 'weights.wq', expected: 4, actual: numbers.length },
      });
    }
    expect(createAttention({ dim: 2, precision: 'float64', weights: { wq: new Lying([1, 2, 3, 4]), wk: [1, 0, 0, 1], wv: [1, 0, 0, 1] } }).options.weights!.wq).toEqual(Float64Array.of(1, 2, 3, 4));
    // Numbers past the first growth are read and checked as well.
    const long = Array.from({ length: 2 ** 22 }, (_, i) => (i % 5) - 2);
    long[2 ** 21 + 3] = Number.NaN;
    expect(refusal(() => createAttention({ dim: 2 ** 11, heads: 8, weights: { wq: long, wk: long, wv: long } }))).toMatchObject({ code: 'NON_FINITE', details: { element: 2 ** 21 + 3 } });
  });

  it('an unknown option key is cut to 60 characters in the message and the field', () => {
    // Found by a resource hunt: a 10 MB key was echoed whole, twice.
    const key = 'k'.repeat(10_000_000);
    const error = refusal(() => createAttention({ dim: 2, [key]: 1 } as unknown as AttentionOptions));
    expect(error.details.field).toBe(`${'k'.repeat(60)}…`);
    expect(error.message.startsWith(`option ${'k'.repeat(60)}… is not an option (known: dim, `)).toBe(true);
    expect(error.message.length).toBeLessThan(400);
  });

  it("options the runtime always refuses do not type-check either (npm test's typecheck holds the @ts-expect-error lines)", () => {
    // Found by a types hunt: the unions took a self-attention key beside run choices or per-layer
    // options, and cross-attention took self-attention's options and weights without wq, wk, wv.
    const bytes = createAttention({ dim: 2 }).snapshot();
    const invalid = expect.objectContaining({ code: 'INVALID_OPTION' });
    // @ts-expect-error: a per-layer list holds objects of options
    expect(() => createAttentionStack({ layers: [2], window: 4 })).toThrow(invalid);
    // @ts-expect-error: options without dim choose only how the restored engine runs
    expect(() => restoreAttention(bytes, { withWeights: true, window: 4 })).toThrow(invalid);
    // @ts-expect-error
    expect(() => restoreAttentionStack(createAttentionStack({ layers: 1, dim: 2 }).snapshot(), { withWeights: true, heads: 1 })).toThrow(invalid);
    // @ts-expect-error: cross-attention projects its queries and memory itself
    expect(() => createCrossAttention({ dim: 2, weights: { wo: [1, 0, 0, 1] } })).toThrow(invalid);
    const selfAttention: AttentionOptions = { dim: 2, positions: 'rope' };
    // @ts-expect-error: self-attention's options may place keys in a stream
    expect(() => createCrossAttention(selfAttention)).toThrow(invalid);
    // What both take is typed as cross-attention's options, and goes to either.
    const shared: CrossAttentionOptions = { dim: 2, heads: 1 };
    expect(createAttention(shared).length + createCrossAttention(shared).memoryLength).toBe(0);
  });

  it('bad input through any public function reaches the caller as an AttentionError, never a TypeError or RangeError', async () => {
    // Found by an errors.md audit: each of these threw a TypeError or RangeError, or (applyMany)
    // tried to allocate 16 GiB.
    const refusedAs = (code: string, field: string, run: () => unknown) => expect(refusal(run)).toMatchObject({ code, details: expect.objectContaining({ field }) });
    refusedAs('INVALID_OPTION', 'layers', () => createAttentionStack({ layers: 2 ** 32, dim: 2 }));
    refusedAs('INVALID_OPTION', 'layers', () => createAttentionStack({ layers: Array.from({ length: 4097 }, () => ({ dim: 2 })) }));
    refusedAs('INVALID_OPTION', 'layers', () => restoreAttentionStack(createAttentionStack({ layers: 1, dim: 2 }).snapshot(), { layers: 2 ** 32, dim: 2 }));
    for (const heads of [-1, 0, 1.5, 2 ** 40, '8']) refusedAs('INVALID_ARGUMENT', 'heads', () => alibiSlopes(heads as number));
    refusedAs('INVALID_ARGUMENT', 'text', () => tokenize(null as unknown as string));
    refusedAs('INVALID_ARGUMENT', 'shape', () => attentionWeightsArbitrary(null as never));
    refusedAs('INVALID_ARGUMENT', 'factory', () => checkIncremental(null as never));
    refusedAs('INVALID_ARGUMENT', 'factory', () => checkCacheLaws(null as never));
    refusedAs('INVALID_ARGUMENT', 'blockSizes[0]', () => attentionOptionsArbitrary({ blockSizes: [, 2] as number[] }));
    const wide = createLinear({ rows: 2 ** 24, cols: 1, weight: new Float32Array(2 ** 24), kernels: 'js' });
    refusedAs('INVALID_ARGUMENT', 'xs', () => wide.applyMany(new Float32Array(256)));
    expect(wide.applyMany(new Float32Array(1)).length).toBe(2 ** 24);
    wide.dispose();
    const engine = { push: () => undefined, options: resolveOptions({ dim: 1 }) } as unknown as Attention;
    const error = await lastValueFrom(generate({ engine, first: [1], next: () => [1], maxTokens: 2 })).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'engine', token: 0 } });
  });

  it('a size given as a string: the message shows it was a string', () => {
    expect(refusal(() => createAttention({ dim: '4' } as unknown as AttentionOptions)).message).toBe('option dim must be a positive integer, got "4" (a string)');
  });

  it('float32 weights past float32\'s range: NON_FINITE at creation, not Infinity stored', () => {
    const error = refusal(() => createAttention({ dim: 2, weights: { wq: [1e39, 0, 0, 1], wk: [1, 0, 0, 1], wv: [1, 0, 0, 1] } }));
    expect(error.code).toBe('NON_FINITE');
    expect(error.message).toBe("weights.wq: element 0 (row 0, column 0) is 1e+39, beyond float32's range");
    expect(createAttention({ dim: 2, precision: 'float64', weights: { wq: [1e39, 0, 0, 1], wk: [1, 0, 0, 1], wv: [1, 0, 0, 1] } }).length).toBe(0);
  });

  it('batchAttention of something that is not an array: INVALID_ARGUMENT', () => {
    expect(refusal(() => batchAttention(null as never, { dim: 2 }))).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'xs' } });
  });

  it('batchAttention refuses a score beyond a double as a push does, rather than returning NaN', () => {
    // Found by a docs audit: the batch twin returned NaN outputs and weights where push refused.
    const options = { dim: 1, precision: 'float64' as const, withWeights: true };
    expect(refusal(() => batchAttention([[1], [1e200]], options))).toMatchObject({ code: 'NON_FINITE', details: { field: 'score', token: 1 } });
    const attn = createAttention(options);
    attn.push([1]);
    expect(refusal(() => attn.push([1e200]))).toMatchObject({ code: 'NON_FINITE', details: { field: 'score', token: 1 } });
    // What the engine takes, the twin takes (found by a review): a −∞ score weighs nothing, and a
    // cap bends +∞ to itself. q1 = [1e200, 1] against k0 = [∓1e200, 0].
    for (const [k0, cap] of [[-1e200, undefined], [1e200, 30]] as const) {
      const taken = { dim: 2, heads: 1, precision: 'float64' as const, kernels: 'js' as const, ...(cap === undefined ? {} : { scoreCap: cap }), weights: { wq: [0, 1e200, 0, 1], wk: [k0, 0, 0, 0], wv: [1, 0, 0, 1] } };
      const engine = createAttention(taken);
      expect(batchAttention([[1, 0], [0, 1]], taken)).toEqual([...engine.pushMany([[1, 0], [0, 1]]), ...engine.flush()]);
    }
  });

  it('non-finite weights: NON_FINITE with row and column', () => {
    const wq = new Float64Array(16);
    wq[6] = Infinity;
    const error = refusal(() => createAttention({ dim: 4, weights: { wq, wk: new Float64Array(16), wv: new Float64Array(16) } }));
    expect(error.code).toBe('NON_FINITE');
    expect(error.message).toBe('weights.wq: element 6 (row 1, column 2) is Infinity');
  });
});

describe('bad vectors are refused with the token index', () => {
  it('wrong length: DIMENSION_MISMATCH', () => {
    const attn = createAttention({ dim: 4 });
    attn.push([1, 2, 3, 4]);
    const error = refusal(() => attn.push([1, 2, 3]));
    expect(error.code).toBe('DIMENSION_MISMATCH');
    expect(error.message).toBe('x at token 1: expected length 4, got 3');
    expect(error.details).toMatchObject({ token: 1, expected: 4, actual: 3 });
  });

  it.each([NaN, Infinity, -Infinity])('%s: NON_FINITE naming the element', (bad) => {
    const attn = createAttention({ dim: 3 });
    const error = refusal(() => attn.push([0, bad, 0]));
    expect(error.code).toBe('NON_FINITE');
    expect(error.details).toMatchObject({ token: 0, element: 1 });
  });

  it.each([
    ['a number array', [0, 1e300]],
    ['a Float64Array', Float64Array.of(0, 1e300)],
  ])('pushQKV in float32 with a finite value beyond float32 (%s): NON_FINITE, never a cached Infinity', (_, bad) => {
    // Found on review: the value was stored as Infinity and the output came back Infinity.
    for (const kernels of ['auto', 'js'] as const) {
      for (const field of ['q', 'k', 'v'] as const) {
        const attn = createAttention({ dim: 2, kernels });
        attn.pushQKV([1, 2], [3, 4], [5, 6]);
        const rows = { q: [1, 1], k: [1, 1], v: [1, 1], [field]: bad };
        const error = refusal(() => attn.pushQKV(rows.q, rows.k, rows.v));
        expect(error.code).toBe('NON_FINITE');
        expect(error.message).toBe(`${field} at token 1: element 1 is 1e+300, beyond float32's range (±3.4e38) of precision 'float32'`);
        expect(error.details).toMatchObject({ field, token: 1, element: 1 });
        expect(attn.length).toBe(1);
        const fresh = createAttention({ dim: 2, kernels });
        fresh.pushQKV([1, 2], [3, 4], [5, 6]);
        expect(attn.pushQKV([1, 1], [1, 1], [1, 1])).toEqual(fresh.pushQKV([1, 1], [1, 1], [1, 1]));
      }
    }
  });

  it("a float32 engine's input beyond float32's range is refused as the input, whatever the kernels and the call", () => {
    // Found by a bug hunt: with weights, the TypeScript kernels (which project in float64) took
    // x = [1e39, …] and the WebAssembly ones reported an overflow of the projected query.
    const tiny = [1e-10, 0, 0, 1];
    // Keys without the first channel, so that no score overflows at the edge.
    const weights = { wq: tiny, wk: [0, 0, 0, 1], wv: tiny };
    const huge = [1e39, 1];
    const edge = [3.4028235e38, 1]; // past float32's largest, but stored as it, not as Infinity
    for (const kernels of ['auto', 'js'] as const) {
      const options: CrossAttentionOptions = { dim: 2, kernels, weights };
      const attn = createAttention(options);
      attn.push([1, 2]);
      const calls: [string, () => unknown, string, number, object?][] = [
        ['push', () => attn.push(huge), 'x', 1],
        ['pushMany', () => attn.pushMany([[1, 1], huge]), 'x', 2],
        ['pushEach', () => pushEach([attn, attn.fork()], [[1, 1], huge]), 'x', 1, { engine: 1 }],
        ['batchAttention', () => batchAttention([[1, 1], huge], options), 'x', 1],
        ['setMemory', () => createCrossAttention(options).setMemory([huge]), 'memory', 0],
        ['attend', () => {
          const cross = createCrossAttention(options);
          cross.setMemory([[1, 1]]);
          return cross.attend(huge);
        }, 'x', 0],
        ['apply', () => createLinear({ rows: 1, cols: 2, weight: [1e-10, 1], kernels }).apply(huge), 'x', 0],
      ];
      for (const [name, call, field, token, engine] of calls) {
        const error = refusal(call);
        expect(error.code, `${kernels} ${name}`).toBe('NON_FINITE');
        expect(error.details, `${kernels} ${name}`).toEqual({ field, token, element: 0, actual: '1e+39', ...engine });
        expect(error.message).toContain("beyond float32's range (±3.4e38) of precision 'float32'");
      }
      expect(attn.length).toBe(1);
      expect(Array.from(attn.push(edge)[0]!.output).every(Number.isFinite)).toBe(true);
      expect(createAttention({ ...options, precision: 'float64' }).push(huge)[0]!.output[0]).toBeCloseTo(1e29, -20);
    }
  });

  it.each([null, true, '1', undefined])('an entry that is not a number (%s) is refused, not stored as 0, 1 or NaN', (bad) => {
    const error = refusal(() => createAttention({ dim: 2 }).push([1, bad as unknown as number]));
    expect(error.code).toBe('NON_FINITE');
    expect(error.details).toMatchObject({ token: 0, element: 1, actual: String(bad) });
  });

  it('not an array: INVALID_ARGUMENT', () => {
    const error = refusal(() => createAttention({ dim: 3 }).push(undefined as unknown as number[]));
    expect(error.code).toBe('INVALID_ARGUMENT');
  });

  it('projections that overflow to Infinity: NON_FINITE before anything is cached', () => {
    const huge = new Float64Array(4).fill(1e300);
    const attn = createAttention({ dim: 2, precision: 'float64', weights: { wq: huge, wk: huge, wv: huge } });
    const error = refusal(() => attn.push([1e10, 1e10]));
    expect(error.code).toBe('NON_FINITE');
    expect(attn.length).toBe(0);
  });

  it('pushQKV with a key of the wrong size', () => {
    const attn = createAttention({ dim: 8, heads: 4, kvHeads: 2, weights: { wq: new Float64Array(64), wk: new Float64Array(32), wv: new Float64Array(32) } });
    const error = refusal(() => attn.pushQKV(new Float64Array(8), new Float64Array(3), new Float64Array(4)));
    expect(error.message).toBe('k at token 0: expected length 4, got 3');
  });

  it('pushMany is all or nothing: one bad vector and none is cached', () => {
    const attn = createAttention({ dim: 2 });
    const error = refusal(() => attn.pushMany([[1, 2], [3, 4], [5]]));
    expect(error.details.token).toBe(2);
    expect(attn.length).toBe(0);
  });

  it('a list of millions of holes is refused as its first hole, not by allocating room for every row', () => {
    // Found by a bug hunt: pushMany(new Array(2 ** 22)) at dim 1,024 threw a RangeError making a 32 GB array.
    const holes = new Array(2 ** 22) as number[][];
    const dim = 1024;
    const firstHole = expect.objectContaining({ code: 'INVALID_ARGUMENT', details: expect.objectContaining({ token: 0, expected: dim }) });
    const attn = createAttention({ dim });
    expect(() => attn.pushMany(holes)).toThrow(firstHole);
    expect(() => attn.pushManyQKV(holes, holes, holes)).toThrow(firstHole);
    expect(attn.length).toBe(0);
    const cross = createCrossAttention({ dim });
    expect(() => cross.setMemory(holes)).toThrow(firstHole);
    cross.setMemory([new Float32Array(dim)]);
    expect(() => cross.attendMany(holes)).toThrow(firstHole);
    const weight = new Float32Array(4 * dim);
    expect(() => createLinear({ rows: 4, cols: dim, weight }).applyMany(holes)).toThrow(firstHole);
  });

  // Found by a reentrancy hunt: the shape check read a subclass's length getter, the copy the
  // array's own length: one number short, the row kept the previous token's number in its place.
  it("a typed array is measured by its own length, not a subclass's length getter", () => {
    class Lying extends Float32Array {
      override get length(): number {
        return 2;
      }
    }
    const attn = createAttention({ dim: 2, precision: 'float64' });
    attn.push([3, 7]);
    for (const [numbers, actual] of [[[1], 1], [[1, 2, 3], 3]] as const) {
      const error = refusal(() => attn.push(new Lying(numbers)));
      expect(error).toMatchObject({ code: 'DIMENSION_MISMATCH', details: { token: 1, expected: 2, actual } });
    }
    expect(attn.length).toBe(1);
  });

  it("reads a list's length once: a Proxy whose length changes between reads is read as it first said", () => {
    const rows = [[1, 0], [0, 1], [5, 5]];
    const shrinking = () => {
      let reads = 0;
      return new Proxy(rows.slice(), { get: (target, key, receiver) => (key === 'length' ? (++reads === 1 ? 3 : 2) : Reflect.get(target, key, receiver)) });
    };
    const plain = createAttention({ dim: 2, precision: 'float64' }).pushMany(rows);
    const attn = createAttention({ dim: 2, precision: 'float64' });
    expect(attn.pushMany(shrinking())).toEqual(plain);
    expect(attn.length).toBe(3);
    const cross = createCrossAttention({ dim: 2, precision: 'float64' });
    cross.setMemory(shrinking());
    expect(cross.memoryLength).toBe(3);
    expect(cross.attendMany(shrinking())).toHaveLength(3);
  });

  it("a refused value is shown without its own toString: a typed array's wrapper, a 2^32 − 1 array, or an object whose toString pushes (a fuzz audit: TypeError, RangeError, and a refused truncate that changed the engine)", () => {
    const wrapper = Object.create(Float32Array.prototype) as never;
    const huge: number[] = [];
    huge.length = 2 ** 32 - 1;
    const attn = createAttention({ dim: 2 });
    attn.push([1, 0]);
    const pushes = { toString: () => (attn.push([9, 9]), 'x') };
    for (const n of [wrapper, huge, pushes]) expect(refusal(() => attn.truncate(n as never))).toMatchObject({ code: 'OUT_OF_RANGE', details: { field: 'n' } });
    expect(attn.length).toBe(1);
    expect(refusal(() => attn.push([wrapper, 1] as never))).toMatchObject({ code: 'NON_FINITE', details: { field: 'x', element: 0 } });
    expect(refusal(() => createAttention({ dim: 1, weights: { wq: [huge as never], wk: [1], wv: [1] } }))).toMatchObject({ code: 'NON_FINITE', details: { field: 'weights.wq' } });
    expect(refusal(() => createAttentionStack({ layers: 2, dim: 1 }).layer(wrapper))).toMatchObject({ code: 'OUT_OF_RANGE' });
    expect(refusal(() => createLinear({ rows: 1, cols: 1, weight: [1] }).row(huge as never))).toMatchObject({ code: 'OUT_OF_RANGE' });
  });

  it('a wrong argument is named in a few words however large: its kind and length, not its numbers', () => {
    // Found by a bug hunt: applyMany's flat output passed back to applyMany gave a 73,783-character
    // message, a flat encoder output given to setMemory one of 2.9 million.
    const flat = new Float32Array(1500 * 384).fill(0.5);
    const messages = [
      refusal(() => createLinear({ rows: 2, cols: 384, weight: new Float32Array(768) }).applyMany(Int16Array.from(flat) as never)).message,
      refusal(() => createLinear({ rows: 32000, cols: 2, weight: new Float32Array(64000) }).apply([1, 2], new Float32Array(31999))).message,
      // A flat Float32Array is rows now (VectorRows); other typed arrays are still no list.
      refusal(() => createCrossAttention({ dim: 384, heads: 6 }).setMemory(Int16Array.from(flat) as never)).message,
      refusal(() => createCrossAttention({ dim: 384, heads: 6 }).setMemory(flat.subarray(1))).message,
    ];
    expect(messages).toEqual([
      'applyMany: expected an array of vectors, got an Int16Array of 576000 numbers',
      'apply: out must be a Float32Array of at least 32000 numbers, got a Float32Array of 31999 numbers',
      'setMemory: expected an array of rows, got an Int16Array of 576000 numbers',
      'setMemory: 575999 numbers are not whole rows of 384',
    ]);
  });

  it('a disposed engine refuses every call with DISPOSED', () => {
    const attn = createAttention({ dim: 2 });
    attn.dispose();
    expect(refusal(() => attn.push([1, 2])).code).toBe('DISPOSED');
    expect(refusal(() => attn.fork()).code).toBe('DISPOSED');
  });
});

describe('a rejected input leaves the engine exactly as it was', () => {
  const badVector = (dim: number) =>
    fc.oneof(
      fc.integer({ min: 0, max: dim + 2 }).filter((n) => n !== dim).map((n) => new Array<number>(n).fill(1)),
      fc.tuple(fc.integer({ min: 0, max: dim - 1 }), fc.constantFrom(NaN, Infinity, -Infinity)).map(([at, value]) => {
        const x = new Array<number>(dim).fill(0.5);
        x[at] = value;
        return x;
      }),
    );

  it('the next pushes give the results they would have given without it', () => {
    fc.assert(
      fc.property(
        caseArbitrary({}, 16).chain(({ options, xs }) =>
          fc.array(fc.tuple(fc.integer({ min: 0, max: xs.length }), badVector(options.dim)), { minLength: 1, maxLength: 4 }).map((bad) => ({ options, xs, bad })),
        ),
        ({ options, xs, bad }) => {
          const clean = createAttention(options);
          const disturbed = createAttention(options);
          const expected: AttentionStep[] = [];
          const actual: AttentionStep[] = [];
          xs.forEach((x, i) => {
            for (const [at, vector] of bad) if (at === i) expect(() => disturbed.push(vector)).toThrow(AttentionError);
            expected.push(...clean.push(x));
            actual.push(...disturbed.push(x));
          });
          expected.push(...clean.flush());
          actual.push(...disturbed.flush());
          expect(actual).toEqual(expected);
          expect(disturbed.stats()).toEqual(clean.stats());
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe("a typed array's wrapper (a Proxy of one, an object made from its prototype) is refused as no array, never a TypeError", () => {
  // Both pass `instanceof Float32Array`, but the built-in length getter throws a TypeError for them.
  const wrappers = (length: number, Typed: Float32ArrayConstructor | Float64ArrayConstructor = Float32Array): unknown[] => [
    new Proxy(new Typed(length), {}),
    Object.create(Typed.prototype),
  ];
  const model = () => createAttention({ dim: 2, weights: { wq: [1, 0, 0, 1], wk: [1, 0, 0, 1], wv: [1, 0, 0, 1], wo: [1, 0, 0, 1] } });
  const linear = createLinear({ rows: 2, cols: 2, weight: [1, 2, 3, 4] });
  const cross = createCrossAttention({ dim: 2 });
  cross.setMemory([[1, 1]]);
  const entries: [string, (w: never) => unknown, string, number?, (Float32ArrayConstructor | Float64ArrayConstructor)?][] = [
    ['push', (w) => model().push(w), 'x'],
    ['pushMany', (w) => model().pushMany([[1, 1], w]), 'x'],
    ['pushManyQKV', (w) => createAttention({ dim: 2 }).pushManyQKV([[1, 1]], [w], [[1, 1]]), 'k'],
    ['pushEach', (w) => pushEach([model().fork()], [w]), 'x'],
    ['weights.wq', (w) => createAttention({ dim: 2, weights: { wq: w, wk: [1, 0, 0, 1], wv: [1, 0, 0, 1] } }), 'weights.wq', 4],
    ['ropeFrequencies', (w) => createAttention({ dim: 4, positions: 'rope', ropeFrequencies: w }), 'ropeFrequencies'],
    ['setMemory', (w) => createCrossAttention({ dim: 2 }).setMemory([w]), 'memory'],
    ['attend', (w) => cross.attend(w), 'x'],
    ['createLinear weight', (w) => createLinear({ rows: 2, cols: 2, weight: w }), 'weight', 4],
    ['apply', (w) => linear.apply(w), 'x'],
    ['apply out', (w) => linear.apply([1, 1], w), 'out'],
    ['applyMany flat', (w) => linear.applyMany(w), 'xs', 4, Float64Array],
    ['row out', (w) => linear.row(0, w), 'out'],
    ['batchAttention', (w) => batchAttention([w], { dim: 2 }), 'x'],
    ['referenceAttention', (w) => referenceAttention([w], { dim: 2 }), 'x'],
    ['EmbeddingTable.fromArrays', (w) => EmbeddingTable.fromArrays(['a', 'b'], [[1, 1], w]), 'vectors'],
    ['EmbeddingTable fallback', (w) => EmbeddingTable.fromArrays(['a'], [[1, 1]], { fallback: w }), 'fallback'],
  ];
  it.each(entries)('%s', (_, run, field, length = 2, Typed = Float32Array) => {
    for (const wrapper of wrappers(length, Typed)) {
      const error = refusal(() => run(wrapper as never));
      expect(['INVALID_ARGUMENT', 'INVALID_OPTION']).toContain(error.code);
      expect(error.details.field).toBe(field);
    }
  });

  it('the message says what was given', () => {
    expect(refusal(() => model().push(new Proxy(new Float32Array(2), {}) as Float32Array)).message).toBe(
      'x at token 0: expected an array of 2 numbers, got a Float32Array wrapper (a Proxy, or an object made from its prototype), not the array itself',
    );
  });
});

describe('a refused value as details.actual shows it (shownValue): mutation audit', () => {
  it('a long string cut, a bigint with its n, a function described without running its own toString', () => {
    const attn = createAttention({ dim: 2 });
    attn.push([1, 0]);
    expect(refusal(() => attn.truncate('x'.repeat(1000) as never)).details.actual).toBe(`${'x'.repeat(60)}…`);
    expect(refusal(() => attn.truncate(5n as never)).details.actual).toBe('5n');
    const pushes = Object.assign(() => 0, { toString: () => (attn.push([9, 9]), 'f') });
    expect(refusal(() => attn.truncate(pushes as never)).details).toMatchObject({ field: 'n', actual: 'a function' });
    expect(attn.length).toBe(1);
  });
});
