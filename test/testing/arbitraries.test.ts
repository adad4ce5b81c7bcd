import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AttentionError, createAttention, resolveOptions } from '../../src/index.js';
import type { AttentionOptions } from '../../src/index.js';
import { attentionOptionsArbitrary, attentionWeightsArbitrary, sequenceArbitrary, vectorArbitrary } from '../../src/testing/index.js';
import { withFastCheckDefaults } from '../support/fast-check-size.js';

const heads = (o: AttentionOptions) => o.heads ?? 1;
const kvHeads = (o: AttentionOptions) => o.kvHeads ?? heads(o);

describe('vectorArbitrary', () => {
  it('draws dim numbers in [−magnitude, magnitude], multiples of magnitude/steps', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.constantFrom(1, 100, 1e4), fc.integer({ min: 1, max: 20 }), (dim, magnitude, steps) => {
        for (const x of fc.sample(vectorArbitrary(dim, { magnitude, steps }), 20)) {
          expect(x).toHaveLength(dim);
          for (const v of x) {
            expect(Math.abs(v)).toBeLessThanOrEqual(magnitude);
            expect(Math.abs(Math.round((v * steps) / magnitude) - (v * steps) / magnitude)).toBeLessThan(1e-9);
          }
        }
      }),
      { numRuns: 30 },
    );
  });

  it('reaches its magnitude', () => {
    const largest = Math.max(...fc.sample(vectorArbitrary(4, { magnitude: 1e4 }), 200).flat().map(Math.abs));
    expect(largest).toBe(1e4);
  });

  it('refuses a bad dim, magnitude or step count', () => {
    expect(() => vectorArbitrary(0)).toThrow(AttentionError);
    expect(() => vectorArbitrary(2, { magnitude: Infinity })).toThrow(/magnitude/);
    expect(() => vectorArbitrary(2, { steps: 0.5 })).toThrow(/steps/);
  });
});

describe('sequenceArbitrary', () => {
  it('draws minLength to maxLength tokens of dim numbers', () => {
    for (const xs of fc.sample(sequenceArbitrary(3, { minLength: 2, maxLength: 5 }), 200)) {
      expect(xs.length).toBeGreaterThanOrEqual(2);
      expect(xs.length).toBeLessThanOrEqual(5);
      for (const x of xs) expect(x).toHaveLength(3);
    }
  });

  it('by default draws one magnitude per sequence, 1, 100 or 1e4, and often the large ones', () => {
    const sequences = fc.sample(sequenceArbitrary(4, { minLength: 4 }), 1000);
    const largest = sequences.map((xs) => Math.max(...xs.flat().map(Math.abs)));
    for (const m of largest) expect(m <= 1 || (m >= 10 && m <= 100) || (m >= 1000 && m <= 1e4)).toBe(true);
    expect(largest.filter((m) => m > 1000).length).toBeGreaterThan(150);
    expect(largest.filter((m) => m <= 1).length).toBeGreaterThan(400);
  });

  it('refuses maxLength below minLength', () => {
    expect(() => sequenceArbitrary(2, { minLength: 3, maxLength: 2 })).toThrow(/maxLength/);
  });

  it("reaches the maxLength it is given under fast-check's own defaults (which stop at 2·minLength + 10)", () => {
    // Found by a test audit: fast-check 4 drew 12 tokens at most for maxLength 40.
    const lengths = withFastCheckDefaults(() => fc.sample(sequenceArbitrary(2, { minLength: 1, maxLength: 40, magnitude: 1 }), 500).map((xs) => xs.length));
    expect(Math.max(...lengths)).toBeGreaterThan(30);
  });
});

describe('attentionWeightsArbitrary', () => {
  it('draws matrices of the shapes resolveOptions expects, with wo on demand', () => {
    const shape = { dim: 3, heads: 4, kvHeads: 2, headDim: 2 };
    for (const output of [true, false, undefined]) {
      for (const weights of fc.sample(attentionWeightsArbitrary(shape, { output }), 20)) {
        expect(weights.wq).toHaveLength(8 * 3);
        expect(weights.wk).toHaveLength(4 * 3);
        expect(weights.wv).toHaveLength(4 * 3);
        if (output === true) expect(weights.wo).toHaveLength(3 * 8);
        if (output === false) expect(weights.wo).toBeUndefined();
        resolveOptions({ ...shape, weights });
      }
    }
  });

  it('draws plain objects (with Object.prototype, as user code expects), biases or not', () => {
    const shape = { dim: 2, heads: 1, kvHeads: 1, headDim: 2 };
    for (const constraints of [{}, { output: true, biases: true }, { output: false }, { biases: false }]) {
      for (const weights of fc.sample(attentionWeightsArbitrary(shape, constraints), 20)) {
        expect(Object.getPrototypeOf(weights)).toBe(Object.prototype);
        expect(Object.prototype.hasOwnProperty.call(weights, 'wq')).toBe(true);
      }
    }
  });
});

