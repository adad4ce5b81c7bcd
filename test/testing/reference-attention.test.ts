import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AttentionError, batchAttention, createAttention, resolveOptions } from '../../src/index.js';
import type { AttentionOptions, AttentionStep } from '../../src/index.js';
import { attentionOptionsArbitrary, referenceAttention, sequenceArbitrary } from '../../src/testing/index.js';

const float64Cases = (magnitude?: number, softmaxVariants = false) =>
  attentionOptionsArbitrary({ precision: 'float64', withWeights: true, softmaxVariants }).chain((options) =>
    sequenceArbitrary(options.dim, magnitude === undefined ? {} : { magnitude }).map((xs) => ({ options, xs })),
  );

/**
 * A bound on every number a token can add to an output: its value row v = Wv·x + bv (x itself
 * in seed mode), through Wo and bo when given: ‖Wo‖∞·(‖Wv‖∞·max|x| + max|bv|) + max|bo|.
 */
function contributionBound(options: AttentionOptions, xs: readonly (readonly number[])[]): number {
  const largest = (a: ArrayLike<number> | undefined) => (a === undefined ? 0 : Math.max(0, ...Array.from(a, Math.abs)));
  const rowSums = (w: ArrayLike<number>, cols: number) => Math.max(...Array.from({ length: w.length / cols }, (_, r) => Array.from({ length: cols }, (_, c) => Math.abs(w[r * cols + c]!)).reduce((a, b) => a + b, 0)));
  const x = Math.max(0, ...xs.map((row) => largest(row)));
  const w = options.weights;
  if (w?.wv === undefined) return x;
  const v = rowSums(w.wv, options.dim) * x + largest(w.bv);
  return w.wo === undefined ? v : rowSums(w.wo, w.wo.length / options.dim) * v + largest(w.bo);
}
/**
 * δ(i, h, keys): how far two honest float64 evaluations of query i's scores in head h may lie
 * apart. A score is scale·Σ_c q̃_c k̃_c over the head's channels after RoPE: each sum rounds within
 * headDim·u·Σ|q̃_c k̃_c| ≤ headDim·u·‖q‖‖k‖ (a rotation keeps norms), and each rotated number within
 * (4 + 4θ)·u of its pair's norm (θ the largest angle, position·speed, rounded, then cos and sin);
 * both sides round, so twice that. ALiBi's bias and a soft cap add a few roundings of their size.
 */
function scoreRounding(options: AttentionOptions, xs: readonly (readonly number[])[]): (i: number, h: number, keys: readonly number[]) => number {
  const o = resolveOptions(options);
  const u = 2 ** -53;
  const project = (w: ArrayLike<number> | undefined, b: ArrayLike<number> | undefined, x: readonly number[], rows: number) =>
    w === undefined ? [...x] : Array.from({ length: rows }, (_, r) => x.reduce((s, xc, c) => s + w[r * x.length + c]! * xc, 0) + (b?.[r] ?? 0));
  const norm = (v: readonly number[], head: number) => Math.hypot(...v.slice(head * o.headDim, (head + 1) * o.headDim));
  const w = options.weights;
  const qs = xs.map((x) => project(w?.wq, w?.bq, x, o.heads * o.headDim));
  const ks = xs.map((x) => project(w?.wk, w?.bk, x, o.kvHeads * o.headDim));
  const theta = o.invFreq === null ? 0 : Math.max(...o.invFreq) * Math.max(0, xs.length - 1);
  const perProduct = 2 * (o.headDim + 4 + 4 * theta) * u;
  const bias = o.slopes === null ? 0 : 8 * u * Math.max(...o.slopes) * xs.length;
  const cap = o.scoreCap === null ? 0 : 8 * u * o.scoreCap;
  return (i, h, keys) => {
    const g = Math.floor(h / o.groupSize);
    const largest = Math.max(0, ...keys.map((j) => norm(ks[j]!, g)));
    return o.scale * perProduct * norm(qs[i]!, h) * largest + bias + cap + 4 * u;
  };
}

/** Largest |a − b| over max(1, |b|): relative for large values, absolute near zero. */
function scaledDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  return worst;
}

