import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AttentionError, createAttention } from '../../src/index.js';
import type { AttentionOptions, AttentionStep, Vector } from '../../src/index.js';
import { attentionOptionsArbitrary, checkIncremental } from '../../src/testing/index.js';
import type { IncrementalAttention } from '../../src/testing/index.js';
import { verificationFailure } from './verification-failure.js';

/** createAttention with `change` applied to every step it returns. */
function altered(change: (step: AttentionStep) => AttentionStep) {
  return (options: AttentionOptions): IncrementalAttention => {
    const engine = createAttention(options);
    return { push: (x) => engine.push(x).map(change), flush: () => engine.flush().map(change) };
  };
}

/** Every output element moved by `relative` of its size, as a sloppier kernel would. */
const noisy = (relative: number) => altered((step) => ({ ...step, output: step.output.map((v, r) => v * (1 + (r % 2 === 0 ? relative : -relative))) }));

/** Ignores the scores: every head averages the values it attends (seed mode, so values are the inputs). */
function uniformAverage(options: AttentionOptions): IncrementalAttention {
  const xs: Vector[] = [];
  const average = (i: number): AttentionStep => ({ index: i, output: Float64Array.from({ length: options.dim }, (_, c) => xs.slice(0, i + 1).reduce((a, x) => a + x[c]!, 0) / (i + 1)) });
  return { push: (x) => (xs.push(x), [average(xs.length - 1)]), flush: () => [] };
}

const withWeights = { optionsArbitrary: attentionOptionsArbitrary({ withWeights: true }) };