describe('attentionOptionsArbitrary', () => {
  const sample = fc.sample(attentionOptionsArbitrary(), 2000);
  const share = (predicate: (o: AttentionOptions) => boolean) => sample.filter(predicate).length / sample.length;

  it('draws only options the core accepts', () => {
    for (const options of sample) expect(() => resolveOptions(options)).not.toThrow();
  });

  it('writes options minimally: no option is set to its default', () => {
    for (const o of sample) {
      expect(o.heads).not.toBe(1);
      expect(o.kvHeads === undefined || o.kvHeads !== heads(o)).toBe(true);
      expect(o.headDim === undefined || o.dim % heads(o) !== 0 || o.headDim !== o.dim / heads(o)).toBe(true);
      for (const key of ['positions', 'window', 'sinks', 'lookahead', 'ropePositions', 'withWeights'] as const) {
        expect([undefined, 'none', 0, Infinity, 'absolute', false]).not.toContain(o[key] === undefined ? 'unset' : o[key]);
      }
    }
  });

  // The hard cases must come up within the default 100 runs on their own, not by luck.
  it('reaches the hard cases often: true GQA, windows, sinks, look-ahead, tiny blocks', () => {
    expect(share((o) => kvHeads(o) >= 2 && heads(o) / kvHeads(o) >= 2)).toBeGreaterThan(0.25);
    expect(share((o) => kvHeads(o) === 1 && heads(o) > 1)).toBeGreaterThan(0.1);
    expect(share((o) => o.window !== undefined)).toBeGreaterThan(0.4);
    expect(share((o) => o.window === 1)).toBeGreaterThan(0.08);
    expect(share((o) => o.sinks !== undefined)).toBeGreaterThan(0.1);
    expect(share((o) => o.lookahead !== undefined)).toBeGreaterThan(0.25);
    expect(share((o) => o.blockSize !== undefined && o.blockSize <= 3)).toBeGreaterThan(0.4);
  });

  it('mixes every encoding, mode and precision', () => {
    expect(share((o) => o.positions === 'rope' && o.ropePositions === 'cache')).toBeGreaterThan(0.1);
    expect(share((o) => o.positions === 'rope' && o.ropePositions === undefined)).toBeGreaterThan(0.1);
    expect(share((o) => o.positions === 'alibi')).toBeGreaterThan(0.25);
    expect(share((o) => o.weights === undefined)).toBeGreaterThan(0.1);
    expect(share((o) => o.weights?.wo !== undefined)).toBeGreaterThan(0.25);
    expect(share((o) => o.scale !== undefined)).toBeGreaterThan(0.1);
    expect(share((o) => o.precision === 'float32')).toBeGreaterThan(0.4);
    expect(share((o) => o.precision === 'float64')).toBeGreaterThan(0.4);
    expect(share((o) => o.withWeights === true)).toBeGreaterThan(0.4);
  });

  it('draws the softmax variants (scoreCap, sinkLogits one per head) only when asked, then often', () => {
    expect(share((o) => o.scoreCap !== undefined || o.sinkLogits !== undefined)).toBe(0);
    const asked = fc.sample(attentionOptionsArbitrary({ softmaxVariants: true }), 1000);
    for (const o of asked) expect(() => resolveOptions(o)).not.toThrow();
    expect(asked.filter((o) => o.scoreCap !== undefined).length / asked.length).toBeGreaterThan(0.1);
    const sinks = asked.filter((o) => o.sinkLogits !== undefined);
    expect(sinks.length / asked.length).toBeGreaterThan(0.15);
    for (const o of sinks) expect(o.sinkLogits!.length).toBe(heads(o));
    expect(sinks.some((o) => new Set(Array.from(o.sinkLogits!)).size > 1)).toBe(true);
  });

  it('draws 16-bit weights only when asked, then only where valid (float32 with projections) and often there, both formats', () => {
    expect(share((o) => o.weightsDtype !== undefined)).toBe(0);
    const asked = fc.sample(attentionOptionsArbitrary({ halfWeights: true }), 1000);
    for (const o of asked) expect(() => resolveOptions(o)).not.toThrow();
    const eligible = asked.filter((o) => o.precision === 'float32' && o.weights !== undefined);
    for (const dtype of ['bfloat16', 'float16'] as const) {
      const drawn = asked.filter((o) => o.weightsDtype === dtype);
      for (const o of drawn) expect(o).toMatchObject({ precision: 'float32', weights: expect.anything() });
      expect(drawn.length / eligible.length).toBeGreaterThan(0.15);
    }
    expect(asked.some((o) => o.weightsDtype === undefined && o.precision === 'float32' && o.weights !== undefined)).toBe(true);
    // Weights past binary16's 65,504 draw bfloat16 alone (an f16 audit found 71 of 72 float16 draws refused at 1e5).
    const large = fc.sample(attentionOptionsArbitrary({ halfWeights: true, weightMagnitude: 1e5 }), 300);
    for (const o of large) expect(() => resolveOptions(o)).not.toThrow();
    expect(large.some((o) => o.weightsDtype === 'bfloat16')).toBe(true);
    expect(large.some((o) => o.weightsDtype === 'float16')).toBe(false);
  });

  it('with the default 1–8 token sequences, crosses the window boundary and reaches magnitude 1e4', () => {
    const cases = fc.sample(fc.tuple(attentionOptionsArbitrary(), sequenceArbitrary(1)), 2000);
    const crossing = cases.filter(([o, xs]) => o.window !== undefined && xs.length > o.window + (o.sinks ?? 0)).length;
    expect(crossing / cases.length).toBeGreaterThan(0.2);
    expect(cases.filter(([, xs]) => Math.max(...xs.flat().map(Math.abs)) >= 1000).length / cases.length).toBeGreaterThan(0.15);
  });

  it('respects its constraints', () => {
    const narrow = fc.sample(
      attentionOptionsArbitrary({ precision: 'float64', positions: ['alibi'], maxWindow: 0, maxLookahead: 0, projections: false, withWeights: true, blockSizes: [] }),
      300,
    );
    for (const o of narrow) {
      expect(o).toMatchObject({ precision: 'float64', positions: 'alibi', withWeights: true });
      expect(o.window ?? o.lookahead ?? o.weights ?? o.blockSize).toBeUndefined();
    }
    for (const o of fc.sample(attentionOptionsArbitrary({ maxHeads: 6, maxDim: 2, maxHeadDim: 2 }), 300)) {
      expect(heads(o)).toBeLessThanOrEqual(6);
      expect(o.weights === undefined || o.dim <= 2).toBe(true);
      resolveOptions(o);
    }
    // Narrowed to a kernel without GQA and with RoPE by stream index only (a kit audit: neither could be).
    const plain = fc.sample(attentionOptionsArbitrary({ groupedQuery: false, positions: ['rope'], ropePositions: ['absolute'] }), 300);
    expect(plain.every((o) => o.kvHeads === undefined && o.ropePositions === undefined)).toBe(true);
    expect(plain.some((o) => heads(o) > 1 && o.weights !== undefined)).toBe(true);
    const cacheOnly = fc.sample(attentionOptionsArbitrary({ positions: ['rope'], ropePositions: ['cache'] }), 100);
    expect(cacheOnly.every((o) => o.ropePositions === 'cache')).toBe(true);
  });

  it('refuses constraints it cannot meet', () => {
    // Bounds past which drawing hung, ran out of memory or drew options the core refuses (a fuzz audit).
    for (const [constraints, field] of [[{ maxDim: 1e300 }, 'maxDim'], [{ maxHeads: 17 }, 'maxHeads'], [{ maxHeadDim: 33 }, 'maxHeadDim'], [{ blockSizes: [1e300] }, 'blockSizes[0]'], [{ maxWindow: 2 ** 53 }, 'maxWindow']] as const) {
      expect(() => attentionOptionsArbitrary(constraints), field).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: expect.objectContaining({ field }) }));
    }
    expect(() => vectorArbitrary(2, { steps: 1e100 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: expect.objectContaining({ field: 'steps' }) }));
    for (const o of fc.sample(attentionOptionsArbitrary({ maxWindow: 2 ** 31, maxSinks: 2 ** 31, maxLookahead: 2 ** 31, blockSizes: [1024] }), 50)) createAttention(o).dispose();
    expect(() => attentionOptionsArbitrary({ positions: [] })).toThrow(AttentionError);
    expect(() => attentionOptionsArbitrary({ positions: ['rope'], maxHeadDim: 1 })).toThrow(/maxHeadDim/);
    expect(() => attentionOptionsArbitrary({ maxWindow: -1 })).toThrow(/maxWindow/);
  });

  it('refuses a misspelt or mistyped constraint, naming it, rather than drawing something else', () => {
    // Found by a bug hunt: positions: 'rope' drew 'r', 'o', 'p' and 'e'; maxSink: 0 still drew
    // sinks; precision: 'bfloat16' surfaced only as an invalid-case failure hundreds of shrinks later.
    const refused = (make: () => unknown, field: string) =>
      expect(make, field).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: expect.objectContaining({ field }) }));
    refused(() => attentionOptionsArbitrary({ positions: 'rope' } as never), 'positions');
    refused(() => attentionOptionsArbitrary({ positions: ['rotary'] } as never), 'positions[0]');
    refused(() => attentionOptionsArbitrary({ positions: ['rope', undefined] } as never), 'positions[1]');
    refused(() => attentionOptionsArbitrary({ positions: [, 'rope'] } as never), 'positions[0]');
    refused(() => attentionOptionsArbitrary({ precision: 'bfloat16' } as never), 'precision');
    refused(() => attentionOptionsArbitrary({ maxSink: 0 } as never), 'maxSink');
    refused(() => attentionOptionsArbitrary({ withWeights: 'yes' } as never), 'withWeights');
    refused(() => attentionOptionsArbitrary({ blockSizes: 4 } as never), 'blockSizes');
    refused(() => attentionOptionsArbitrary({ ropePositions: ['stream'] } as never), 'ropePositions[0]');
    refused(() => attentionOptionsArbitrary({ ropePositions: [] }), 'ropePositions.length');
    refused(() => attentionOptionsArbitrary({ groupedQuery: 1 } as never), 'groupedQuery');
    refused(() => attentionWeightsArbitrary({ dim: 2, heads: 1, kvHeads: 1, headDim: 2 }, { bias: true } as never), 'bias');
    refused(() => sequenceArbitrary(2, { magnitud: 1 } as never), 'magnitud');
    refused(() => vectorArbitrary(2, null as never), 'parameters');
  });

  it('draws finite numbers at magnitudes near float64\'s largest', () => {
    for (const x of fc.sample(vectorArbitrary(3, { magnitude: 1e308 }), 50)) expect(x.every(Number.isFinite)).toBe(true);
  });
});

