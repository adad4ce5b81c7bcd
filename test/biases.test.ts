import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AttentionError, batchAttention, createAttention } from '../src/index.js';
import type { AttentionOptions, AttentionStep, AttentionWeights } from '../src/index.js';
import { decodeSafetensors } from '../src/cache/safetensors.js';
import { expectClose } from './support/close.js';
import { caseArbitrary } from './support/engine-arbitraries.js';

const streamed = (options: AttentionOptions, xs: readonly number[][]): AttentionStep[] => {
  const attn = createAttention(options);
  return [...xs.flatMap((x) => attn.push(x)), ...attn.flush()];
};

/** Projected cases that carry at least one of bq, bk and bv. */
const biasedCase = (precision: 'float32' | 'float64') =>
  caseArbitrary({ precision }, 16).filter(({ options: o }) => o.weights !== undefined && (o.weights.bq ?? o.weights.bk ?? o.weights.bv) !== undefined);

/**
 * The same model with each bias moved into its matrix as one more column, read against an input
 * of one more number, always 1: `[W | b]·[x; 1] = W·x + b`. wo gains a zero row (its output one
 * more number, always 0), so the biases meet no code of the engine's own on this side.
 */
function augmented(options: AttentionOptions, xs: readonly number[][]): { options: AttentionOptions; xs: number[][] } {
  const { wq, wk, wv, wo, bq, bk, bv, bo } = options.weights!;
  const dim = options.dim;
  const withColumn = (w: ArrayLike<number>, b: ArrayLike<number> | undefined): number[] => {
    const rows = w.length / dim;
    return Array.from({ length: rows }, (_, r) => [...Array.from(w).slice(r * dim, (r + 1) * dim), b === undefined ? 0 : b[r]!]).flat();
  };
  const weights: AttentionWeights = {
    wq: withColumn(wq!, bq),
    wk: withColumn(wk!, bk),
    wv: withColumn(wv!, bv),
    ...(wo === undefined ? {} : { wo: [...Array.from(wo), ...new Array<number>(wo.length / dim).fill(0)], ...(bo === undefined ? {} : { bo: [...Array.from(bo), 0] }) }),
  };
  return { options: { ...options, dim: dim + 1, weights }, xs: xs.map((x) => [...x, 1]) };
}

