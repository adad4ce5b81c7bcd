import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createAttention, createLinear } from '../src/index.js';
import type { LinearOptions } from '../src/index.js';
import { wasmKernelsAvailable } from '../src/kernels/wasm/wasm-arena.js';
import { createThreadPool } from '../src/threads/index.js';
import { filePool } from './support/thread-pool.js';
import { sameBits } from './support/same-bits.js';

const pool = filePool();

const KERNEL_PATHS = ['auto', 'js'] as const;

/** A layer's shape, float32 weights and bias, and inputs of a drawn magnitude (hostile ones included). */
const layerCase = fc
  .record({
    rows: fc.integer({ min: 1, max: 40 }),
    cols: fc.integer({ min: 1, max: 40 }),
    n: fc.integer({ min: 0, max: 11 }),
    magnitude: fc.constantFrom(1, 1e-3, 1e4),
    withBias: fc.boolean(),
    seed: fc.integer(),
  })
  .map(({ rows, cols, n, magnitude, withBias, seed }) => {
    let state = seed >>> 0;
    const random = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
    const weight = Float32Array.from({ length: rows * cols }, random);
    const bias = withBias ? Float32Array.from({ length: rows }, random) : undefined;
    // Zeros and repeated rows among the inputs.
    const xs = Array.from({ length: n }, (_, t) => (t % 3 === 2 ? new Array(cols).fill(0) : Array.from({ length: cols }, () => Math.fround(magnitude * random()))));
    return { options: { rows, cols, weight, ...(bias === undefined ? {} : { bias }) } as LinearOptions, xs };
  });

/** W·x + b in float64 from the float32 numbers, and Σ|W||x| + |b|: what float32 rounding is measured against. */
function reference(o: LinearOptions, x: readonly number[]): { y: Float64Array; scale: Float64Array } {
  const y = new Float64Array(o.rows);
  const scale = new Float64Array(o.rows);
  for (let r = 0; r < o.rows; r++) {
    for (let c = 0; c < o.cols; c++) {
      y[r]! += o.weight[r * o.cols + c]! * x[c]!;
      scale[r]! += Math.abs(o.weight[r * o.cols + c]! * x[c]!);
    }
    y[r]! += o.bias?.[r] ?? 0;
    scale[r]! += Math.abs(o.bias?.[r] ?? 0);
  }
  return { y, scale };
}