describe('constraint bounds, at the bound and one past it (mutation audit)', () => {
  it('takes each largest constraint and refuses one more, naming it', () => {
    const refused = (field: string) => expect.objectContaining({ code: 'INVALID_ARGUMENT', details: expect.objectContaining({ field }) });
    for (const [constraints, field] of [[{ maxDim: 129 }, 'maxDim'], [{ maxHeadDim: 33 }, 'maxHeadDim'], [{ blockSizes: [1025] }, 'blockSizes[0]'], [{ maxWindow: 2 ** 31 + 1 }, 'maxWindow']] as const) {
      expect(() => attentionOptionsArbitrary(constraints), field).toThrow(refused(field));
    }
    expect(() => attentionOptionsArbitrary({ maxDim: 128, maxHeads: 16, maxHeadDim: 32, blockSizes: [1024] })).not.toThrow();
    expect(() => vectorArbitrary(2, { steps: 2 ** 30 + 1 })).toThrow(refused('steps'));
    expect(() => sequenceArbitrary(2, { steps: 2 ** 30 + 1 })).toThrow(refused('steps'));
    expect(() => attentionWeightsArbitrary({ dim: 1, heads: 1, kvHeads: 1, headDim: 1 }, { steps: 2 ** 30 + 1 })).toThrow(refused('steps'));
    for (const x of fc.sample(vectorArbitrary(2, { steps: 2 ** 30 }), 5)) expect(x).toHaveLength(2);
  });

  it('draws binary16 weights at weightMagnitude 65,504, its largest number, and still refuses none', () => {
    const largest = fc.sample(attentionOptionsArbitrary({ halfWeights: true, weightMagnitude: 65504 }), 400);
    expect(largest.some((o) => o.weightsDtype === 'float16')).toBe(true);
    for (const o of largest) expect(() => resolveOptions(o)).not.toThrow();
  });
});