describe('referenceAttention', () => {
  it("computes the note's example by the formula: a_3 = Σ softmax(x_3 · x_j) x_j", () => {
    const [, , third] = referenceAttention([[1, 0], [0, 1], [1, 1]], { dim: 2, withWeights: true });
    // Scores of x_3 = (1, 1) against (1, 0), (0, 1), (1, 1) are 1, 1 and 2.
    const sum = 2 * Math.E + Math.E ** 2;
    const alpha = [Math.E / sum, Math.E / sum, Math.E ** 2 / sum];
    expect(Array.from(third!.positions!)).toEqual([0, 1, 2]);
    third!.weights![0]!.forEach((w, j) => expect(w).toBeCloseTo(alpha[j]!, 15));
    expect(third!.output[0]).toBeCloseTo(alpha[0]! + alpha[2]!, 15);
    expect(third!.output[1]).toBeCloseTo(alpha[1]! + alpha[2]!, 15);
    expect(third!.output).toBeInstanceOf(Float64Array);
  });

  for (const magnitude of [1, 100, 1e4]) {
    it(`equals batchAttention (float64) for every option, soft caps and sink logits too, at magnitude ${magnitude}: within 1e-12 beyond the rounding of each score`, () => {
      // The two add alike but for RoPE (the reference turns q and k by their own positions, by rank
      // under ropePositions 'cache', with base^(−2m/ropeDim) taken another way), the ALiBi slopes
      // and the softmax's sum, so a score may differ in its last bits: by δ (scoreRounding), a lot
      // where large products cancel (a score near 0 from terms near 1e6). A weight then moves by at
      // most α(1 − α)·(e^{2δ} − 1)·e^{2δ}, which is 0 for a clear winner or loser: only keys whose
      // scores lie within about δ of each other can trade weight. Every output is Σ_j α_j u_j with
      // |u_j| ≤ contributionBound, so it moves by Σ_j |Δα_j| times that: it is judged against the
      // size of what it mixes, not its result, which can cancel (3.98 mixing values near 190).
      // On top of both, 1e-12 (measured: weights 3e-13 apart, outputs 2.5e-12 of themselves).
      fc.assert(
        fc.property(float64Cases(magnitude, true), ({ options, xs }) => {
          const expected = batchAttention(xs, options);
          const size = Math.max(1, contributionBound(options, xs));
          const delta = scoreRounding(options, xs);
          const steps = referenceAttention(xs, options);
          expect(steps).toHaveLength(expected.length);
          steps.forEach((step, i) => {
            const want = expected[i]!;
            expect(step.index).toBe(i);
            expect(Array.from(step.positions!)).toEqual(Array.from(want.positions!));
            expect(step.weights).toHaveLength(want.weights!.length);
            let moved = 0;
            step.weights!.forEach((w, h) => {
              const d = delta(i, h, Array.from(want.positions!));
              const growth = Math.expm1(2 * d) * Math.exp(2 * d);
              let sum = 0;
              w.forEach((a, j) => {
                const b = want.weights![h]![j]!;
                const allowed = b * (1 - b) * growth;
                sum += allowed;
                expect(Math.abs(a - b), `weight ${j} of head ${h}, token ${i}`).toBeLessThanOrEqual(1e-12 + allowed);
              });
              moved = Math.max(moved, sum);
            });
            step.output.forEach((a, c) => expect(Math.abs(a - want.output[c]!), `output ${i}[${c}]`).toBeLessThanOrEqual((1e-12 + moved) * size));
          });
        }),
        { numRuns: 200 },
      );
    });
  }

  it('stays finite and normalized at magnitude 1e4 (scores ≈ 1e8), where exp(score) alone overflows', () => {
    fc.assert(
      fc.property(float64Cases(1e4), ({ options, xs }) => {
        for (const step of referenceAttention(xs, options)) {
          expect(Array.from(step.output).every(Number.isFinite)).toBe(true);
          for (const w of step.weights!) expect(Math.abs(Array.from(w).reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-12);
        }
      }),
      { numRuns: 100 },
    );
    const [, second] = referenceAttention([[1e4], [-1e4]], { dim: 1, withWeights: true });
    // Token 1 scores −1e8 against token 0 and 1e8 against itself.
    expect(Array.from(second!.weights![0]!)).toEqual([0, 1]);
    expect(Array.from(second!.output)).toEqual([-1e4]);
  });

  it('attends exactly the mask: j ≤ i + lookahead, and i − window < j or j < sinks', () => {
    const steps = referenceAttention(
      Array.from({ length: 7 }, (_, t) => [t / 10]),
      { dim: 1, window: 2, sinks: 1, lookahead: 1, withWeights: true },
    );
    expect(steps.map((s) => Array.from(s.positions!))).toEqual([
      [0, 1],
      [0, 1, 2],
      [0, 1, 2, 3],
      [0, 2, 3, 4],
      [0, 3, 4, 5],
      [0, 4, 5, 6],
      [0, 5, 6],
    ]);
  });

  it('uses the ALiBi slopes of Press et al.: H = 8 gives 1/2 … 1/256, H = 6 gives 1/4, 1/16, 1/64, 1/256, 1/2, 1/8', () => {
    // With zero inputs every dot product is 0, so token 1's score for token 0 is −m_h·1 and for
    // itself 0: head h weighs token 0 by 1/(1 + e^{m_h}), which gives m_h back.
    const slopesOf = (heads: number): number[] => {
      const [, second] = referenceAttention([new Array(heads).fill(0), new Array(heads).fill(0)], { dim: heads, heads, positions: 'alibi', withWeights: true });
      return second!.weights!.map((w) => Math.log(w[1]! / w[0]!));
    };
    const expectSlopes = (actual: number[], expected: number[]) => actual.forEach((m, h) => expect(m).toBeCloseTo(expected[h]!, 12));
    expectSlopes(slopesOf(8), [1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64, 1 / 128, 1 / 256]);
    expectSlopes(slopesOf(6), [1 / 4, 1 / 16, 1 / 64, 1 / 256, 1 / 2, 1 / 8]);
  });

  it('with RoPE by absolute position, scores depend on i − j only: a shifted copy of the sequence attends alike', () => {
    fc.assert(
      fc.property(sequenceArbitrary(4, { minLength: 2, maxLength: 5, magnitude: 1 }), fc.integer({ min: 1, max: 5 }), (xs, shift) => {
        const options: AttentionOptions = { dim: 4, positions: 'rope', precision: 'float64', withWeights: true };
        const plain = referenceAttention(xs, options);
        const padded = referenceAttention([...new Array(shift).fill([0, 0, 0, 0]), ...xs], options);
        plain.forEach((step, i) => {
          // The copy also attends some zero padding (score 0); among its own tokens the weights
          // keep the same ratios, so renormalized they are the same weights.
          const tail = Array.from(padded[shift + i]!.weights![0]!).slice(-(i + 1));
          const sum = tail.reduce((a, b) => a + b, 0);
          expect(scaledDifference(tail.map((w) => w / sum), step.weights![0]!)).toBeLessThan(1e-12);
        });
      }),
      { numRuns: 100 },
    );
  });

  it("with ropePositions 'cache', a query sees its keys as if they were the whole sequence: sinks first, then the window", () => {
    fc.assert(
      fc.property(sequenceArbitrary(2, { minLength: 5, maxLength: 8, magnitude: 1 }), (xs) => {
        const options: AttentionOptions = { dim: 2, positions: 'rope', ropePositions: 'cache', window: 2, sinks: 1, withWeights: true };
        const steps = referenceAttention(xs, options);
        const last = steps.at(-1)!;
        const compacted = Array.from(last.positions!, (j) => xs[j]!);
        // Absolute positions over the attended keys alone are exactly their ranks.
        const alone = referenceAttention(compacted, { dim: 2, positions: 'rope', withWeights: true }).at(-1)!;
        expect(scaledDifference(last.output, alone.output)).toBeLessThan(1e-12);
      }),
      { numRuns: 100 },
    );
  });

  it('returns positions and weights only with withWeights, like batchAttention', () => {
    const [step] = referenceAttention([[1, 2]], { dim: 2 }) as [AttentionStep];
    expect(step).toEqual({ index: 0, output: Float64Array.from([1, 2]) });
  });

  it('refuses bad input as the core does, naming the token', () => {
    const refusal = (xs: unknown[]) => {
      try {
        referenceAttention(xs as number[][], { dim: 2 });
      } catch (error) {
        return error as AttentionError;
      }
      throw new Error('expected a refusal');
    };
    expect(refusal([[1, 2], [1]])).toMatchObject({ code: 'DIMENSION_MISMATCH', details: { token: 1, expected: 2, actual: 1 } });
    expect(refusal([[1, NaN]])).toMatchObject({ code: 'NON_FINITE', details: { token: 0, element: 1 } });
    expect(refusal([[1, 2], null])).toMatchObject({ code: 'INVALID_ARGUMENT', details: { token: 1 } });
    expect(() => referenceAttention([], { dim: 2, heads: 3 })).toThrow(AttentionError);
    // Found by a docs audit: a TypeError (xs.map is not a function); and a hole is a missing token.
    expect(refusal(3 as never)).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'xs' } });
    expect(refusal([[1, 2], , [3, 4]])).toMatchObject({ code: 'INVALID_ARGUMENT', details: { token: 1 } });
    // Found by an errors.md audit: strings, booleans and null were converted (1, 1, 0), and a
    // float32 input past float32's range taken; the engine refuses each, at the same element.
    for (const x of [[1, '1'], [1, true], [1, null], [1, 1e39]]) {
      const engine = (() => {
        try {
          createAttention({ dim: 2 }).push(x as number[]);
        } catch (error) {
          return error as AttentionError;
        }
        throw new Error('the engine took it');
      })();
      expect(refusal([x]), String(x[1])).toMatchObject({ code: engine.code, details: { token: 0, element: 1 } });
    }
    expect(referenceAttention([[1, 1e39]], { dim: 2, precision: 'float64' }).length).toBe(1);
  });
});
