import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { batchAttention, batchAttentionQKV, createAttention, createCrossAttention } from '../src/index.js';
import type { AttentionOptions, CrossAttentionOptions } from '../src/index.js';
import { configArbitrary, mulberry32 } from './support/engine-arbitraries.js';

// Rows given flat, one after another in one typed array (as Linear.applyMany returns them, or a
// checkpoint tensor holds them), are the same rows as a list: the same steps, bit for bit.

const flatCase = fc
  .constantFrom('float64' as const, 'float32' as const)
  .chain((precision) => configArbitrary({ precision }))
  .chain((options) => fc.record({ options: fc.constant(options), length: fc.integer({ min: 1, max: 10 }), seed: fc.integer() }));

function rows(length: number, width: number, seed: number): Float64Array[] {
  const random = mulberry32(seed);
  return Array.from({ length }, () => Float64Array.from({ length: width }, () => random() * 4 - 2));
}

function flat(list: readonly Float64Array[], Float: Float32ArrayConstructor | Float64ArrayConstructor): Float32Array | Float64Array {
  const out = new Float(list.reduce((n, row) => n + row.length, 0));
  list.forEach((row, i) => out.set(row, i * row.length));
  return out;
}

describe('rows given flat in one typed array', () => {
  it('pushMany, batchAttention and a cross-attention take them as the list of their rows, bit for bit', () => {
    fc.assert(
      fc.property(flatCase, ({ options, length, seed }) => {
        const Float = options.precision === 'float32' ? Float32Array : Float64Array;
        // Rounded to the precision first, so the list and the flat array hold the same numbers.
        const list = rows(length, options.dim, seed).map((row) => Float64Array.from(Float.from(row)));
        const given = flat(list, Float);
        const a = createAttention(options);
        const b = createAttention(options);
        expect([...a.pushMany(given), ...a.flush()]).toEqual([...b.pushMany(list), ...b.flush()]);
        expect(batchAttention(given, options)).toEqual(batchAttention(list, options));
        const { positions: _p, ropeBase: _b, ropePositions: _r, ropeDim: _d, ropeStyle: _s, ropeFrequencies: _f, window: _w, sinks: _k, retain: _t, lookahead: _l, ...rest } = options;
        const crossOptions = rest as CrossAttentionOptions;
        const c = createCrossAttention(crossOptions);
        const d = createCrossAttention(crossOptions);
        c.setMemory(given);
        d.setMemory(list);
        expect(c.attendMany(given)).toEqual(d.attendMany(list));
      }),
      { numRuns: 60 },
    );
  });

  it('pushManyQKV and batchAttentionQKV take q, k and v flat, each cut at its own width', () => {
    const options: AttentionOptions = { dim: 8, heads: 4, kvHeads: 2, headDim: 2, positions: 'rope', weights: {} };
    const [qs, ks, vs] = [rows(5, 8, 1), rows(5, 4, 2), rows(5, 4, 3)].map((list) => list.map((row) => Float64Array.from(Float32Array.from(row))));
    const [fq, fk, fv] = [qs!, ks!, vs!].map((list) => flat(list, Float32Array));
    expect(createAttention(options).pushManyQKV(fq!, fk!, fv!)).toEqual(createAttention(options).pushManyQKV(qs!, ks!, vs!));
    expect(batchAttentionQKV(fq!, fk!, fv!, options)).toEqual(batchAttentionQKV(qs!, ks!, vs!, options));
  });

  it('refuses a flat array that is not whole rows (DIMENSION_MISMATCH naming the list), changing nothing', () => {
    const attn = createAttention({ dim: 2 });
    attn.push([1, 0]);
    const before = attn.snapshot();
    const refused = (field: string) => expect.objectContaining({ code: 'DIMENSION_MISMATCH', details: { field, expected: 'a multiple of 2', actual: 3 } });
    expect(() => attn.pushMany(Float32Array.of(1, 2, 3))).toThrow(refused('xs'));
    expect(attn.snapshot()).toEqual(before);
    expect(() => batchAttention(Float64Array.of(1, 2, 3), { dim: 2 })).toThrow(refused('xs'));
    expect(() => attn.pushManyQKV(Float32Array.of(1, 2), Float32Array.of(1, 2, 3), Float32Array.of(1, 2))).toThrow(refused('ks'));
    const cross = createCrossAttention({ dim: 2 });
    cross.setMemory([[1, 0]]);
    expect(() => cross.setMemory(Float32Array.of(1, 2, 3))).toThrow(refused('memory'));
    expect(cross.memoryLength).toBe(1);
    expect(() => cross.attendMany(Float32Array.of(1, 2, 3))).toThrow(refused('xs'));
    // An engine fed q, k and v refuses inputs x as such, flat or not, before their shape.
    const caller = createAttention({ dim: 2, weights: {} });
    for (const xs of [Float32Array.of(1, 2, 3), [[1, 2]]]) {
      expect(() => caller.pushMany(xs)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'pushMany' } }));
    }
    // A subclass's constructor does not run in the middle of the call (subarray would build its rows with it).
    let built = 0;
    class Counting extends Float32Array {
      constructor(length: number) {
        super(length);
        built++;
      }
    }
    const counted = new Counting(4).fill(0.5);
    built = 0;
    expect(createAttention({ dim: 2 }).pushMany(counted)).toHaveLength(2);
    expect(built).toBe(0);
    // A typed array's wrapper is no flat array: refused as not a list, as before.
    expect(() => attn.pushMany(new Proxy(Float32Array.of(1, 2), {}) as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

describe('rows given flat: mutation audit (rowsOf)', () => {
  it('a flat array that is a view into a larger buffer is cut from its own first number (its byteOffset), not the buffer\'s', () => {
    const options: AttentionOptions = { dim: 2, precision: 'float64' };
    const list = [[1, 0], [0, 1], [1, 1]];
    const given = Float64Array.of(9, 9, ...list.flat()).subarray(2);
    expect(createAttention(options).pushMany(given)).toEqual(createAttention(options).pushMany(list));
    expect(batchAttention(given, options)).toEqual(batchAttention(list, options));
    const memory = Float32Array.of(9, 9, ...list.flat()).subarray(2);
    const [c, d] = [createCrossAttention({ dim: 2 }), createCrossAttention({ dim: 2 })];
    c.setMemory(memory);
    d.setMemory(list);
    expect(c.attend([1, 0.5])).toEqual(d.attend([1, 0.5]));
  });

  it('a disposed cross-attention refuses attendMany with DISPOSED before it looks at a flat array\'s length', () => {
    const cross = createCrossAttention({ dim: 2 });
    cross.dispose();
    expect(() => cross.attendMany(Float32Array.of(1, 2, 3))).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
  });
});