describe('checkIncremental', () => {
  it('returns normally for a correct engine', () => {
    checkIncremental(createAttention, { numRuns: 50 });
  });

  describe('fails, naming the call and the token, when an implementation', () => {
    it('holds outputs back until flush (emission)', () => {
      const lazy = (options: AttentionOptions): IncrementalAttention => {
        const engine = createAttention(options);
        const held: AttentionStep[] = [];
        return { push: (x) => (held.push(...engine.push(x)), []), flush: () => [...held.splice(0), ...engine.flush()] };
      };
      const { mismatch, counterexample } = verificationFailure(() => checkIncremental(lazy, { numRuns: 50 }));
      expect(mismatch).toMatchObject({ kind: 'emission', call: 'push(x0)' });
      expect(counterexample.options.lookahead).toBeUndefined();
    });

    it('writes into an output array it already returned (mutated)', () => {
      const reusing = (options: AttentionOptions): IncrementalAttention => {
        const engine = createAttention(options);
        const buffer = new Float64Array(1024);
        const reuse = (step: AttentionStep) => {
          const output = buffer.subarray(0, step.output.length);
          output.set(step.output);
          return { ...step, output };
        };
        return { push: (x) => engine.push(x).map(reuse), flush: () => engine.flush().map(reuse) };
      };
      const { mismatch, counterexample } = verificationFailure(() => checkIncremental(reusing, { numRuns: 50 }));
      expect(mismatch).toMatchObject({ kind: 'mutated', token: 0 });
      expect(counterexample.inputs).toHaveLength(2);
    });

    it('throws (threw), with the thrown message', () => {
      const fragile = (options: AttentionOptions): IncrementalAttention => {
        const engine = createAttention(options);
        return {
          push: (x) => {
            if (engine.length === 2) throw new RangeError('cache full');
            return engine.push(x);
          },
          flush: () => engine.flush(),
        };
      };
      const { mismatch } = verificationFailure(() => checkIncremental(fragile, { numRuns: 50 }));
      expect(mismatch).toMatchObject({ kind: 'threw', call: 'push(x2)' });
      expect(mismatch.description).toContain('RangeError: cache full');
    });

    it('reports positions other than the mask’s, even with right outputs (positions)', () => {
      const reversed = altered((step) => ({ ...step, positions: step.positions?.slice().reverse() }));
      const { mismatch } = verificationFailure(() => checkIncremental(reversed, { numRuns: 50, ...withWeights }));
      expect(mismatch).toMatchObject({ kind: 'positions', expected: [0, 1], actual: [1, 0] });
    });

    it('returns weights that do not sum to 1 (weights)', () => {
      const doubled = altered((step) => ({ ...step, weights: step.weights?.map((w) => w.map((v) => 2 * v)) }));
      const { mismatch } = verificationFailure(() => checkIncremental(doubled, { numRuns: 50, ...withWeights }));
      expect(mismatch).toMatchObject({ kind: 'weights', token: 0, head: 0 });
      expect(mismatch.description).toContain('sum to 2');
    });
  });

  describe('tolerance', () => {
    it('float32 options: passes errors of 1e-7 (float32 rounding), catches 1e-3', () => {
      const float32 = { numRuns: 50, optionsArbitrary: attentionOptionsArbitrary({ precision: 'float32' }) };
      checkIncremental(noisy(1e-7), float32);
      expect(verificationFailure(() => checkIncremental(noisy(1e-3), float32)).mismatch.kind).toBe('output');
    });

    it('float64 options: catches errors of 1e-7', () => {
      const float64 = { numRuns: 50, optionsArbitrary: attentionOptionsArbitrary({ precision: 'float64' }) };
      const { mismatch } = verificationFailure(() => checkIncremental(noisy(1e-7), float64));
      expect(mismatch.kind).toBe('output');
      expect(mismatch.error! / mismatch.allowed!).toBeGreaterThan(1);
    });

    it('an explicit tolerance replaces the default', () => {
      checkIncremental(noisy(1e-7), { numRuns: 50, tolerance: 1e-6, optionsArbitrary: attentionOptionsArbitrary({ precision: 'float64' }) });
    });

    it('where float32 cannot resolve scores ≈ 1e8, any weighting of the attended values passes; in float64 it does not', () => {
      // Inputs of exactly 0 or ±1e4: scores are 0 or ±1e8, spaced far below float32's resolution there.
      const huge = { numRuns: 50, sequence: { magnitude: 1e4, steps: 1 } };
      checkIncremental(uniformAverage, { ...huge, optionsArbitrary: fc.constant({ dim: 1, precision: 'float32' as const }) });
      const { mismatch } = verificationFailure(() =>
        checkIncremental(uniformAverage, { ...huge, optionsArbitrary: fc.constant({ dim: 1, precision: 'float64' as const }) }),
      );
      expect(mismatch.kind).toBe('output');
    });

    it('still demands finite outputs there', () => {
      const broken = altered((step) => ({ ...step, output: step.output.map(() => NaN) }));
      const { mismatch } = verificationFailure(() =>
        checkIncremental(broken, { numRuns: 20, sequence: { magnitude: 1e4, steps: 1 }, optionsArbitrary: fc.constant({ dim: 1, precision: 'float32' as const }) }),
      );
      expect(mismatch.kind).toBe('non-finite');
    });
  });

  describe('the error', () => {
    const scaleTwice = (options: AttentionOptions) => createAttention({ ...options, scale: 4 });
    const oneHead = { optionsArbitrary: attentionOptionsArbitrary({ maxHeads: 1, precision: 'float64', projections: false }) };

    it('shows options, inputs, the call, expected vs actual, the error and the seed and path to replay it', () => {
      const error = verificationFailure(() => checkIncremental(scaleTwice, oneHead));
      const lines = error.message.split('\n');
      expect(lines[0]).toBe('checkIncremental: the implementation disagrees with referenceAttention.');
      expect(error.message).toMatch(/ {2}options: \{ dim: \d+, precision: 'float64'.* \}/);
      const tokens = error.counterexample.inputs!.map((x, t) => ` {4}x${t} = \\[${x.join(', ')}\\]`).join('\\n');
      expect(error.message).toMatch(new RegExp(` {2}inputs \\(\\d tokens\\):\\n${tokens}\\n`));
      expect(error.message).toMatch(/push\(x\d\): the output of token \d differs from the expected one by more than allowed\./);
      expect(error.message).toMatch(/ {4}expected: \[.*\]\n {4}actual: {3}\[.*\]\n {4}max error: \d\.\de[-+]\d+ at element \d+ \(allowed there: \d\.\de[-+]\d+\)/);
      expect(lines.at(-1)).toBe(`Replay it: checkIncremental(factory, { ...the same parameters, seed: ${error.seed}, path: '${error.path}' })`);
      expect(error.name).toBe('VerificationError');
    });

    it('replays the same counterexample from its seed and path', () => {
      const first = verificationFailure(() => checkIncremental(scaleTwice, oneHead));
      const again = verificationFailure(() => checkIncremental(scaleTwice, { ...oneHead, seed: first.seed, path: first.path }));
      expect(again.counterexample).toEqual(first.counterexample);
      expect(again.mismatch).toEqual(first.mismatch);
    });
  });

  it('blames the options arbitrary, not the implementation, when the reference refuses a drawn case', () => {
    const { mismatch } = verificationFailure(() => checkIncremental(createAttention, { optionsArbitrary: fc.constant({ dim: 2, heads: 3 }) }));
    expect(mismatch.kind).toBe('invalid-case');
    expect(mismatch.description).toContain('INVALID_OPTION');
  });

  it('refuses bad parameters', () => {
    expect(() => checkIncremental(createAttention, { numRuns: 0 })).toThrow(AttentionError);
    expect(() => checkIncremental(createAttention, { sequence: { maxLength: -1 } })).toThrow(/maxLength/);
  });
});