describe('createLinear: y = W·x + b (torch.nn.Linear) on the projection kernel', () => {
  it('by hand: W = [[1, 2], [3, 4]], b = [0.5, −1]; apply, applyMany and out on both kernel paths', () => {
    for (const kernels of KERNEL_PATHS) {
      const layer = createLinear({ rows: 2, cols: 2, weight: [1, 2, 3, 4], bias: [0.5, -1], kernels });
      expect(layer.kernels).toBe(kernels === 'auto' && wasmKernelsAvailable() ? 'wasm' : 'js');
      expect(Array.from(layer.apply([1, 1]))).toEqual([3.5, 6]);
      expect(Array.from(layer.applyMany([[1, 0], [0, 1], [2, -1]]))).toEqual([1.5, 2, 2.5, 3, 0.5, 1]);
      const out = new Float32Array(5).fill(7);
      expect(layer.apply([0, 0], out)).toBe(out);
      expect(Array.from(out)).toEqual([0.5, -1, 7, 7, 7]);
      expect(layer.applyMany([])).toEqual(new Float32Array(0));
    }
  });

  it('takes the rows flat, as applyMany returns them, so layers chain; refuses a length that is not whole rows', () => {
    // From a bug hunt building decoders: applyMany's flat output could not be passed to the next layer.
    for (const kernels of KERNEL_PATHS) {
      const up = createLinear({ rows: 3, cols: 2, weight: [1, 2, 3, 4, 5, 6], kernels });
      const down = createLinear({ rows: 2, cols: 3, weight: [1, 0, -1, 0.5, 0.5, 0.5], bias: [1, 2], kernels });
      const xs = [[1, 0], [0.5, -2]];
      const hidden = up.applyMany(xs);
      const byRow = down.applyMany([hidden.subarray(0, 3), hidden.subarray(3, 6)]);
      expect(down.applyMany(hidden)).toEqual(byRow);
      expect(down.applyMany(Float64Array.from(hidden))).toEqual(byRow);
      expect(() => down.applyMany(new Float32Array(4))).toThrow(expect.objectContaining({ code: 'DIMENSION_MISMATCH', details: { field: 'xs', expected: 'a multiple of 3', actual: 4 } }));
      expect(() => down.applyMany(Float32Array.of(1, 2, 3, 4, NaN, 6))).toThrow(expect.objectContaining({ code: 'NON_FINITE', details: expect.objectContaining({ token: 1, element: 1 }) }));
      down.dispose();
      expect(() => down.applyMany(new Float32Array(4))).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
    }
  });

  it('is within float32 rounding of the float64 product, every row of applyMany bit for bit apply on both paths, and a pool gives the same bits', () => {
    fc.assert(
      fc.property(layerCase, ({ options, xs }) => {
        const runs = [createLinear({ ...options, kernels: 'js' }), createLinear(options), createLinear({ ...options, threads: pool() })];
        const results = runs.map((layer) => layer.applyMany(xs));
        runs.forEach((layer, k) => {
          expect(results[k]).toHaveLength(xs.length * options.rows);
          xs.forEach((x, t) => {
            const row = results[k]!.subarray(t * options.rows, (t + 1) * options.rows);
            expect(sameBits(layer.apply(x), row)).toBe(true);
            // A four-lane sum of cols terms rounds each through at most ⌈cols/4⌉ + 3 additions.
            const { y, scale } = reference(options, x);
            const u = 2 ** -24;
            row.forEach((v, r) => expect(Math.abs(v - y[r]!)).toBeLessThanOrEqual((Math.ceil(options.cols / 4) + 4) * u * scale[r]! + u * Math.abs(y[r]!)));
          });
        });
        // The kernels' fixed order: a pool splits the work, not the sums.
        expect(sameBits(results[2]!, results[1]!)).toBe(true);
        for (const layer of runs) layer.dispose();
      }),
      { numRuns: 150 },
    );
  });

  it('splits large products across a pool (one input by rows, several by groups of four) with the same bits as one thread', () => {
    const [rows, cols] = [300, 260];
    const weight = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(0.37 * i));
    const alone = createLinear({ rows, cols, weight });
    const split = createLinear({ rows, cols, weight, threads: pool() });
    for (const n of [1, 2, 9]) {
      const xs = Array.from({ length: n }, (_, t) => Float32Array.from({ length: cols }, (_, c) => Math.cos(t + 0.1 * c)));
      expect(sameBits(split.applyMany(xs), alone.applyMany(xs))).toBe(true);
    }
  });

  it("keeps one float32 copy of W, the kernels'; when their scratch cannot grow it multiplies that copy in TypeScript, as kernels 'js' does", async () => {
    const own = await createThreadPool(2);
    try {
      const [rows, cols] = [24, 40];
      const weight = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(1.3 * i));
      const layer = createLinear({ rows, cols, weight, threads: own });
      const twin = createLinear({ rows, cols, weight, kernels: 'js' });
      const xs = Array.from({ length: 3000 }, (_, t) => Float32Array.from({ length: cols }, (_, c) => Math.cos(t + c)));
      expect(sameBits(layer.applyMany(xs.slice(0, 5)), twin.applyMany(xs.slice(0, 5)))).toBe(false);
      // Fill the arena (4 GiB at most; reserved, never touched) so the next call's scratch cannot grow.
      for (let size = 2 ** 30; size >= 2 ** 16; ) if (own.arena.allocate(size) < 0) size /= 2;
      expect(sameBits(layer.applyMany(xs), twin.applyMany(xs))).toBe(true);
    } finally {
      await own.close();
    }
  });

  it("multiplies as the engine projects: a Linear of the engine's wq gives its queries bit for bit (the weights are the same copy's numbers)", () => {
    const dim = 12;
    const w = Float32Array.from({ length: dim * dim }, (_, i) => Math.sin(i) / 3);
    const x = Float32Array.from({ length: dim }, (_, c) => Math.cos(c));
    for (const kernels of KERNEL_PATHS) {
      // Seed-mode queries would be x itself: with wq and no wo the output is the attention of q's own key (weight 1) = v.
      const engine = createAttention({ dim, weights: { wq: w, wk: w, wv: w }, kernels });
      const [step] = engine.push(x);
      expect(sameBits(createLinear({ rows: dim, cols: dim, weight: w, kernels }).apply(x), step!.output as Float32Array)).toBe(true);
    }
  });

  it("row(i) gives W's row i as kept, float32, on every path and after the kernels' memory grew: a tied embedding's table", () => {
    fc.assert(
      fc.property(layerCase, ({ options }) => {
        const runs = [createLinear({ ...options, kernels: 'js' }), createLinear(options), createLinear({ ...options, threads: pool() })];
        // Grows the memory the copies live in, so a view taken before would be stale.
        const large = createLinear({ rows: 1024, cols: 1024, weight: new Float32Array(1024 * 1024) });
        const out = new Float32Array(options.cols + 1).fill(7);
        for (const layer of runs) {
          for (let r = 0; r < options.rows; r++) {
            const expected = Float32Array.from(options.weight as Float32Array).subarray(r * options.cols, (r + 1) * options.cols);
            expect(sameBits(layer.row(r), expected)).toBe(true);
            expect(layer.row(r, out)).toBe(out);
            expect(sameBits(out.subarray(0, options.cols), expected)).toBe(true);
            expect(out[options.cols]).toBe(7);
          }
          layer.dispose();
        }
        large.dispose();
      }),
      { numRuns: 40 },
    );
    // The unembedding of a tied model gives its tokens' embeddings; the copy returned is the caller's.
    const lmHead = createLinear({ rows: 3, cols: 2, weight: [1, 0, 0, 1, 0.1, 0.5] });
    const embedding = lmHead.row(2);
    embedding[0] = 99;
    expect(Array.from(lmHead.row(2))).toEqual([Math.fround(0.1), 0.5]);
    expect(Array.from(lmHead.apply(lmHead.row(1)))).toEqual([0, 1, 0.5]);
  });

  it('row refuses an index outside [0, rows) or a short out, naming the field, and once disposed', () => {
    for (const kernels of KERNEL_PATHS) {
      const layer = createLinear({ rows: 3, cols: 2, weight: [1, 2, 3, 4, 5, 6], kernels });
      for (const index of [-1, 3, 1.5, Number.NaN, '1', null]) {
        expect(() => layer.row(index as number)).toThrow(expect.objectContaining({ code: 'OUT_OF_RANGE', details: { field: 'row', expected: '0..2', actual: String(index) } }));
      }
      for (const out of [new Float32Array(1), new Float64Array(2), [0, 0], 'out']) {
        expect(() => layer.row(0, out as Float32Array)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'out', expected: 2 } }));
      }
      layer.dispose();
      expect(() => layer.row(0)).toThrow(expect.objectContaining({ code: 'DISPOSED', details: { field: 'row' } }));
    }
  });

  it('refuses bad options naming the field, and bad inputs naming the input; a refused call writes nothing to out', () => {
    const refusal = (options: unknown, code: string, field: string) =>
      expect(() => createLinear(options as LinearOptions), field).toThrow(expect.objectContaining({ code, details: expect.objectContaining({ field }) }));
    const ok = { rows: 2, cols: 3, weight: new Array(6).fill(1) };
    refusal(null, 'INVALID_OPTION', 'options');
    refusal({ ...ok, rows: 0 }, 'INVALID_OPTION', 'rows');
    refusal({ ...ok, cols: 1.5 }, 'INVALID_OPTION', 'cols');
    refusal({ ...ok, rows: 2 ** 20, cols: 2 ** 20 }, 'INVALID_OPTION', 'rows');
    refusal({ ...ok, weight: [1, 2] }, 'DIMENSION_MISMATCH', 'weight');
    refusal({ ...ok, weight: [1, 1, 1, 1, Number.NaN, 1] }, 'NON_FINITE', 'weight');
    refusal({ ...ok, weight: [1, 1, 1, 1, 1e39, 1] }, 'NON_FINITE', 'weight');
    refusal({ ...ok, bias: [1, 2, 3] }, 'DIMENSION_MISMATCH', 'bias');
    refusal({ ...ok, kernels: 'gpu' }, 'INVALID_OPTION', 'kernels');
    refusal({ ...ok, kernels: 'js', threads: pool() }, 'INVALID_OPTION', 'threads');
    refusal({ ...ok, threads: {} }, 'INVALID_OPTION', 'threads');
    refusal({ ...ok, weights: ok.weight }, 'INVALID_OPTION', 'weights');
    for (const kernels of KERNEL_PATHS) {
      const layer = createLinear({ ...ok, kernels });
      const out = new Float32Array(4).fill(9);
      const input = (xs: unknown[], code: string, details: object) =>
        expect(() => layer.applyMany(xs as number[][], out)).toThrow(expect.objectContaining({ code, details: expect.objectContaining(details) }));
      input([[1, 1, 1], [1, 1]], 'DIMENSION_MISMATCH', { field: 'x', token: 1 });
      input([[1, 1, 1], [1, Infinity, 1]], 'NON_FINITE', { field: 'x', token: 1, element: 1 });
      input([[1, '1', 1]], 'NON_FINITE', { field: 'x', token: 0, element: 1 });
      input([null], 'INVALID_ARGUMENT', { field: 'x', token: 0 });
      // 3e38 · 3 overflows float32.
      const big = createLinear({ ...ok, weight: new Array(6).fill(3e38), kernels });
      expect(() => big.apply([1, 1, 1], out)).toThrow(expect.objectContaining({ code: 'NON_FINITE', details: expect.objectContaining({ field: 'output', token: 0 }) }));
      expect(Array.from(out)).toEqual([9, 9, 9, 9]);
      expect(() => layer.applyMany([[1, 1, 1], [1, 1, 1], [1, 1, 1]], out)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: expect.objectContaining({ field: 'out' }) }));
      expect(() => layer.applyMany('x' as unknown as number[][])).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'xs' } }));
      layer.dispose();
      layer.dispose();
      expect(layer.disposed).toBe(true);
      expect(() => layer.apply([1, 1, 1])).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
    }
  });
});
