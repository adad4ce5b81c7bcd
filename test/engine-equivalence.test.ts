import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { batchAttention, createAttention } from '../src/index.js';
import type { AttentionOptions, AttentionStep } from '../src/index.js';
import { expectClose, sum } from './support/close.js';
import { caseArbitrary, configArbitrary, tokensArbitrary } from './support/engine-arbitraries.js';

/** Pushes `xs` one at a time, then flushes: every step the engine returns, in order. */
function streamed(options: AttentionOptions, xs: readonly number[][]): AttentionStep[] {
  const attn = createAttention(options);
  const steps = xs.flatMap((x) => attn.push(x));
  return [...steps, ...attn.flush()];
}

function expectSameSteps(actual: AttentionStep[], expected: AttentionStep[], tolerance: number): void {
  expect(actual.map((s) => s.index)).toEqual(expected.map((s) => s.index));
  actual.forEach((step, n) => {
    const reference = expected[n]!;
    expectClose(step.output, reference.output, tolerance, `output of token ${step.index}`);
    expect(Array.from(step.positions ?? [])).toEqual(Array.from(reference.positions ?? []));
    step.weights?.forEach((w, h) => expectClose(w, reference.weights![h]!, tolerance, `weights of head ${h} at token ${step.index}`));
  });
}

