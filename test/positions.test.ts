import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { alibiSlopes, batchAttention, createAttention } from '../src/index.js';
import { ropeInverseFrequencies, ropeRotate } from '../src/kernels/index.js';
import { expectClose, scaledError } from './support/close.js';
import { mulberry32 } from './support/engine-arbitraries.js';

describe('RoPE, rotate-half convention', () => {
  it('matches a rotation computed by hand for headDim 4 at position 3', () => {
    // half = 2, inv_freq = [1, 10000^(-1/2)] = [1, 0.01]; θ = [3, 0.03].
    // Pairs are (u0, u2) and (u1, u3): u0' = u0 cos θ0 − u2 sin θ0, u2' = u2 cos θ0 + u0 sin θ0.
    const u = new Float64Array([1, 2, 3, 4]);
    ropeRotate(u, 0, 4, 3, ropeInverseFrequencies(4, 10000));
    const c0 = Math.cos(3);
    const s0 = Math.sin(3);
    const c1 = Math.cos(0.03);
    const s1 = Math.sin(0.03);
    expectClose(u, [1 * c0 - 3 * s0, 2 * c1 - 4 * s1, 3 * c0 + 1 * s0, 4 * c1 + 2 * s1], 1e-15);
  });

  it('position 0 is the identity and rotations preserve length', () => {
    const invFreq = ropeInverseFrequencies(6, 500000);
    const u = new Float64Array([0.3, -1, 2, 5, -0.5, 1e-3]);
    const at0 = Float64Array.from(u);
    ropeRotate(at0, 0, 6, 0, invFreq);
    expect(Array.from(at0)).toEqual(Array.from(u));
    const at9 = Float64Array.from(u);
    ropeRotate(at9, 0, 6, 9, invFreq);
    const norm = (a: Float64Array) => Math.hypot(...a);
    expect(norm(at9)).toBeCloseTo(norm(u), 13);
  });

  it('scores depend only on the distance between positions (relative encoding)', () => {
    // With identical tokens every query-key pair differs only by position, so a query's weights over
    // its last k keys are the same at any absolute offset.
    const weightsAt = (n: number) => {
      const attn = createAttention({ dim: 4, positions: 'rope', precision: 'float64', withWeights: true, ropeBase: 100 });
      let last: Float64Array = new Float64Array();
      for (let i = 0; i < n; i++) last = attn.push([1, 0.5, -0.25, 2])[0]!.weights![0] as Float64Array;
      return last;
    };
    const short = weightsAt(3);
    const long = weightsAt(10);
    const tail = long.subarray(7);
    const ratio = (a: ArrayLike<number>) => [a[0]! / a[2]!, a[1]! / a[2]!];
    expectClose(ratio(tail), ratio(short), 1e-12);
  });

  it("'cache' positions equal 'absolute' positions until the window first evicts", () => {
    const xs = Array.from({ length: 6 }, (_, i) => [Math.sin(i), Math.cos(i), i / 3, 1]);
    const options = { dim: 4, positions: 'rope', window: 6, sinks: 1, precision: 'float64' } as const;
    const absolute = batchAttention(xs, options);
    const cache = batchAttention(xs, { ...options, ropePositions: 'cache' });
    cache.forEach((step, i) => expectClose(step.output, absolute[i]!.output, 1e-12));
  });

  it("'cache' positions on the WebAssembly kernels: past the sinks, the engine equals the reference, which differs from 'absolute'", () => {
    fc.assert(
      fc.property(
        fc.record({
          kvHeads: fc.integer({ min: 1, max: 2 }),
          group: fc.integer({ min: 1, max: 3 }),
          halfDim: fc.integer({ min: 1, max: 8 }),
          window: fc.integer({ min: 2, max: 6 }),
          sinks: fc.integer({ min: 1, max: 3 }),
          blockSize: fc.constantFrom(1, 2, 3, 64),
          seed: fc.integer(),
        }),
        ({ kvHeads, group, halfDim, window, sinks, blockSize, seed }) => {
          const heads = kvHeads * group;
          const headDim = 2 * halfDim;
          const dim = heads * headDim;
          const random = mulberry32(seed);
          const matrix = (rows: number) => Float64Array.from({ length: rows * dim }, () => (2 * random() - 1) / Math.sqrt(dim));
          const options = {
            dim,
            heads,
            kvHeads,
            headDim,
            weights: { wq: matrix(heads * headDim), wk: matrix(kvHeads * headDim), wv: matrix(kvHeads * headDim) },
            positions: 'rope',
            ropeBase: 10,
            ropePositions: 'cache',
            window,
            sinks,
            blockSize,
            withWeights: true,
          } as const;
          const xs = Array.from({ length: window + sinks + 12 }, () => Array.from({ length: dim }, () => 4 * random() - 2));
          const engine = createAttention(options);
          expect(engine.options.kernels).toBe('wasm');
          const steps = xs.flatMap((x) => engine.push(x));
          const reference = batchAttention(xs, { ...options, precision: 'float64' });
          steps.forEach((step, i) => {
            expectClose(step.output, reference[i]!.output, 1e-5, `output ${i}`);
            step.weights!.forEach((w, h) => expectClose(w, reference[i]!.weights![h]!, 1e-5, `weights ${i}, head ${h}`));
          });
          // Once the window has left the sinks behind, ranks are not positions: 'absolute' differs.
          const absolute = batchAttention(xs, { ...options, precision: 'float64', ropePositions: 'absolute' });
          const apart = Math.max(...reference.map((step, i) => scaledError(step.weights![0]!, absolute[i]!.weights![0]!)));
          expect(apart).toBeGreaterThan(1e-3);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('ALiBi slopes (Press et al.)', () => {
  it('H = 8: 2^-1 … 2^-8', () => {
    expect(Array.from(alibiSlopes(8))).toEqual([1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64, 1 / 128, 1 / 256]);
  });

  it('H = 6: the slopes of 4 heads, then every other slope of 8', () => {
    expect(Array.from(alibiSlopes(6))).toEqual([1 / 4, 1 / 16, 1 / 64, 1 / 256, 1 / 2, 1 / 8]);
  });

  it('H = 1 and H = 4', () => {
    expect(Array.from(alibiSlopes(1))).toEqual([1 / 256]);
    expect(Array.from(alibiSlopes(4))).toEqual([1 / 4, 1 / 16, 1 / 64, 1 / 256]);
  });

  it('the bias is −m·(i − j), added after scaling', () => {
    // Zero queries make every raw score 0, so the weights are softmax(−m·(i − j)) alone.
    const attn = createAttention({ dim: 2, positions: 'alibi', withWeights: true, precision: 'float64' });
    attn.push([0, 0]);
    attn.push([0, 0]);
    const [step] = attn.push([0, 0]);
    const m = 1 / 256;
    const e = [Math.exp(-2 * m), Math.exp(-m), 1];
    const z = e[0]! + e[1]! + e[2]!;
    expectClose(step!.weights![0]!, e.map((v) => v / z), 1e-15);
  });
});
