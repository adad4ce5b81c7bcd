import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addBias, axpy, dot, dotTwo, matMatTransposed, softmaxInPlace } from '../src/kernels/index.js';
import { expectClose } from './support/close.js';

const floats = (min: number, max: number) => fc.array(fc.double({ min: -1e3, max: 1e3, noNaN: true }), { minLength: min, maxLength: max });

describe('dot', () => {
  it('equals the plain sum of products at any offset and length (the unrolled tail included)', () => {
    fc.assert(
      fc.property(floats(0, 40), fc.nat(5), (a, offset) => {
        const n = Math.max(0, a.length - offset);
        const x = Float64Array.from(a);
        const y = Float64Array.from(a, (v, i) => v * 0.5 - i);
        let plain = 0;
        for (let i = 0; i < n; i++) plain += x[offset + i]! * y[i]!;
        expect(dot(x, offset, y, 0, n)).toBeCloseTo(plain, 6);
      }),
    );
  });
});

describe('dotTwo', () => {
  it('gives each of its two rows bit for bit what dot gives, at any offsets and length, in float32 or float64 rows', () => {
    fc.assert(
      fc.property(floats(0, 40), fc.nat(5), fc.nat(50), fc.nat(50), fc.boolean(), (a, offset, first, second, narrow) => {
        const n = Math.max(0, a.length - offset);
        const x = Float64Array.from(a);
        const numbers = Array.from({ length: 100 + n }, (_, i) => Math.sin(i * 1.7) * 300 - i);
        const rows = narrow ? Float32Array.from(numbers) : Float64Array.from(numbers);
        const out = new Float64Array(4).fill(Number.NaN);
        dotTwo(x, offset, rows, first, second, n, out, 1);
        expect(Object.is(out[1], dot(x, offset, rows, first, n))).toBe(true);
        expect(Object.is(out[2], dot(x, offset, rows, second, n))).toBe(true);
        expect(Number.isNaN(out[0]!) && Number.isNaN(out[3]!)).toBe(true);
      }),
    );
  });
});

describe('axpy, matMatTransposed and addBias on small cases', () => {
  it('axpy adds alpha·x into a slice and leaves the rest alone', () => {
    const out = new Float64Array([1, 1, 1, 1]);
    axpy(out, 1, 2, new Float64Array([9, 3, 4]), 1, 2);
    expect(Array.from(out)).toEqual([1, 7, 9, 1]);
  });

  it('matMatTransposed is y_t = W x_t with W row-major, a row of out per token', () => {
    const out = new Float64Array(4);
    matMatTransposed(out, new Float64Array([1, 0, -1, 0, 1, 0]), new Float64Array([1, 2, 3, 4, 5, 6]), 2, 2, 3);
    expect(Array.from(out)).toEqual([-2, -2, 2, 5]);
  });

  it('addBias adds the bias to each of the first rows rows and leaves the rest alone', () => {
    const out = new Float64Array([1, 2, 3, 4, 5, 6, 7]);
    addBias(out, new Float64Array([10, -1]), 3);
    expect(Array.from(out)).toEqual([11, 1, 13, 3, 15, 5, 7]);
  });

  it('addBias rounds each sum to float32 in a Float32Array', () => {
    const out = new Float32Array([1]);
    addBias(out, new Float32Array([2 ** -30]), 1);
    expect(out[0]).toBe(1);
  });
});

describe('matMatTransposed', () => {
  it('equals one dot per row and token bit for bit, for any number of tokens (the blocks of four and the tail)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 11 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 9 }), fc.integer(), (n, rows, cols, seed) => {
        let a = seed >>> 0;
        const next = () => ((a = (Math.imul(a, 1664525) + 1013904223) >>> 0) / 4294967296) * 2 - 1;
        const x = Float64Array.from({ length: n * cols }, next);
        const w = Float64Array.from({ length: rows * cols }, next);
        const out = new Float64Array(n * rows);
        matMatTransposed(out, x, w, n, rows, cols);
        const expected = new Float64Array(n * rows);
        for (let t = 0; t < n; t++) for (let r = 0; r < rows; r++) expected[t * rows + r] = dot(w, r * cols, x, t * cols, cols);
        expect(Array.from(out)).toEqual(Array.from(expected));
      }),
    );
  });
});

describe('softmaxInPlace', () => {
  it('is finite and sums to 1 for scores far beyond exp overflow (±1e308)', () => {
    const p = new Float64Array([1e308, -1e308, 1e308 - 1e292, 0]);
    softmaxInPlace(p, 0, 4);
    expect(p.every(Number.isFinite)).toBe(true);
    expect(p[0]! + p[1]! + p[2]! + p[3]!).toBeCloseTo(1, 15);
  });

  it('equals exp(s)/Σexp(s) where that is computable, and returns the log-sum-exp', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -50, max: 50, noNaN: true }), { minLength: 1, maxLength: 20 }), (s) => {
        const p = Float64Array.from(s);
        const lse = softmaxInPlace(p, 0, p.length);
        const z = s.reduce((acc, v) => acc + Math.exp(v), 0);
        expectClose(p, s.map((v) => Math.exp(v) / z), 1e-12);
        expect(lse).toBeCloseTo(Math.log(z), 10);
      }),
    );
  });

  it('touches only its slice', () => {
    const p = new Float64Array([5, 0, 0, 5]);
    softmaxInPlace(p, 1, 2);
    expect(Array.from(p)).toEqual([5, 0.5, 0.5, 5]);
  });
});