describe('the incremental engine equals batch attention', () => {
  it('for every option combination, in float64 (1e-12 scaled)', () => {
    fc.assert(
      fc.property(caseArbitrary({ precision: 'float64', wideHeads: true }, 40), ({ options, xs }) => {
        expectSameSteps(streamed(options, xs), batchAttention(xs, options), 1e-12);
      }),
      { numRuns: 300 },
    );
  });

  it('for every option combination, in float32 (against the float32 batch, 1e-5 scaled)', () => {
    fc.assert(
      fc.property(caseArbitrary({ precision: 'float32', wideHeads: true }, 24), ({ options, xs }) => {
        expectSameSteps(streamed(options, xs), batchAttention(xs, options), 1e-5);
      }),
      { numRuns: 150 },
    );
  });

  it('float32 agrees with the float64 reference within 1e-5 (scaled) at moderate magnitudes', () => {
    fc.assert(
      fc.property(caseArbitrary({ precision: 'float32', wideHeads: true }, 24, 2), ({ options, xs }) => {
        const reference = batchAttention(xs, { ...options, precision: 'float64' });
        const actual = streamed(options, xs);
        actual.forEach((step, n) => expectClose(step.output, reference[n]!.output, 1e-5, `output of token ${step.index}`));
      }),
      { numRuns: 150 },
    );
  });

  it('lengths 1 to 64, seed mode and projections, pushed one by one or with pushMany', () => {
    fc.assert(
      fc.property(
        configArbitrary({ longStream: false }).chain((options) => tokensArbitrary(options.dim, 1, 64).map((xs) => ({ options, xs }))),
        ({ options, xs }) => {
          const expected = batchAttention(xs, options);
          const attn = createAttention(options);
          expectSameSteps([...attn.pushMany(xs), ...attn.flush()], expected, 1e-12);
          const single = createAttention(options);
          expectSameSteps([...xs.flatMap((x) => single.push(x)), ...single.flush()], expected, 1e-12);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('pushMany', () => {
  it('equals pushing one by one, bit for bit (projections and wo batched as matrix products)', () => {
    fc.assert(
      fc.property(caseArbitrary({ precision: 'float32', wideHeads: true }, 24), fc.nat(), ({ options, xs }, split) => {
        const one = createAttention(options);
        const many = createAttention(options);
        const cut = split % (xs.length + 1);
        const expected = [...xs.flatMap((x) => one.push(x)), ...one.flush()];
        const actual = [...many.pushMany(xs.slice(0, cut)), ...many.pushMany(xs.slice(cut)), ...many.flush()];
        expect(actual).toEqual(expected);
      }),
      { numRuns: 150 },
    );
  });
});

describe('attention weights', () => {
  it('are non-negative, sum to 1 per head, and cover positions 0..i under the causal mask', () => {
    fc.assert(
      fc.property(caseArbitrary({ longStream: false, sinkLogits: false }, 24, 100), ({ options, xs }) => {
        for (const step of streamed(options, xs)) {
          expect(Array.from(step.positions!)).toEqual(Array.from({ length: step.index + 1 }, (_, j) => j));
          for (const w of step.weights!) {
            expect(w.every((a) => a >= 0)).toBe(true);
            expect(Math.abs(sum(w) - 1)).toBeLessThan(1e-12);
          }
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('seed mode, exactly the note', () => {
  const seedCase = fc.integer({ min: 1, max: 6 }).chain((dim) => tokensArbitrary(dim, 1, 20).map((xs) => ({ dim, xs })));

  it('a_i is unchanged when the earlier tokens are permuted', () => {
    fc.assert(
      fc.property(seedCase, fc.integer(), ({ dim, xs }, shuffleSeed) => {
        const options = { dim, precision: 'float64' } as const;
        const earlier = xs.slice(0, -1);
        const shuffled = [...earlier].sort((a, b) => hash(a, shuffleSeed) - hash(b, shuffleSeed));
        const last = (seq: number[][]) => batchAttention([...seq, xs[xs.length - 1]!], options).at(-1)!.output;
        const a = streamed(options, [...earlier, xs.at(-1)!]).at(-1)!.output;
        expectClose(a, last(shuffled), 1e-12);
      }),
    );
  });

  it('a_i lies coordinate-wise within the min and max of x_0..x_i', () => {
    fc.assert(
      fc.property(seedCase, ({ dim, xs }) => {
        for (const step of streamed({ dim, precision: 'float64' }, xs)) {
          for (let c = 0; c < dim; c++) {
            const column = xs.slice(0, step.index + 1).map((x) => x[c]!);
            const slack = 1e-12 * Math.max(1, ...column.map(Math.abs));
            expect(step.output[c]!).toBeGreaterThanOrEqual(Math.min(...column) - slack);
            expect(step.output[c]!).toBeLessThanOrEqual(Math.max(...column) + slack);
          }
        }
      }),
    );
  });

  it('score(x_i, x_j) = x_i · x_j with no scaling: weights are softmax of the dot products', () => {
    const attn = createAttention({ dim: 2, precision: 'float64', withWeights: true });
    attn.push([1, 0]);
    const [step] = attn.push([2, 1]);
    // scores: (2,1)·(1,0) = 2 and (2,1)·(2,1) = 5, so the weights are e^2 and e^5 over their sum.
    const z = Math.exp(2) + Math.exp(5);
    expectClose(step!.weights![0]!, [Math.exp(2) / z, Math.exp(5) / z], 1e-15);
  });
});

describe('length 1', () => {
  it('the output is v_0 (through wo when given, biases added) with weight exactly 1', () => {
    fc.assert(
      fc.property(caseArbitrary({ sinkLogits: false }, 1), ({ options, xs }) => {
        const [step] = streamed(options, xs);
        for (const w of step!.weights!) expect(Array.from(w)).toEqual([1]);
        const o = createAttention(options).options;
        const x = xs[0]!;
        const v = o.weights === null ? Float64Array.from(x) : times(o.weights.wv!, x, o.kvHeads * o.headDim, o.weights.bv);
        const heads = new Float64Array(o.heads * o.headDim);
        for (let h = 0; h < o.heads; h++) {
          const g = Math.floor(h / o.groupSize);
          for (let c = 0; c < o.headDim; c++) heads[h * o.headDim + c] = v[g * o.headDim + c]!;
        }
        const expected = o.weights?.wo ? times(o.weights.wo, heads, o.dim, o.weights.bo) : heads;
        expectClose(step!.output, expected, 1e-12);
      }),
    );
  });
});

describe('hostile values', () => {
  it('1e4-scale inputs, whose dot products overflow a naive exp, give finite outputs equal to the float64 reference', () => {
    fc.assert(
      fc.property(caseArbitrary({ precision: 'float64' }, 16, 1e4), ({ options, xs }) => {
        const steps = streamed(options, xs);
        for (const step of steps) expect(step.output.every(Number.isFinite)).toBe(true);
        // The engine and the batch reference sum each score in a different order, so a score of size
        // |s| may differ by about (dim + headDim)·ε·|s|; softmax turns a score difference δ into a
        // relative weight change of at most 2δ, and the output moves by that times max |v|.
        const o = createAttention(options).options;
        const norm = (w: ArrayLike<number> | null | undefined) => (w ? Math.sqrt(Array.from(w).reduce((a, b) => a + b * b, 0)) : 1);
        const largestX = Math.max(...xs.map((x) => norm(x)));
        const largestScore = o.scale * norm(o.weights?.wq) * norm(o.weights?.wk) * largestX * largestX;
        const delta = (o.dim + o.headDim) * Number.EPSILON * largestScore;
        const largestValue = norm(o.weights?.wv) * largestX * (o.weights?.wo ? norm(o.weights.wo) : 1);
        const reference = batchAttention(xs, options);
        steps.forEach((step, n) => {
          const expected = reference[n]!;
          for (let c = 0; c < step.output.length; c++) {
            expect(Math.abs(step.output[c]! - expected.output[c]!)).toBeLessThanOrEqual(1e-12 * Math.max(1, largestValue) + 4 * delta * largestValue);
          }
          step.weights!.forEach((w, h) => w.forEach((a, j) => expect(Math.abs(a - expected.weights![h]![j]!)).toBeLessThanOrEqual(1e-12 + 4 * delta)));
        });
      }),
      // A case a fixed 1e-9 tolerance failed by 1e-17: scores near 1e8 in different summation orders.
      { numRuns: 100, examples: [[{"options": {"dim": 20, "heads": 4, "kvHeads": 4, "headDim": 5, "precision": "float64", "withWeights": true, "blockSize": 4, "kernels": "js", "positions": "alibi", "window": 2, "sinks": 2, "retain": 4, "lookahead": 2}, "xs": [[0, 6.672744117778361e-05, 9999.99971940969, 0, -0.06818129108011564, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 9999.999489749127, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]}]] },
    );
  });

  it('in float32 at 1e4 scale, past float32 resolution: finite outputs and normalized weights', () => {
    fc.assert(
      fc.property(caseArbitrary({ precision: 'float32', sinkLogits: false }, 16, 1e4), ({ options, xs }) => {
        for (const step of streamed(options, xs)) {
          expect(step.output.every(Number.isFinite)).toBe(true);
          for (const w of step.weights!) expect(Math.abs(sum(w) - 1)).toBeLessThan(1e-5);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('identical tokens get uniform weights and an output equal to the token', () => {
    fc.assert(
      fc.property(tokensArbitrary(4, 1, 1, 1e4), fc.integer({ min: 1, max: 30 }), ([x], n) => {
        const steps = streamed({ dim: 4, precision: 'float64', withWeights: true }, Array.from({ length: n }, () => x!));
        for (const step of steps) {
          for (const w of step.weights![0]!) expect(w).toBeCloseTo(1 / (step.index + 1), 14);
          expectClose(step.output, x!, 1e-12);
        }
      }),
    );
  });

  it('zero tokens give exactly uniform weights and zero outputs', () => {
    const steps = streamed({ dim: 3, precision: 'float64', withWeights: true }, [[0, 0, 0], [0, 0, 0], [0, 0, 0]]);
    expect(Array.from(steps[2]!.weights![0]!)).toEqual([1 / 3, 1 / 3, 1 / 3]);
    expect(Array.from(steps[2]!.output)).toEqual([0, 0, 0]);
  });
});

describe('outputs belong to the caller', () => {
  it('later pushes never overwrite an output or weights array already returned', () => {
    const attn = createAttention({ dim: 2, withWeights: true });
    const [first] = attn.push([1, 2]);
    const before = [Array.from(first!.output), Array.from(first!.weights![0]!)];
    for (let i = 0; i < 10; i++) attn.push([i, -i]);
    expect([Array.from(first!.output), Array.from(first!.weights![0]!)]).toEqual(before);
  });
});

/** `w·x + b`, w row-major `rows × x.length`. */
function times(w: ArrayLike<number>, x: ArrayLike<number>, rows: number, b: ArrayLike<number> | null = null): Float64Array {
  const cols = x.length;
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) y[r] = y[r]! + w[r * cols + c]! * x[c]!;
    if (b !== null) y[r] = y[r]! + b[r]!;
  }
  return y;
}

function hash(x: number[], seed: number): number {
  return x.reduce((h, v) => Math.imul(h ^ Math.floor(v * 1e6), 2654435761) >>> 0, seed >>> 0);
}