describe('projection biases: y = W·x + b', () => {
  it('equal the bias as one more column of W against an input 1 (float64, 1e-12 scaled; every kernel path, position and window)', () => {
    fc.assert(
      fc.property(biasedCase('float64'), ({ options, xs }) => {
        const twin = augmented(options, xs);
        const expected = streamed(twin.options, twin.xs);
        const steps = streamed(options, xs);
        expect(steps.map((s) => s.index)).toEqual(expected.map((s) => s.index));
        steps.forEach((step, n) => {
          const reference = expected[n]!;
          const output = options.weights!.wo === undefined ? reference.output : reference.output.subarray(0, options.dim);
          if (options.weights!.wo !== undefined) expect(reference.output.at(-1)).toBe(0);
          expectClose(step.output, output, 1e-12, `output of token ${step.index}`);
          step.weights!.forEach((w, h) => expectClose(w, reference.weights![h]!, 1e-12, `weights of head ${h}`));
        });
      }),
      { numRuns: 150 },
    );
  });

  it('and in float32 within 1e-5 (scaled) of the same float64 model', () => {
    fc.assert(
      fc.property(biasedCase('float32'), ({ options, xs }) => {
        const twin = augmented({ ...options, precision: 'float64' }, xs);
        const expected = streamed(twin.options, twin.xs);
        streamed(options, xs).forEach((step, n) => {
          const output = expected[n]!.output;
          expectClose(step.output, options.weights!.wo === undefined ? output : output.subarray(0, options.dim), 1e-5, `output of token ${step.index}`);
        });
      }),
      { numRuns: 100 },
    );
  });

  it('bo adds itself to every output, rounded once in the engine precision, on every kernel path', () => {
    fc.assert(
      fc.property(
        caseArbitrary({}, 12).filter(({ options: o }) => o.weights?.wo !== undefined),
        fc.constantFrom<'float32' | 'float64'>('float32', 'float64'),
        fc.integer(),
        ({ options, xs }, precision, seed) => {
          const { bo: _, ...withoutBo } = options.weights!;
          const bo = Array.from({ length: options.dim }, (__, i) => Math.sin(seed + i) * 4);
          const plain = streamed({ ...options, precision, weights: withoutBo }, xs);
          const biased = streamed({ ...options, precision, weights: { ...withoutBo, bo } }, xs);
          const Float = precision === 'float32' ? Float32Array : Float64Array;
          const rounded = Float.from(bo);
          biased.forEach((step, n) => {
            const expected = Float.from(plain[n]!.output);
            for (let i = 0; i < expected.length; i++) expected[i] = expected[i]! + rounded[i]!;
            expect(Array.from(step.output)).toEqual(Array.from(expected));
          });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('pushMany, batchAttention and single pushes agree with biases (pushMany bit for bit)', () => {
    fc.assert(
      fc.property(biasedCase('float32'), ({ options, xs }) => {
        const many = createAttention(options);
        expect([...many.pushMany(xs), ...many.flush()]).toEqual(streamed(options, xs));
        const batch = batchAttention(xs, options);
        streamed(options, xs).forEach((step, n) => expectClose(step.output, batch[n]!.output, 1e-5, `output of token ${step.index}`));
      }),
      { numRuns: 60 },
    );
  });

  it('are saved in snapshots as weights.bq … weights.bo, F32 or F64 vectors of their widths', () => {
    const dim = 4;
    const weights = {
      wq: new Array(8 * dim).fill(0.1),
      wk: new Array(4 * dim).fill(0.2),
      wv: new Array(4 * dim).fill(0.3),
      wo: new Array(dim * 8).fill(0.05),
      bq: [1, 2, 3, 4, 5, 6, 7, 8],
      bk: [-1, -2, -3, -4],
      bv: [0.5, 0.25, 0.125, 1],
      bo: [9, 8, 7, 6],
    };
    const attn = createAttention({ dim, heads: 4, kvHeads: 2, headDim: 2, weights, precision: 'float64' });
    attn.push([1, 2, 3, 4]);
    const { tensors } = decodeSafetensors(attn.snapshot());
    for (const name of ['bq', 'bk', 'bv', 'bo'] as const) {
      const tensor = tensors.get(`weights.${name}`)!;
      expect(tensor.dtype).toBe('F64');
      expect(tensor.shape).toEqual([weights[name].length]);
      expect(Array.from(tensor.data)).toEqual(weights[name]);
    }
  });
});

describe('projection biases against numpy (test/fixtures/biases-numpy.json, scripts/reference/biases.py)', () => {
  interface NumpyCase {
    readonly name: string;
    readonly config: { n: number; dim: number; heads: number; kvHeads: number; headDim: number; positions: 'none' | 'rope'; window: number | null };
    readonly x: number[][];
    readonly weights: AttentionWeights;
    readonly outputs: number[][];
  }
  const { cases } = JSON.parse(readFileSync(new URL('./fixtures/biases-numpy.json', import.meta.url), 'utf8')) as { cases: NumpyCase[] };

  it.each(cases.map((c) => [c.name, c] as const))('%s: float64 within 1e-12, float32 (both kernel paths) within 1e-5, scaled per row', (_, c) => {
    const { window, n: length, ...shape } = c.config;
    expect(c.x).toHaveLength(length);
    const options: AttentionOptions = { ...shape, ...(window === null ? {} : { window }), weights: c.weights };
    const runs: [AttentionOptions, number][] = [
      [{ ...options, precision: 'float64' }, 1e-12],
      [{ ...options, precision: 'float32' }, 1e-5],
      [{ ...options, precision: 'float32', kernels: 'js' }, 1e-5],
    ];
    for (const [o, tolerance] of runs) {
      const many = createAttention(o).pushMany(c.x);
      const batch = batchAttention(c.x, o);
      streamed(o, c.x).forEach((step, i) => {
        expectClose(step.output, c.outputs[i]!, tolerance, `${o.precision} ${o.kernels ?? 'auto'} output ${i}`);
        expectClose(many[i]!.output, c.outputs[i]!, tolerance, `pushMany output ${i}`);
        expectClose(batch[i]!.output, c.outputs[i]!, tolerance, `batch output ${i}`);
      });
    }
  });
});

describe('bad biases are refused with a typed error naming the bias', () => {
  const dim = 4;
  const base = { wq: new Array(dim * dim).fill(0.1), wk: new Array(dim * dim).fill(0.1), wv: new Array(dim * dim).fill(0.1) };
  const refusal = (weights: object): AttentionError => {
    try {
      createAttention({ dim, heads: 2, weights: weights as AttentionWeights });
    } catch (e) {
      expect(e).toBeInstanceOf(AttentionError);
      return e as AttentionError;
    }
    throw new Error('accepted');
  };

  it('a bias of the wrong length: DIMENSION_MISMATCH with the width expected', () => {
    const e = refusal({ ...base, bk: [1, 2, 3] });
    expect(e.code).toBe('DIMENSION_MISMATCH');
    expect(e.message).toBe('weights.bk: expected 4 numbers, got 3');
    expect(e.details).toMatchObject({ field: 'weights.bk', expected: 4, actual: 3 });
  });

  it('a non-finite entry: NON_FINITE naming the element', () => {
    const e = refusal({ ...base, bq: [0, 1, Number.NaN, 3] });
    expect(e.code).toBe('NON_FINITE');
    expect(e.message).toBe('weights.bq: element 2 is NaN');
  });

  it('bo without wo: INVALID_OPTION, since it is the output projection\'s bias', () => {
    const e = refusal({ ...base, bo: [1, 2, 3, 4] });
    expect(e.code).toBe('INVALID_OPTION');
    expect(e.details.field).toBe('weights.bo');
  });

  it('an unknown key: INVALID_OPTION listing the known ones', () => {
    const e = refusal({ ...base, bias: [1, 2, 3, 4] });
    expect(e.code).toBe('INVALID_OPTION');
    expect(e.message).toContain('wq, wk, wv, wo, bq, bk, bv, bo');
  });
});
